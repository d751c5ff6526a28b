"""One turn at a time per conversation, across every worker: the turn lock.

A turn takes its conversation's lock before it reads the conversation and holds it until the
recorder has *stored* the turn, so the next turn, on whichever worker, reads every earlier turn
from the database and numbers its messages after them (``messages.sequence`` has no gap and
never interleaves). A second turn arriving meanwhile is refused with :class:`TurnInProgressError`
(409 ``turn_in_progress``) while the first is still generating; when the first has finished
streaming and is only being written (``phase="persisting"``, tens of milliseconds), the second
waits for it instead, so a shopper who answers the moment the ``end`` event arrives is not refused.

Two implementations of :class:`TurnLocks`:

* :class:`RedisTurnLocks` (whenever ``SAMTALE_REDIS_URL`` is set, which several workers need
  anyway for the stream hub): ``SET samtale:turn:{session_id} {holder} NX PX ttl``; the phase
  change and the release are compare-and-set Lua scripts on the holder's stream id, so a holder
  whose lease expired never releases its successor's. The TTL frees the conversation of a worker
  that died mid-turn. Chosen over a row lock or a conditional ``UPDATE`` of
  ``conversation_sessions`` because a new conversation has no row until its first turn is
  stored (no database write before the first token, DESIGN section 2) and a second turn may
  arrive before that; and a Redis round trip (~0.1 ms) costs the turn less than a write
  transaction. If Redis refuses connections, the worker falls back to its local locks and says so.
* :class:`LocalTurnLocks`: one process (SQLite, or a single worker), a dictionary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from samtale.errors import ConflictError

logger = logging.getLogger(__name__)

TurnPhase = Literal["generating", "persisting"]
DEFAULT_TTL_S = 300.0
"""The lease of a turn lock (seconds): longer than any turn (LLM timeouts and retries included)."""


class TurnInProgressError(ConflictError):
    """Another turn of this conversation is still being answered (HTTP 409).

    The caller sends the message again after that turn's ``end`` event.
    """

    code = "turn_in_progress"


@dataclass(frozen=True, slots=True)
class TurnHolder:
    """Who holds a conversation's turn lock: the turn's stream, and what authorises a caller to
    learn that the conversation is busy before its first turn is stored (the session token's
    SHA-256, the chatbot and the shopper's user id)."""

    stream_id: str
    chatbot_id: str
    user_id: str
    token_hash: str
    phase: TurnPhase = "generating"

    def encode(self) -> str:
        """The holder as the lock's JSON value."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, value: str | bytes) -> TurnHolder:
        """The holder stored by :meth:`encode`."""
        return cls(**json.loads(value))


class TurnLocks(Protocol):
    """Per-conversation turn locks (see the module doc)."""

    async def acquire(self, *, session_id: str, holder: TurnHolder) -> TurnHolder | None:
        """Take the lock for ``holder``; returns None when taken, else the current holder."""
        ...

    async def update(self, *, session_id: str, holder: TurnHolder) -> None:
        """Replace the holder's value (same ``stream_id``: a new phase or token hash), keeping the lease."""
        ...

    async def release(self, *, session_id: str, holder: TurnHolder) -> None:
        """Release the lock if ``holder`` (by stream id) still holds it."""
        ...

    async def aclose(self) -> None:
        """Close connections."""
        ...


class LocalTurnLocks:
    """Turn locks of one process. ``ttl_s`` frees a lock whose turn never released it."""

    def __init__(self, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._held: dict[str, tuple[TurnHolder, float]] = {}

    async def acquire(self, *, session_id: str, holder: TurnHolder) -> TurnHolder | None:
        """See :meth:`TurnLocks.acquire`."""
        now = time.monotonic()
        current = self._held.get(session_id)
        if current is not None and current[1] > now:
            return current[0]
        self._held[session_id] = (holder, now + self.ttl_s)
        return None

    async def update(self, *, session_id: str, holder: TurnHolder) -> None:
        """See :meth:`TurnLocks.update`."""
        current = self._held.get(session_id)
        if current is not None and current[0].stream_id == holder.stream_id:
            self._held[session_id] = (holder, current[1])

    async def release(self, *, session_id: str, holder: TurnHolder) -> None:
        """See :meth:`TurnLocks.release`."""
        current = self._held.get(session_id)
        if current is not None and current[0].stream_id == holder.stream_id:
            del self._held[session_id]

    async def aclose(self) -> None:
        """Nothing to close."""


_SET_IF_HOLDER = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['stream_id'] == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
end
return nil
"""
_DELETE_IF_HOLDER = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current)['stream_id'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTurnLocks:
    """Turn locks in Redis, shared by every worker (see the module doc).

    Args:
        url: Redis URL.
        ttl_s: the lease, seconds.
        prefix: key prefix (``samtale:turn:``).
        timeout_s: how long to wait for Redis's answer.
    """

    def __init__(
        self, *, url: str, ttl_s: float = DEFAULT_TTL_S, prefix: str = "samtale:turn:", timeout_s: float = 2.0
    ) -> None:
        self.ttl_ms = int(ttl_s * 1000)
        self.prefix = prefix
        self._redis: Redis = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._local = LocalTurnLocks(ttl_s=ttl_s)
        self._set_if_holder = self._redis.register_script(_SET_IF_HOLDER)
        self._delete_if_holder = self._redis.register_script(_DELETE_IF_HOLDER)

    async def acquire(self, *, session_id: str, holder: TurnHolder) -> TurnHolder | None:
        """See :meth:`TurnLocks.acquire`. Falls back to this worker's locks while Redis refuses connections."""
        key = self.prefix + session_id
        try:
            if await self._redis.set(key, holder.encode(), nx=True, px=self.ttl_ms):
                return None
            current = await self._redis.get(key)
        except RedisConnectionError:
            logger.warning("Redis refuses connections: the turn lock of this conversation is this worker's only")
            return await self._local.acquire(session_id=session_id, holder=holder)
        if current is None:  # released between SET and GET: try once more
            return await self.acquire(session_id=session_id, holder=holder)
        return TurnHolder.decode(current)

    async def update(self, *, session_id: str, holder: TurnHolder) -> None:
        """See :meth:`TurnLocks.update`."""
        try:
            await self._set_if_holder(keys=[self.prefix + session_id], args=[holder.stream_id, holder.encode()])
        except RedisConnectionError:
            await self._local.update(session_id=session_id, holder=holder)

    async def release(self, *, session_id: str, holder: TurnHolder) -> None:
        """See :meth:`TurnLocks.release`."""
        await self._local.release(session_id=session_id, holder=holder)
        try:
            await self._delete_if_holder(keys=[self.prefix + session_id], args=[holder.stream_id])
        except RedisConnectionError:
            logger.warning("Redis refuses connections: a turn lock is left to expire")

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._redis.aclose()


async def acquire_turn(
    locks: TurnLocks, *, session_id: str, holder: TurnHolder, persist_wait_s: float = 5.0
) -> TurnHolder | None:
    """Take ``session_id``'s lock for ``holder``, waiting while the holder is only storing its turn.

    Returns:
        None once taken; the holder that is still *generating* otherwise (the caller refuses the
        turn with :class:`TurnInProgressError` after checking the caller may know it).
        After ``persist_wait_s`` seconds of a holder stuck in ``persisting`` (its recorder
        failed to answer), that holder is returned too.
    """
    deadline = time.monotonic() + persist_wait_s
    delay = 0.005
    while True:
        current = await locks.acquire(session_id=session_id, holder=holder)
        if current is None or current.phase == "generating" or time.monotonic() >= deadline:
            return current
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
