"""Fake LLM servers over real loopback HTTP, for tests and benchmarks.

- :class:`FakeLLMServer` speaks the OpenAI chat completions API (``POST /v1/chat/completions``,
  streamed and not, with ``usage`` and ``stream_options.include_usage``; ``GET /v1/models``).
- :class:`FakeFlowiseServer` speaks Flowise's Prediction API (``POST /api/v1/prediction/{id}``):
  streamed as ``message:\\ndata:{"event":"token","data":"…"}`` SSE lines (events start, token,
  metadata, end; the shape of Flowise's ``SSEStreamer``), or a JSON ``{"text": …}`` answer.

Both answer from a script (a list of replies, cycled, or a function of the request's JSON),
else ``tokens`` words ``token0 token1 …``; both pace the answer (``ttft_ms``, ``tokens_per_s``,
0 = as fast as possible) and inject faults into the first ``fail_first`` requests:

- ``status``: an HTTP error (``fault_status``; a 429 carries ``Retry-After`` if given);
- ``close``: the connection is dropped before any answer;
- ``hang``: no answer at all until the server stops (for client timeouts);
- ``cut``: the stream is dropped after ``cut_after_tokens`` tokens;
- ``error_event``: an error event is streamed after ``cut_after_tokens`` tokens.

Run one for a benchmark: ``python -m samtale.llm.fake --port 9100 [--flowise] [--ttft-ms 0]
[--tokens-per-s 0] [--tokens 20] [--reply TEXT]``; it prints its base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import orjson

from samtale.llm.base import count_words, word_pieces
from samtale.llm.fake_http import Connection, FakeHTTPServer, ReceivedRequest

Fault = Literal["status", "close", "hang", "cut", "error_event"]
ReplyScript = Sequence[str] | Callable[[Any], str] | None


class ScriptedServer(FakeHTTPServer):
    """Scripting, pacing and fault injection shared by the fake LLM servers (see module doc).

    Args:
        replies: replies cycled in order, or a function of the request's JSON body returning
            the reply; None answers ``token0 token1 …`` with ``tokens`` words.
        tokens: words in the default reply.
        ttft_ms: delay before the first token, in milliseconds (headers are sent at once).
        tokens_per_s: pace of the following tokens; 0 sends them as fast as possible.
        fail_first: how many answering requests (not ``/v1/models``) get the fault.
        fault: which fault (see module doc).
        fault_status: the HTTP status of a ``status`` fault (500, 429, 400…).
        retry_after_s: ``Retry-After`` seconds sent with a 429 ``status`` fault.
        cut_after_tokens: tokens streamed before a ``cut`` or ``error_event`` fault.
        host, port: where to listen (port 0 = ephemeral).
    """

    def __init__(
        self,
        *,
        replies: ReplyScript = None,
        tokens: int = 20,
        ttft_ms: float = 0.0,
        tokens_per_s: float = 0.0,
        fail_first: int = 0,
        fault: Fault = "status",
        fault_status: int = 500,
        retry_after_s: float | None = None,
        cut_after_tokens: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.tokens = tokens
        self.ttft_ms = ttft_ms
        self.tokens_per_s = tokens_per_s
        self.fail_first = fail_first
        self.fault: Fault = fault
        self.fault_status = fault_status
        self.retry_after_s = retry_after_s
        self.cut_after_tokens = cut_after_tokens
        self._script = replies
        self._cycle: Iterator[str] | None = (
            itertools.cycle(list(replies)) if replies is not None and not callable(replies) else None
        )
        self._default_reply = " ".join(f"token{i}" for i in range(tokens))
        self._answered = 0

    @property
    def answered(self) -> int:
        """How many answering requests arrived (including those that got a fault)."""
        return self._answered

    def next_reply(self, body: Any) -> str:
        """The scripted reply for a request with JSON ``body``."""
        if callable(self._script):
            return self._script(body)
        if self._cycle is not None:
            return next(self._cycle)
        return self._default_reply

    def take_fault(self) -> Fault | None:
        """Count an answering request; the fault it gets, or None."""
        self._answered += 1
        if self._answered <= self.fail_first:
            return self.fault
        return None

    async def fault_before_answer(self, fault: Fault | None, connection: Connection, error_body: Any) -> bool:
        """Apply a fault that happens before any answer; True when the request was consumed by it."""
        if fault == "status":
            headers = {}
            if self.fault_status == 429 and self.retry_after_s is not None:
                headers["retry-after"] = f"{self.retry_after_s:g}"
            connection.send_json(self.fault_status, error_body, headers)
            return True
        if fault == "close":
            connection.abort()
            return True
        if fault == "hang":
            await self.wait_until_stopped()
            connection.abort()
            return True
        return False

    async def stream_events(
        self,
        connection: Connection,
        *,
        head: list[bytes],
        tokens: list[bytes],
        tail: list[bytes],
        fault: Fault | None,
        error_event: bytes,
    ) -> None:
        """Stream ``head``, then ``tokens`` paced by ``ttft_ms``/``tokens_per_s``, then ``tail``."""
        mid_fault = fault if fault in ("cut", "error_event") else None
        if self.ttft_ms <= 0 and self.tokens_per_s <= 0 and mid_fault is None:
            connection.start_stream([*head, *tokens, *tail])
            connection.end_stream()
            return
        connection.start_stream(head)
        await connection.writer.drain()
        if self.ttft_ms > 0:
            await asyncio.sleep(self.ttft_ms / 1000)
        gap = 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
        for index, event in enumerate(tokens):
            if mid_fault is not None and index == self.cut_after_tokens:
                if mid_fault == "cut":
                    await connection.writer.drain()
                    connection.abort()
                    return
                connection.write_chunks([error_event])
                connection.end_stream()
                return
            if index and gap:
                await asyncio.sleep(gap)
            connection.write_chunks([event])
            if gap:
                await connection.writer.drain()
        connection.write_chunks(tail)
        connection.end_stream()


def _sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _prompt_words(body: Any) -> int:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    total = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += count_words(content)
        elif isinstance(content, list):
            total += sum(count_words(str(part.get("text", ""))) for part in content if isinstance(part, dict))
    return total


class FakeLLMServer(ScriptedServer):
    """An OpenAI-compatible chat completions server (see the module doc for the options).

    ``base_url`` (``http://127.0.0.1:PORT/v1``) is what an OpenAI client takes. Replies are
    returned as scripted whatever ``response_format`` asks for, so a test scripts the JSON it
    wants a structured-output call to receive.
    """

    model_name = "fake-model"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of this server."""
        return f"{self.origin}/v1"

    @property
    def chat_requests(self) -> list[ReceivedRequest]:
        """The chat completion requests received, in order."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def handle(self, request: ReceivedRequest, connection: Connection) -> None:
        """Route ``/v1/chat/completions`` and ``/v1/models``."""
        if request.method == "GET" and request.path.endswith("/models"):
            listed = {"id": self.model_name, "object": "model", "created": 0, "owned_by": "samtale-fake"}
            connection.send_json(200, {"object": "list", "data": [listed]})
            return
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            await super().handle(request, connection)
            return
        body = request.json if isinstance(request.json, dict) else None
        if body is None or not isinstance(body.get("messages"), list):
            connection.send_json(400, _openai_error("request body must be JSON with `messages`", "invalid_request"))
            return
        fault = self.take_fault()
        error = _openai_error(f"fake fault ({self.fault_status})", "server_error")
        if await self.fault_before_answer(fault, connection, error):
            return
        reply = self.next_reply(body)
        pieces = word_pieces(reply)
        model = str(body.get("model") or self.model_name)
        prompt_tokens = _prompt_words(body)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not body.get("stream"):
            if self.ttft_ms > 0 or self.tokens_per_s > 0:
                pace = len(pieces) / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
                await asyncio.sleep(self.ttft_ms / 1000 + pace)
            message = {"role": "assistant", "content": reply}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            connection.send_json(
                200,
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                },
            )
            return

        def chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return _sse(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                }
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        tail = [chunk({}, "stop")]
        if include_usage:
            tail.append(
                _sse(
                    {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            )
        tail.append(b"data: [DONE]\n\n")
        await self.stream_events(
            connection,
            head=[chunk({"role": "assistant", "content": ""})],
            tokens=[chunk({"content": piece}) for piece in pieces],
            tail=tail,
            fault=fault,
            error_event=_sse(_openai_error("fake fault in the middle of the stream", "server_error")),
        )


def _openai_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


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
        reply = self.next_reply(body)
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


def main(argv: Sequence[str] | None = None) -> None:
    """Run a fake server in the foreground until interrupted; prints its base URL first."""
    parser = argparse.ArgumentParser(prog="python -m samtale.llm.fake", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--flowise", action="store_true", help="speak Flowise's Prediction API instead of OpenAI's")
    parser.add_argument("--chatflow-id", default="fake-chatflow")
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-s", type=float, default=0.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--reply", action="append", help="a scripted reply (repeat to cycle several)")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "ttft_ms": args.ttft_ms,
        "tokens_per_s": args.tokens_per_s,
        "tokens": args.tokens,
        "replies": args.reply,
    }
    server: FakeLLMServer | FakeFlowiseServer = (
        FakeFlowiseServer(chatflow_id=args.chatflow_id, **options) if args.flowise else FakeLLMServer(**options)
    )

    async def run() -> None:
        async with server:
            print(server.base_url, flush=True)
            await server.wait_until_stopped()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return


if __name__ == "__main__":
    main()
