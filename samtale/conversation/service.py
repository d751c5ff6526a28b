"""The conversation service: accepts a shopper's message, starts its turn, serves its events.

:meth:`ConversationService.start_turn` does only what must happen before the caller gets the
ids (load the cached chatbot config, check the conversation session, create the stream, and
route the message, so the response names the decided flow) and leaves everything else to the
turn task. Routing runs inside the turn task (the query embedding in a worker thread, the
likely flow's retrieval already started); ``start_turn`` only waits for the decision. Recent
conversation history and flow state are kept in a per-process LRU so a follow-up message does
not wait on the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from sqlalchemy import select

from samtale.chatbots.schema import ChatbotConfig
from samtale.conversation.events import EventName
from samtale.conversation.pipeline import run_turn
from samtale.conversation.recorder import TurnRecord, TurnRecorder
from samtale.conversation.turn import (
    ProviderFactory,
    RouterFactory,
    TrackerFactory,
    TurnDependencies,
    TurnInput,
)
from samtale.errors import InputError, NotFoundError, PayloadTooLargeError
from samtale.knowledge.retrieval import Retriever
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.storage.models import ConversationSession, Message, StreamingEvent, StreamingSession
from samtale.streaming.hub import (
    Stream,
    StreamEvent,
    StreamHub,
    StreamNotFoundError,
    StreamView,
    hash_token,
    new_session_token,
)

HISTORY_TURNS = 10


class ConversationNotFoundError(NotFoundError):
    """The conversation session does not exist for this chatbot and user."""

    code = "session_not_found"


@dataclass(slots=True)
class SessionSnapshot:
    """What a turn needs of its conversation: owner, recent history (role, content) and flow state."""

    chatbot_id: str
    user_id: str
    history: list[tuple[str, str]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TurnHandle:
    """What the caller of :meth:`ConversationService.start_turn` gets back."""

    session_id: str
    stream: Stream
    session_token: str
    flow_type: str


@dataclass(slots=True)
class StoredStream:
    """A finished stream read back from the database (after it left the hub)."""

    id: str
    chatbot_id: str
    token_hash: str
    status: str
    events: list[StreamEvent]


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
    ) -> None:
        self.db = db
        self.hub = hub
        self.recorder = recorder
        self.load_chatbot = load_chatbot
        self.max_message_chars = max_message_chars
        self._deps = TurnDependencies(
            provider_factory=provider_factory,
            submit=recorder.submit,
            retriever=retriever,
            router_factory=router,
            tracker_factory=tracker_factory,
            llm_retries=llm_retries,
        )
        self._first_turn_deps = dataclasses.replace(self._deps, submit=self._submit_new_session)
        self._sessions: LRUCache[str, SessionSnapshot] = LRUCache(maxsize=20_000)
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
        client_history: list[tuple[str, str]] | None = None,
        received_at: float | None = None,
    ) -> TurnHandle:
        """Accept a message, route it, and start answering it in the background.

        Returns once the flow is decided (the handle's ``flow_type``); the answer keeps
        streaming in the turn task.

        Args:
            chatbot_id: the tenant.
            user_id: the shopper's id as the widget knows it.
            message: the shopper's text (1 to ``max_message_chars`` characters).
            session_id: continue this conversation; None starts a new one.
            client_history: history sent by the widget (seed field ``conversation_history``);
                used instead of the stored history when given.
            received_at: ``time.perf_counter()`` when the request arrived (for TTFT).

        Raises:
            InputError: empty message. PayloadTooLargeError: message too long.
            ChatbotNotFoundError: unknown chatbot. ConversationNotFoundError: the session
            belongs to another chatbot or user.
        """
        received = time.perf_counter() if received_at is None else received_at
        text = message.strip()
        if not text:
            raise InputError("message_text must not be empty", details={"field": "message_text"})
        if len(message) > self.max_message_chars:
            raise PayloadTooLargeError(
                f"message_text is {len(message)} characters; the limit is {self.max_message_chars}",
                details={"field": "message_text", "limit": self.max_message_chars},
            )
        chatbot = await self.load_chatbot(chatbot_id)
        config_ms = (time.perf_counter() - received) * 1000.0
        snapshot = await self._snapshot(chatbot_id=chatbot_id, user_id=user_id, session_id=session_id)
        conversation_id = session_id or new_id()
        history = client_history if client_history else snapshot.history
        token = new_session_token()
        token_hash = hash_token(token)
        stream = self.hub.create(
            stream_id=new_id(), chatbot_id=chatbot_id, conversation_session_id=conversation_id, token_hash=token_hash
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
            token_hash=token_hash,
        )
        routed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            self._run(turn, stream, snapshot, routed, new_session=session_id is None), name=f"turn-{stream.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # The turn task decides the flow first; wait for that (not for the answer). A caller
        # that goes away meanwhile cancels only this wait, never the turn.
        await asyncio.wait((routed, task), return_when=asyncio.FIRST_COMPLETED)
        flow_type = routed.result() if routed.done() and not routed.cancelled() else stream.flow_type
        return TurnHandle(session_id=conversation_id, stream=stream, session_token=token, flow_type=flow_type)

    async def _run(
        self,
        turn: TurnInput,
        stream: Stream,
        snapshot: SessionSnapshot,
        routed: asyncio.Future[str],
        *,
        new_session: bool,
    ) -> None:
        result = await run_turn(
            turn=turn, stream=stream, deps=self._first_turn_deps if new_session else self._deps, routed=routed
        )
        snapshot.history.extend([("user", turn.question), ("assistant", result.answer)])
        del snapshot.history[: -2 * HISTORY_TURNS]
        snapshot.state = result.state
        self._sessions[turn.session_id] = snapshot

    def _submit_new_session(self, record: TurnRecord) -> None:
        """Hand the first turn of a new conversation to the recorder (it inserts the session unlooked-up)."""
        record.new_session = True
        self.recorder.submit(record)

    async def _snapshot(self, *, chatbot_id: str, user_id: str, session_id: str | None) -> SessionSnapshot:
        if session_id is None:
            return SessionSnapshot(chatbot_id=chatbot_id, user_id=user_id)
        if len(session_id) > 64:
            raise InputError("session_id is longer than 64 characters", details={"field": "session_id"})
        cached = self._sessions.get(session_id)
        if cached is None:
            cached = await self._load_snapshot(session_id)
        if cached is None:
            return SessionSnapshot(chatbot_id=chatbot_id, user_id=user_id)
        if cached.chatbot_id != chatbot_id or cached.user_id != user_id:
            raise ConversationNotFoundError(f"unknown conversation session {session_id}")
        return SessionSnapshot(
            chatbot_id=cached.chatbot_id, user_id=cached.user_id, history=list(cached.history), state=dict(cached.state)
        )

    async def _load_snapshot(self, session_id: str) -> SessionSnapshot | None:
        async with self.db.session() as session:
            row = await session.get(ConversationSession, session_id)
            if row is None:
                return None
            messages = (
                await session.execute(
                    select(Message.role, Message.content)
                    .where(Message.session_id == session_id, Message.chatbot_id == row.chatbot_id)
                    .order_by(Message.sequence.desc())
                    .limit(2 * HISTORY_TURNS)
                )
            ).all()
        history = [(role, content) for role, content in reversed(messages)]
        return SessionSnapshot(chatbot_id=row.chatbot_id, user_id=row.user_id, history=history, state=dict(row.state))

    def stop(self, *, stream: StreamView) -> None:
        """Ask a running turn to stop (``POST /api/stream/{id}/stop``): it ends with an ``error``
        event (category ``streaming``) before its next token and is stored as stopped."""
        if not stream.done:
            stream.stop_requested = True

    async def load_stored_stream(self, *, stream_id: str) -> StoredStream:
        """A finished stream and its events from the database.

        Raises:
            StreamNotFoundError: when no such stream was stored.
        """
        async with self.db.session() as session:
            row = await session.get(StreamingSession, stream_id)
            if row is None:
                raise StreamNotFoundError(f"unknown stream {stream_id}")
            events = (
                await session.scalars(
                    select(StreamingEvent)
                    .where(
                        StreamingEvent.streaming_session_id == stream_id, StreamingEvent.chatbot_id == row.chatbot_id
                    )
                    .order_by(StreamingEvent.event_id)
                )
            ).all()
        return StoredStream(
            id=row.id,
            chatbot_id=row.chatbot_id,
            token_hash=row.token_hash,
            status=row.status,
            events=[StreamEvent(id=e.event_id, event=e.event, data=e.data, timestamp=e.created_at) for e in events],
        )

    async def drain(self) -> None:
        """Wait for every running turn, then for the recorder (used at shutdown and by tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.recorder.flush()
