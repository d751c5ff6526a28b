"""What every embedder shares: the :class:`Embedder` protocol, its error, the local model's constants
and :func:`normalise`. The implementations are in :mod:`samtale.knowledge.local_embedders` (torch and
ONNX Runtime) and :mod:`samtale.knowledge.embedders` (the OpenAI-compatible one and the factories)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from samtale.errors import ErrorCategory, ServiceError

Vectors = npt.NDArray[np.float32]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_MODEL_DIMENSION = 384
#: Word pieces read per text: the packaged model's ``max_seq_length`` (sentence_bert_config.json).
#: Chunks are cut at ~1,000 characters (≈ 256 word pieces of English), so little is truncated.
LOCAL_MODEL_MAX_SEQ_LENGTH = 256
#: ONNX operator set of the export (supported by every onnxruntime >= 1.14).
ONNX_OPSET = 17
#: The least cosine similarity between ONNX and torch vectors accepted at export.
ONNX_MIN_COSINE = 0.9999
#: Texts coalesced into one forward pass at most by default (see :class:`LocalModelEmbedder`).
DEFAULT_QUERY_BATCH_MAX = 32
EmbeddingRuntime = Literal["auto", "onnx", "torch"]


class EmbeddingError(ServiceError):
    """The embedding model could not be loaded or the embedding service failed."""

    code = "embedding_error"
    category = ErrorCategory.VECTOR_STORE


class Embedder(Protocol):
    """Anything that embeds texts. ``name`` and ``dimension`` are recorded with every index."""

    name: str
    dimension: int

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``; returns an array of shape (len(texts), dimension), rows L2-normalised."""
        ...

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking version of :meth:`embed`, for CLI batch work outside an event loop."""
        ...


def normalise(vectors: Vectors) -> Vectors:
    """Scale each row to unit L2 length (rows of zeros stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
