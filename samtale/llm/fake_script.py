"""What the fake LLM servers share: the reply script, the pacing and the injected faults.

:class:`ScriptedServer` is the base of :class:`~samtale.llm.fake.FakeLLMServer` and
:class:`~samtale.llm.fake_flowise.FakeFlowiseServer`; the options and the faults are described in
:mod:`samtale.llm.fake`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from samtale.llm.fake_http import Connection, FakeHTTPServer

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
        image_descriptions: a vision model's script: the reply to a request carrying an image,
            by the SHA-256 (hex) of the image's bytes; a request whose image is not listed gets
            the usual reply. Every image received is recorded in :attr:`images_seen`.
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
        image_descriptions: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.image_descriptions = dict(image_descriptions or {})
        self.images_seen: list[str] = []
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

    def reply_with_images(self, body: Any, data_urls: Iterable[str]) -> str:
        """The reply to a request carrying the images of ``data_urls`` (``data:…;base64,…``): the
        scripted description of the first listed one, else :meth:`next_reply`."""
        described: str | None = None
        for url in data_urls:
            digest = _sha256_of_data_url(url)
            self.images_seen.append(digest)
            if described is None and digest in self.image_descriptions:
                described = self.image_descriptions[digest]
        return described if described is not None else self.next_reply(body)

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


def _sha256_of_data_url(url: str) -> str:
    """The SHA-256 of a base64 ``data:`` URL's bytes (``"invalid"`` when it is not one)."""
    _, _, encoded = url.partition(";base64,")
    try:
        return hashlib.sha256(base64.b64decode(encoded, validate=True)).hexdigest()
    except (binascii.Error, ValueError):
        return "invalid"
