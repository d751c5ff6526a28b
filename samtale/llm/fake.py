"""Fake LLM servers over real loopback HTTP, for tests and benchmarks.

- :class:`FakeLLMServer` speaks the OpenAI chat completions API (``POST /v1/chat/completions``,
  streamed and not, with ``usage`` and ``stream_options.include_usage``; ``GET /v1/models``).
- :class:`FakeFlowiseServer` speaks Flowise's Prediction API (``POST /api/v1/prediction/{id}``):
  streamed as ``message:\\ndata:{"event":"token","data":"…"}`` SSE lines (events start, token,
  metadata, end; the shape of Flowise's ``SSEStreamer``), or a JSON ``{"text": …}`` answer.

Both answer from a script (a list of replies, cycled, or a function of the request's JSON),
else ``tokens`` words ``token0 token1 …``; a request carrying an image (OpenAI ``image_url``
parts, Flowise ``uploads``) is answered with the description scripted for its SHA-256
(``image_descriptions``), so tests drive a vision model over loopback; both pace the answer
(``ttft_ms``, ``tokens_per_s``, 0 = as fast as possible) and inject faults into the first ``fail_first`` requests:

- ``status``: an HTTP error (``fault_status``; a 429 carries ``Retry-After`` if given);
- ``close``: the connection is dropped before any answer;
- ``hang``: no answer at all until the server stops (for client timeouts);
- ``cut``: the stream is dropped after ``cut_after_tokens`` tokens;
- ``error_event``: an error event is streamed after ``cut_after_tokens`` tokens.

The scripting, pacing and faults live in :mod:`samtale.llm.fake_script` and the Flowise server in
:mod:`samtale.llm.fake_flowise`; both are re-exported here.

Run one for a benchmark: ``python -m samtale.llm.fake --port 9100 [--flowise] [--ttft-ms 0]
[--tokens-per-s 0] [--tokens 20] [--reply TEXT]``; it prints its base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from samtale.llm.base import count_words, word_pieces
from samtale.llm.fake_flowise import FakeFlowiseServer
from samtale.llm.fake_http import Connection, ReceivedRequest
from samtale.llm.fake_script import Fault, ReplyScript, ScriptedServer

__all__ = ["FakeFlowiseServer", "FakeLLMServer", "Fault", "ReplyScript", "ScriptedServer", "main"]


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
        images = _image_urls(body)
        reply = self.reply_with_images(body, images) if images else self.next_reply(body)
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


def _image_urls(body: dict[str, Any]) -> list[str]:
    """The ``image_url`` URLs of every message's content parts (Chat Completions image input)."""
    urls: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if isinstance(url, str):
                    urls.append(url)
    return urls


def _openai_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


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
