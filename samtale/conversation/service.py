"""The conversation service: accepts a shopper's message, starts its turn, serves its events.

:meth:`ConversationService.start_turn` loads the cached config, checks the session, creates the
stream and waits for the turn task's routing decision (query embedding in a thread, the likely
flow's retrieval already started), so the response names the flow; the rest is the turn task's.

Continuing a conversation (issue 13): the turn takes the conversation's turn lock
(:mod:`samtale.conversation.turn_lock`; 409 ``turn_in_progress`` while another turn generates),
reads the stored row with one primary-key query, authorises the caller against it (session
token or verified ``user_hash``, :mod:`samtale.conversation.access`) and takes its history from
the per-process cache only when the cached version and stamp equal the row's ``message_count``
and ``updated_at`` (:mod:`samtale.conversation.sessions`; an edited message changes the
stamp). The lock is released once the recorder has stored the turn, so the next turn, on any
worker, reads it. A new conversation costs no database query before its first token; once stored,
its title may be summarised (:mod:`samtale.conversation.llm_titles`). A photo: :mod:`~.steps.image`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

from samtale.chatbots.schema import ChatbotConfig
from samtale.conversation.access import (
    ConversationNotFoundError,
    Credentials,
    authorise_continuation,
    token_matches,
    verify_user_hash,
)
from samtale.conversation.events import EventName
from samtale.conversation.llm_titles import TitleSummariser
from samtale.conversation.pipeline import run_turn
from samtale.conversation.recorder import TurnRecord, TurnRecorder
from samtale.conversation.search.memories import memory_recaller
from samtale.conversation.sessions import HISTORY_TURNS, SessionReader, SessionSnapshot
from samtale.conversation.shoppers import OrderAttemptStore
from samtale.conversation.stored_streams import StoredStream, load_stored_stream
from samtale.conversation.turn import (
    ProviderFactory,
    RouterFactory,
    TrackerFactory,
    TurnDependencies,
    TurnHandle,
    TurnImage,
    TurnInput,
)
from samtale.conversation.turn_lock import (
    DEFAULT_TTL_S,
    LocalTurnLocks,
    TurnHolder,
    TurnInProgressError,
    TurnLocks,
    acquire_turn,
)
from samtale.errors import InputError, PayloadTooLargeError
from samtale.images.describe import ImageDescriber
from samtale.knowledge.retrieval import Retriever
from samtale.security.rate_limits import RateLimiter
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.streaming.hub import Stream, StreamHub, StreamView, hash_token, new_session_token

__all__ = ["HISTORY_TURNS", "ConversationNotFoundError", "ConversationService", "StoredStream", "TurnHandle"]

IdentitySecretLoader = Callable[[str], Awaitable[str | None]]
"""A chatbot's identity secret by chatbot id (None when it has none)."""


