"""One recorder batch can hold a new conversation, its follow-up and a failed turn; all are stored right."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from samtale.conversation.recorder import TurnRecord, TurnRecorder
from samtale.conversation.stored_streams import load_stored_stream
from samtale.conversation.turn import TurnError, TurnMetrics
from samtale.errors import ErrorCategory
from samtale.storage.base import utcnow
from samtale.storage.db import create_database
from samtale.storage.models import ConversationProcessingMetrics, ConversationSession, Message, StreamingEvent
from samtale.streaming.hub import StreamEvent


def _turn(*, session: str, stream: str, question: str, answer: str, ok: bool = True, new: bool = False) -> TurnRecord:
    now = utcnow()
    events = [StreamEvent(id=1, event="start", data={"session_id": session}, timestamp=now)]
    metrics = TurnMetrics(config_ms=0.1, routing_ms=0.2, status="ok", provider="offline", flow_type="main")
    error = None
    if ok:
        events.append(StreamEvent(id=2, event="token", data={"token": answer}, timestamp=now))
        events.append(StreamEvent(id=3, event="end", data={}, timestamp=now))
        metrics.ttft_ms, metrics.llm_ttft_ms, metrics.total_ms = 3.0, 2.0, 4.0
    else:
        events.append(StreamEvent(id=2, event="error", data={"category": "llm"}, timestamp=now))
        metrics.status, metrics.error_category, metrics.total_ms = "failed", "llm", 9.0
        error = TurnError(
            category=ErrorCategory.LLM, message="the LLM server timed out", shopper_message="Sorry, try again."
        )
    return TurnRecord(
        chatbot_id="vinhuset",
        user_id="anna",
        session_id=session,
        session_state={"last_route_key": "main", "question": question},
        streaming_session_id=stream,
        token_hash="h",
        flow_type="main",
        status="completed" if ok else "failed",
        user_text=question,
        assistant_text=answer,
        events=events,
        context=[],
        metrics=metrics,
        error=error,
        started_at=now - timedelta(seconds=1),
        new_session=new,
    )


async def test_a_new_conversation_its_follow_up_and_a_failed_turn_in_one_batch(database_url: str) -> None:
    db = create_database(database_url)
    recorder = TurnRecorder(db=db)
    try:
        await recorder.write(
            [
                _turn(session="c1", stream="s1", question="Do you ship to Aarhus?", answer="Yes.", new=True),
                _turn(session="c1", stream="s2", question="How long?", answer="Two days."),
                _turn(session="c2", stream="s3", question="Hej", answer="", ok=False, new=True),
            ]
        )
        await recorder.write([_turn(session="c1", stream="s4", question="Thanks", answer="You're welcome.")])
        async with db.session() as session:
            conversations = {row.id: row for row in (await session.scalars(select(ConversationSession))).all()}
            messages = (
                await session.execute(
                    select(
                        Message.session_id, Message.sequence, Message.role, Message.content, Message.status
                    ).order_by(Message.session_id, Message.sequence)
                )
            ).all()
            metrics = {
                row.streaming_session_id: row
                for row in (await session.scalars(select(ConversationProcessingMetrics))).all()
            }
            events = (await session.scalars(select(StreamingEvent.event_id))).all()
    finally:
        await db.dispose()

    assert set(conversations) == {"c1", "c2"}
    assert conversations["c1"].title == "Do you ship to Aarhus?"
    assert conversations["c1"].state == {"last_route_key": "main", "question": "Thanks"}
    assert [(m.session_id, m.sequence, m.role) for m in messages if m.session_id == "c1"] == [
        ("c1", n, role) for n, role in zip(range(1, 7), ["user", "assistant"] * 3, strict=True)
    ]
    assert [m.content for m in messages if m.session_id == "c1"][-1] == "You're welcome."
    assert [(m.role, m.status) for m in messages if m.session_id == "c2"] == [("user", "ok"), ("assistant", "failed")]
    assert metrics["s1"].ttft_ms == 3.0 and metrics["s1"].error_category is None
    assert metrics["s3"].error_category == "llm" and metrics["s3"].ttft_ms is None
    assert metrics["s3"].persist_ms is not None and len(metrics) == 4
    assert len(events) == 3 + 3 + 2 + 3


async def test_a_stored_answer_reads_back_event_for_event_with_its_tokens_in_one_row(database_url: str) -> None:
    db = create_database(database_url)
    recorder = TurnRecorder(db=db)
    started = utcnow()
    words = ["Yes", ", we", " ship", " to", " Aarhus", "."]
    events = [StreamEvent(id=1, event="start", data={"session_id": "c1"}, timestamp=started)]
    events.append(StreamEvent(id=2, event="flow", data={"flow_type": "main"}, timestamp=started))
    events += [
        StreamEvent(id=3 + n, event="token", data={"token": word}, timestamp=started + timedelta(microseconds=1500 * n))
        for n, word in enumerate(words)
    ]
    events.append(StreamEvent(id=9, event="end", data={"ok": True}, timestamp=started + timedelta(milliseconds=9)))
    turn = _turn(session="c1", stream="s1", question="Do you ship to Aarhus?", answer="".join(words), new=True)
    turn.events = events
    try:
        await recorder.write([turn])
        async with db.session() as session:
            rows = (await session.scalars(select(StreamingEvent).order_by(StreamingEvent.event_id))).all()
        stored = await load_stored_stream(db=db, stream_id="s1")
    finally:
        await db.dispose()

    assert [(row.event_id, row.event, row.event_count) for row in rows] == [
        (1, "start", 1),
        (2, "flow", 1),
        (3, "token", 6),
        (9, "end", 1),
    ]
    assert [(e.id, e.event, e.data, e.timestamp) for e in stored.events] == [
        (e.id, e.event, e.data, e.timestamp) for e in events
    ]
