"""Continuous (dynamic) batching of embedding calls for a local model.

Every shopper's turn embeds its question once; under load those single-text calls would each
take their own forward pass, one after another behind the model's lock, and queue. A
:class:`ContinuousBatcher` coalesces them the way inference servers batch requests (vLLM's and
Triton's dynamic batching, without their waiting window): while one forward pass runs, calls
that arrive are queued; when it ends, everything queued (up to ``max_texts`` texts) is embedded
together in the next pass. A call arriving while the model is idle starts a pass at once, so a
lone query waits for nothing.

Forward passes run one at a time on a single worker thread owned by the batcher, never on the
event loop; callers on any event loop (or several) await a future, and the results of a pass
reach each loop in one wake-up. Each caller gets its own rows.
A call larger than ``max_texts`` (an ingestion batch) is passed alone, as before. A caller that is
cancelled before its pass starts is dropped from it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
EncodeFn = Callable[[list[str]], Vectors]


@dataclass(slots=True)
class _Request:
    texts: list[str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Vectors]


def _deliver(outcomes: list[tuple[asyncio.Future[Vectors], Vectors | BaseException]]) -> None:
    """On the callers' event loop: hand each caller its rows (or the pass's error)."""
    for future, outcome in outcomes:
        if future.done():  # cancelled by its caller meanwhile
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


@dataclass(frozen=True, slots=True)
class BatcherStats:
    """Counters since the batcher was made: ``calls`` coalesced into ``passes`` forward passes
    (``texts`` in all); ``largest_pass`` is the most texts embedded in one pass."""

    calls: int
    passes: int
    texts: int
    largest_pass: int


class ContinuousBatcher:
    """Coalesce concurrent :meth:`embed` calls into shared forward passes of ``encode``.

    Args:
        encode: embeds a list of texts in the calling thread; returns (len(texts), dimension)
            float32 rows, in order. Called by the batcher's worker thread only, one call at a time.
        dimension: the vector length (for empty calls).
        max_texts: the most texts coalesced into one pass (a larger single call still runs, alone).
        name: the worker thread's name.
    """

    def __init__(
        self, encode: EncodeFn, *, dimension: int, max_texts: int = 32, name: str = "samtale-embedder"
    ) -> None:
        if max_texts < 1:
            raise ValueError("max_texts must be at least 1")
        self._encode = encode
        self.dimension = dimension
        self.max_texts = max_texts
        self._pending: deque[_Request] = deque()
        self._lock = threading.Lock()
        self._running = False
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._calls = self._passes = self._texts = self._largest = 0

    @property
    def stats(self) -> BatcherStats:
        """How many calls shared how many passes so far."""
        with self._lock:
            return BatcherStats(calls=self._calls, passes=self._passes, texts=self._texts, largest_pass=self._largest)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` in a shared pass on the worker thread; the event loop stays free.

        Returns:
            Their (len(texts), dimension) rows, in order.

        Raises:
            Whatever ``encode`` raised for the pass this call was part of.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        with self._lock:
            self._pending.append(_Request(texts=list(texts), loop=loop, future=future))
            self._calls += 1
            start = not self._running
            self._running = True
        if start:
            self._executor.submit(self._drain)
        return await future

    def _take(self) -> list[_Request]:
        """The next pass: queued requests, oldest first, while they fit ``max_texts`` (at least one)."""
        taken: list[_Request] = []
        size = 0
        with self._lock:
            while self._pending:
                request = self._pending[0]
                if taken and size + len(request.texts) > self.max_texts:
                    break
                self._pending.popleft()
                if request.future.cancelled():
                    continue  # its caller gave up before the pass began
                taken.append(request)
                size += len(request.texts)
            if not taken:  # the queue is empty: the worker stops, the next submit restarts it
                self._running = False
        return taken

    def _drain(self) -> None:
        """Worker loop: run passes until the queue is empty (then the next submit restarts it)."""
        while True:
            taken = self._take()
            if not taken:
                return
            texts = [text for request in taken for text in request.texts]
            outcomes: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Vectors], Vectors | BaseException]]]
            outcomes = {}
            try:
                vectors = self._encode(texts)
            except BaseException as exc:  # every caller of the pass hears of the failure
                for request in taken:
                    outcomes.setdefault(request.loop, []).append((request.future, exc))
            else:
                with self._lock:
                    self._passes += 1
                    self._texts += len(texts)
                    self._largest = max(self._largest, len(texts))
                row = 0
                for request in taken:
                    count = len(request.texts)
                    rows = np.ascontiguousarray(vectors[row : row + count], dtype=np.float32)
                    outcomes.setdefault(request.loop, []).append((request.future, rows))
                    row += count
            # One wake-up per event loop for the whole pass: each cross-thread wake-up gives up
            # the GIL, and a busy serving loop may keep it for a switch interval (5 ms) each time.
            for loop, delivered in outcomes.items():
                with contextlib.suppress(RuntimeError):  # that loop was closed meanwhile
                    loop.call_soon_threadsafe(_deliver, delivered)

    def close(self) -> None:
        """Stop the worker thread after the queued passes (the batcher cannot be used after)."""
        self._executor.shutdown(wait=True)