class ConversationService:
    """Starts turns and keeps their tasks alive until they finish.

    Args:
        db: the database.
        hub: the stream hub.
        recorder: the background turn writer.
        load_chatbot: returns a chatbot's config (cached) or raises ``ChatbotNotFoundError``.
        provider_factory: picks the LLM provider of a chatbot's flow.
        retriever: knowledge retrieval, or None for a deployment without knowledge bases.
        router: returns a chatbot's router (None for ``main`` only); None sends everything to ``main``.
        tracker_factory: the order tracker of an ``apiflow`` flow's integration.
        max_message_chars: longer messages are refused with 413 (default 8,000).
        llm_retries: retries before the first token (seed 002: 2).
        locks: the conversations' turn locks (Redis with several workers); default this process's own.
        identity_secret: a chatbot's identity secret for verifying ``user_hash``; None: no
            chatbot verifies identities.
        persist_wait_s: how long a turn waits for the previous turn of its conversation to be
            stored once its answer has ended.
        lock_ttl_s: the longest a turn waits for its own turn to be stored before releasing
            its lock anyway (the lock's lease).
        rate_limiter: counts failed order look-ups per client address; None: per shopper only.
        images: describes messages' images (``samtale.images.describe``); None describes none.
    """

    def __init__(
        self,
        *,
        db: Database,
        hub: StreamHub,
        recorder: TurnRecorder,
        load_chatbot: Callable[[str], Awaitable[ChatbotConfig]],
        provider_factory: ProviderFactory,
        retriever: Retriever | None = None,
        router: RouterFactory | None = None,
        tracker_factory: TrackerFactory | None = None,
        max_message_chars: int = 8000,
        llm_retries: int = 2,
        locks: TurnLocks | None = None,
        identity_secret: IdentitySecretLoader | None = None,
        persist_wait_s: float = 5.0,
        lock_ttl_s: float = DEFAULT_TTL_S,
        rate_limiter: RateLimiter | None = None,
        images: ImageDescriber | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.recorder = recorder
        self.load_chatbot = load_chatbot
        self.max_message_chars = max_message_chars
        self.locks: TurnLocks = locks or LocalTurnLocks(ttl_s=lock_ttl_s)
        self.sessions = SessionReader(db=db)
        self.persist_wait_s = persist_wait_s
        self.lock_ttl_s = lock_ttl_s
        self._identity_secret = identity_secret
        self._deps = TurnDependencies(
            provider_factory=provider_factory,
            submit=self._submit,
            retriever=retriever,
            router_factory=router,
            tracker_factory=tracker_factory,
            llm_retries=llm_retries,
            order_attempts=OrderAttemptStore(db=db),
            memories=memory_recaller(db=db),
            rate_limiter=rate_limiter,
            images=images,
        )
        self._first_turn_deps = dataclasses.replace(self._deps, submit=self._submit_new_session)
        self.titles = TitleSummariser(db=db, provider_factory=provider_factory)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running_turns(self) -> int:
        """Turns still generating in this process."""
        return len(self._tasks)

    async def start_turn(
        self,
        *,
        chatbot_id: str,
        user_id: str,
        message: str,
        session_id: str | None = None,
        credentials: Credentials | None = None,
        client_history: list[tuple[str, str]] | None = None,
        received_at: float | None = None,
        image: TurnImage | None = None,
    ) -> TurnHandle:
        """Accept a message, route it, and start answering it in the background.

        Returns once the flow is decided (the handle's ``flow_type``); the answer keeps
        streaming in the turn task.

        Args:
            chatbot_id: the tenant.
            user_id: the shopper's id as the widget knows it.
            message: the shopper's text (1 to ``max_message_chars`` characters).
            session_id: continue this conversation; None starts a new one. An id the store does
                not hold starts a new conversation under that id.
            credentials: the session token and/or ``user_hash`` the caller presented; continuing
                a stored conversation needs one of them to fit (:mod:`samtale.conversation.access`).
            client_history: history sent by the widget (seed field ``conversation_history``);
                used instead of the stored history when given.
            received_at: ``time.perf_counter()`` when the request arrived (for TTFT).
            image: the message's stored photo (``message`` may then be empty).

        Raises:
            InputError: empty message. PayloadTooLargeError: message too long.
            ChatbotNotFoundError: unknown chatbot. InvalidUserHashError: a ``user_hash`` that
            does not verify. SessionTokenRequiredError: a stored conversation continued without
            credentials. ConversationNotFoundError: the conversation is another chatbot's or
            user's, deleted, or the credentials do not fit it. TurnInProgressError: another turn
            of the conversation is still generating.
        """
        received = time.perf_counter() if received_at is None else received_at
        text = message.strip()
        if not text and image is None:
            raise InputError("message_text must not be empty", details={"field": "message_text"})
        if len(message) > self.max_message_chars:
            raise PayloadTooLargeError(
                f"message_text is {len(message)} characters; the limit is {self.max_message_chars}",
                details={"field": "message_text", "limit": self.max_message_chars},
            )
        if session_id is not None and len(session_id) > 64:
            raise InputError("session_id is longer than 64 characters", details={"field": "session_id"})
        chatbot = await self.load_chatbot(chatbot_id)
        config_ms = (time.perf_counter() - received) * 1000.0
        credentials = credentials or Credentials()
        verified = False
        if credentials.user_hash:
            secret = await self._identity_secret(chatbot_id) if self._identity_secret is not None else None
            verified = verify_user_hash(identity_secret=secret, user_id=user_id, user_hash=credentials.user_hash)
        stream_id = new_id()
        if session_id is None:
            conversation_id, token = new_id(), new_session_token()
            holder = TurnHolder(stream_id, chatbot_id, user_id, hash_token(token))
            await self.locks.acquire(session_id=conversation_id, holder=holder)  # a new id: always free
            snapshot = SessionSnapshot(chatbot_id=chatbot_id, user_id=user_id)
        else:
            conversation_id = session_id
            snapshot, holder, token = await self._continue(
                session_id=session_id,
                stream_id=stream_id,
                chatbot_id=chatbot_id,
                user_id=user_id,
                credentials=credentials,
                verified=verified,
            )
        try:
            history = client_history if client_history else snapshot.history
            stream = self.hub.create(
                stream_id=stream_id,
                chatbot_id=chatbot_id,
                conversation_session_id=conversation_id,
                token_hash=holder.token_hash,
            )
            stream.emit(
                EventName.START,
                {"session_id": conversation_id, "streaming_session_id": stream.id, "chatbot_id": chatbot_id},
            )
            turn = TurnInput(
                chatbot=chatbot,
                user_id=user_id,
                session_id=conversation_id,
                question=text,
                history=history[-2 * HISTORY_TURNS :],
                state=snapshot.state,
                received_at=received,
                config_ms=config_ms,
                started_at=utcnow(),
                token_hash=holder.token_hash,
                verified=verified,
                client_address=credentials.client_address,
                image=image,
            )
            routed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(
                self._run(turn, stream, snapshot, routed, holder, new_session=session_id is None),
                name=f"turn-{stream.id}",
            )
        except BaseException:
            await self.locks.release(session_id=conversation_id, holder=holder)
            raise
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # The turn task decides the flow first; wait for that (not for the answer). A caller
        # that goes away meanwhile cancels only this wait, never the turn.
        await asyncio.wait((routed, task), return_when=asyncio.FIRST_COMPLETED)
        flow_type = routed.result() if routed.done() and not routed.cancelled() else stream.flow_type
        return TurnHandle(session_id=conversation_id, stream=stream, session_token=token, flow_type=flow_type)

    async def _continue(
        self,
        *,
        session_id: str,
        stream_id: str,
        chatbot_id: str,
        user_id: str,
        credentials: Credentials,
        verified: bool,
    ) -> tuple[SessionSnapshot, TurnHolder, str]:
        """Lock, read and authorise a conversation the caller names; returns its snapshot, the
        lock's holder and the token of the turn's stream.

        Raises:
            SessionTokenRequiredError, ConversationNotFoundError, TurnInProgressError: see
            :meth:`start_turn`.
        """
        token = credentials.session_token or new_session_token()
        holder = TurnHolder(stream_id, chatbot_id, user_id, hash_token(token))
        current = await acquire_turn(
            self.locks, session_id=session_id, holder=holder, persist_wait_s=self.persist_wait_s
        )
        if current is not None:
            # Busy. Say so only to a caller who may continue the conversation.
            row = await self.sessions.read(session_id)
            authorise_continuation(
                session_id=session_id,
                credentials=credentials,
                verified=verified,
                chatbot_id=chatbot_id,
                user_id=user_id,
                owner_chatbot_id=row.chatbot_id if row is not None else current.chatbot_id,
                owner_user_id=row.user_id if row is not None else current.user_id,
                token_hash=row.token_hash if row is not None else current.token_hash,
            )
            raise TurnInProgressError(
                "another message of this conversation is still being answered; send this one after its end event",
                details={"session_id": session_id, "streaming_session_id": current.stream_id},
            )
        try:
            row = await self.sessions.read(session_id)
            if row is None:  # not stored: a new conversation under the caller's id, with a new token
                token = new_session_token()
                holder = dataclasses.replace(holder, token_hash=hash_token(token))
                await self.locks.update(session_id=session_id, holder=holder)
                return SessionSnapshot(chatbot_id=chatbot_id, user_id=user_id), holder, token
            authorise_continuation(
                session_id=session_id,
                credentials=credentials,
                verified=verified,
                chatbot_id=chatbot_id,
                user_id=user_id,
                owner_chatbot_id=row.chatbot_id,
                owner_user_id=row.user_id,
                token_hash=row.token_hash,
            )
            if row.deleted_at is not None:
                raise ConversationNotFoundError(f"unknown conversation session {session_id}")
            if not token_matches(token=credentials.session_token, token_hash=row.token_hash):
                # Authorised by the verified identity: the presented token (if any) is not this
                # conversation's, so the stream gets a token of its own.
                token = new_session_token()
                holder = dataclasses.replace(holder, token_hash=hash_token(token))
            return await self.sessions.snapshot(row), holder, token
        except BaseException:
            await self.locks.release(session_id=session_id, holder=holder)
            raise

    async def _run(
        self,
        turn: TurnInput,
        stream: Stream,
        snapshot: SessionSnapshot,
        routed: asyncio.Future[str],
        holder: TurnHolder,
        *,
        new_session: bool,
    ) -> None:
        try:
            result = await run_turn(
                turn=turn, stream=stream, deps=self._first_turn_deps if new_session else self._deps, routed=routed
            )
            await self.locks.update(session_id=turn.session_id, holder=dataclasses.replace(holder, phase="persisting"))
            if result.record is not None and await self._stored(result.record):
                if new_session:
                    self.titles.schedule(chatbot=turn.chatbot, session_id=turn.session_id, question=turn.question)
                snapshot.history.extend([("user", turn.question), ("assistant", result.answer)])
                snapshot.state = result.state
                snapshot.version += 2
                snapshot.stamp = result.record.completed_at  # the updated_at the recorder wrote
                self.sessions.remember(turn.session_id, snapshot)
            else:
                self.sessions.forget(turn.session_id)
        finally:
            await self.locks.release(session_id=turn.session_id, holder=holder)

    async def _stored(self, record: TurnRecord) -> bool:
        """Wait until the recorder has committed ``record`` (True) or failed to (False)."""
        try:
            return record.written is not None and await asyncio.wait_for(
                asyncio.shield(record.written), timeout=self.lock_ttl_s
            )
        except TimeoutError:
            return False

    def _submit(self, record: TurnRecord) -> None:
        """Hand a turn to the recorder with a future the turn task waits on before releasing its lock."""
        record.written = asyncio.get_running_loop().create_future()
        self.recorder.submit(record)

    def _submit_new_session(self, record: TurnRecord) -> None:
        """Hand the first turn of a new conversation to the recorder (it inserts the session unlooked-up)."""
        record.new_session = True
        self._submit(record)

    def stop(self, *, stream: StreamView) -> None:
        """Ask a running turn to stop (``POST /api/stream/{id}/stop``): an ``error`` event ends it."""
        if not stream.done:
            stream.stop_requested = True

    async def load_stored_stream(self, *, stream_id: str) -> StoredStream:
        """A finished stream and its events from the database; StreamNotFoundError when none was stored."""
        return await load_stored_stream(db=self.db, stream_id=stream_id)

    async def drain(self) -> None:
        """Wait for every running turn, the recorder, then the title summaries (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.recorder.flush()
        await self.titles.drain()
