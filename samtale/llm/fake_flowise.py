"""A fake Flowise Prediction API server over real loopback HTTP, for tests and benchmarks.

``POST /api/v1/prediction/{id}`` streamed as ``message:\\ndata:{"event":"token","data":"…"}`` SSE
lines (events start, token, metadata, end; the shape of Flowise's ``SSEStreamer``), or answered
with a JSON ``{"text": …}``. Scripting, pacing and faults as described in :mod:`samtale.llm.fake`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson

from samtale.llm.base import word_pieces
from samtale.llm.fake_http import Connection, ReceivedRequest
from samtale.llm.fake_script import ScriptedServer


def _flowise_event(event: str, data: Any, *, field: bytes = b"message:") -> bytes:
    return field + b"\ndata:" + orjson.dumps({"event": event, "data": data}) + b"\n\n"


class FakeFlowiseServer(ScriptedServer):
    """A Flowise Prediction API server for one chatflow (see the module doc for the options).

    Args:
        chatflow_id: the chatflow it serves; other ids get 404 as Flowise answers them.
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
        **options: scripting, pacing and faults, as :class:`ScriptedServer`.
    """

    def __init__(self, *, chatflow_id: str = "fake-chatflow", api_key: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.chatflow_id = chatflow_id
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        """The Flowise base URL of this server (the Prediction API lives under ``/api/v1``)."""
        return self.origin

    @property
    def predictions(self) -> list[ReceivedRequest]:
        """The prediction requests received, in order."""
        return [r for r in self.requests if r.path.startswith("/api/v1/prediction/")]

    async def handle(self, request: ReceivedRequest, connection: Connection) -> None:
        """Answer ``POST /api/v1/prediction/{chatflowId}``."""
        prefix = "/api/v1/prediction/"
        if request.method != "POST" or not request.path.startswith(prefix):
            await super().handle(request, connection)
            return
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            connection.send_json(401, {"statusCode": 401, "success": False, "message": "Unauthorized Access"})
            return
        chatflow_id = request.path[len(prefix) :]
        if chatflow_id != self.chatflow_id:
            message = f"Chatflow {chatflow_id} not found"
            connection.send_json(404, {"statusCode": 404, "success": False, "message": message})
            return
        body = request.json if isinstance(request.json, dict) else None
        if body is None or not isinstance(body.get("question"), str):
            connection.send_json(400, {"statusCode": 400, "success": False, "message": "question is required"})
            return
        fault = self.take_fault()
        error = {"statusCode": self.fault_status, "success": False, "message": "fake fault"}
        if await self.fault_before_answer(fault, connection, error):
            return
        uploads = body.get("uploads")
        images = [
            str(item["data"])
            for item in (uploads if isinstance(uploads, list) else [])
            if isinstance(item, dict) and item.get("data")
        ]
        reply = self.reply_with_images(body, images) if images else self.next_reply(body)
        chat_id = str(body.get("chatId") or uuid.uuid4())
        metadata = {
            "chatId": chat_id,
            "chatMessageId": str(uuid.uuid4()),
            "question": body["question"],
            "sessionId": chat_id,
        }
        if not body.get("streaming"):
            if self.ttft_ms > 0 or self.tokens_per_s > 0:
                pace = len(word_pieces(reply)) / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
                await asyncio.sleep(self.ttft_ms / 1000 + pace)
            connection.send_json(200, {"text": reply, **metadata})
            return
        pieces = word_pieces(reply)
        # Flowise sends the first token as the `start` event's data, then every token as `token`.
        head = [_flowise_event("start", pieces[0] if pieces else "")]
        tokens = [_flowise_event("token", piece) for piece in pieces]
        await self.stream_events(
            connection,
            head=head,
            tokens=tokens,
            tail=[_flowise_event("metadata", metadata), _flowise_event("end", "[DONE]", field=b"message")],
            fault=fault,
            error_event=_flowise_event("error", "fake fault in the middle of the stream", field=b"message"),
        )
