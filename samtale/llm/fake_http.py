"""A small, fast HTTP/1.1 server on asyncio streams, the base of the fake LLM and Flowise servers.

Only what the fakes need: requests with ``Content-Length`` bodies, keep-alive connections,
JSON answers with ``Content-Length`` and streamed answers with chunked transfer encoding (one
chunk per SSE event). TCP_NODELAY is set on every accepted socket (asyncio already sets it for
TCP transports since Python 3.6; we set it again so the guarantee does not rest on that).

A server runs either in the caller's event loop (``async with``) or in a background thread with
its own loop (``with``), so synchronous tests and benchmarks can use it too.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

import orjson

MAX_HEAD_BYTES = 64 * 1024
#: Pending connections the kernel queues before accept (asyncio's default of 100 overflows when a
#: benchmark opens 1,000 streams at once; uvicorn's default is 2,048).
LISTEN_BACKLOG = 2048


@dataclass(slots=True)
class ReceivedRequest:
    """One request the fake server received: method, path (without query), headers (lower-case
    names) and the body parsed as JSON (None when empty or not JSON)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    query: str = ""


@dataclass(slots=True)
class Connection:
    """The writing side of one client connection, with helpers for the two answer shapes."""

    writer: asyncio.StreamWriter
    keep_alive: bool = True
    _chunked: bool = field(default=False, init=False)

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        if not self.keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        """Write a whole JSON answer (``Content-Length`` framed)."""
        body = orjson.dumps(payload)
        head = {"content-type": "application/json", "content-length": str(len(body)), **(headers or {})}
        self.writer.write(self._head(status, head) + body)

    def start_stream(self, first_chunks: list[bytes] | None = None, *, content_type: str = "text/event-stream") -> None:
        """Write the head of a chunked 200 answer, and any chunks already known, in one write."""
        head = self._head(
            200,
            {"content-type": content_type, "cache-control": "no-cache", "transfer-encoding": "chunked"},
        )
        self._chunked = True
        self.writer.write(head + b"".join(_chunk(part) for part in first_chunks or ()))

    def write_chunks(self, parts: list[bytes]) -> None:
        """Write SSE events (or any bytes) as chunks of the stream started by :meth:`start_stream`."""
        self.writer.write(b"".join(_chunk(part) for part in parts))

    def end_stream(self) -> None:
        """Write the terminating zero-length chunk."""
        self.writer.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Drop the connection at once, mid-answer (the client sees a protocol error)."""
        self.keep_alive = False
        self.writer.transport.abort()


def _chunk(part: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(part), part)


class FakeHTTPServer:
    """Base of the fake servers: accepts connections, parses requests, calls :meth:`handle`.

    Args:
        host: address to listen on (loopback by default).
        port: TCP port; 0 picks a free ephemeral port (read it from :attr:`port`).

    Attributes:
        requests: every request received, in order (append-only; safe to read from the test's
            thread while the server runs in its own). Set :attr:`keep_requests` to False to stop
            recording them (long benchmarks, where the list would grow without bound).
        connections: how many TCP connections were accepted (keep-alive reuse keeps it low).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[ReceivedRequest] = []
        self.keep_requests = True
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def origin(self) -> str:
        """``http://host:port`` of the running server."""
        return f"http://{self.host}:{self.port}"

    async def handle(self, request: ReceivedRequest, connection: Connection) -> None:
        """Answer one request by writing to ``connection``; subclasses implement it."""
        connection.send_json(404, {"error": {"message": f"no route for {request.method} {request.path}"}})

    async def wait_until_stopped(self) -> None:
        """Block until the server shuts down (used to simulate a provider that hangs)."""
        assert self._stopping is not None
        await self._stopping.wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                request, keep_alive = _parse_head(head)
                length = int(request.headers.get("content-length", "0") or 0)
                if length:
                    request.body = await reader.readexactly(length)
                    if request.headers.get("content-type", "").startswith("application/json"):
                        try:
                            request.json = orjson.loads(request.body)
                        except orjson.JSONDecodeError:
                            request.json = None
                if self.keep_requests:
                    self.requests.append(request)
                connection = Connection(writer=writer, keep_alive=keep_alive)
                await self.handle(request, connection)
                if not connection.keep_alive or writer.is_closing():
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        except asyncio.CancelledError:
            # Server shutdown: the connection task ends quietly (it is the top of its task).
            return
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    # -- running in the caller's loop -------------------------------------------------------

    async def start(self) -> None:
        """Start listening in the running event loop."""
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEAD_BYTES, backlog=LISTEN_BACKLOG
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, release hanging handlers and close open connections."""
        if self._stopping is not None:
            self._stopping.set()
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            if self._tasks:
                _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=1.0)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- running in a background thread -----------------------------------------------------

    def __enter__(self) -> Self:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:  # gather() of nothing asks for the thread's current loop, and there is none
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name=f"{type(self).__name__}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
            self._loop = None


def _parse_head(head: bytes) -> tuple[ReceivedRequest, bool]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    path, _, query = target.partition("?")
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return ReceivedRequest(method=method, path=path, headers=headers, body=b"", query=query), keep_alive
