"""The per-event load client: C concurrent users over httpx + asyncio, every event checked.

Run as its own process by the benchmarks; writes one JSON summary (to ``--output`` or stdout). Each user sends
messages one after another until the duration is over (or ``--turns`` each), reading every answer
to its end. Targets:

- ``sse`` — samtale's direct-stream mode, or the pass-through baseline: ``POST /api/process-message``
  with ``Accept: text/event-stream``; a new conversation per message (user ``{prefix}-{user}-{n}``).
- ``openai`` — the fake LLM itself: ``POST /v1/chat/completions`` with ``stream: true``.

Checks per answer: HTTP 200, event ids consecutive, the words ``token0 … tokenN-1`` each seen
once and in order (lost, duplicated, reordered), and an ``end`` event last (``[DONE]`` for
``openai``). Times: to the first token and to the end of the answer, from sending the request.
With ``--pacing-ms`` the gaps between consecutive tokens minus the pacing are reported too.

    .venv/bin/python -m bench.sse_client --target sse --url http://127.0.0.1:8000 --chatbot plain -c 8 -d 5
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvloop

QUESTIONS = (
    "Which red wine goes with roast lamb?",
    "Do you have a dry white wine from Italy under 20 dollars?",
    "How long does delivery to Aarhus take?",
    "Can you recommend a fruity Portuguese red?",
    "What do you have from Sicily?",
    "Is shipping free above 500 kroner?",
    "I am looking for a Riesling for a birthday present",
    "What are your opening hours?",
)
TOKEN_WORD = re.compile(rb"token(\d+)")


@dataclass(slots=True)
class Tally:
    """Everything the users measured, merged."""

    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    added_gap_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    ok: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    id_gaps: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    first_finish: float | None = None
    last_finish: float = 0.0


@dataclass(slots=True)
class Answer:
    """What one answer's stream held."""

    ttft: float | None = None
    ended: bool = False
    error_event: bool = False
    words: list[int] = field(default_factory=list)
    token_times: list[float] = field(default_factory=list)
    last_id: int | None = None
    id_gaps: int = 0


def parse_sse_block(block: bytes, answer: Answer, now: float, started: float) -> None:
    """Fold one SSE event (``id:``/``event:``/``data:`` lines) into ``answer``."""
    event = b"message"
    data = b""
    event_id: int | None = None
    for line in block.split(b"\n"):
        if line.startswith(b"id: "):
            event_id = int(line[4:])
        elif line.startswith(b"event: "):
            event = line[7:]
        elif line.startswith(b"data: "):
            data = line[6:]
    if event_id is not None:
        if answer.last_id is not None and event_id != answer.last_id + 1:
            answer.id_gaps += 1
        answer.last_id = event_id
    if event == b"token":
        if answer.ttft is None:
            answer.ttft = now - started
        answer.token_times.append(now)
        answer.words.extend(int(n) for n in TOKEN_WORD.findall(data))
    elif event == b"end":
        answer.ended = True
    elif event == b"error":
        answer.error_event = True


def parse_openai_block(block: bytes, answer: Answer, now: float, started: float) -> None:
    """Fold one OpenAI stream chunk (``data: {…}`` or ``data: [DONE]``) into ``answer``."""
    if not block.startswith(b"data: "):
        return
    data = block[6:]
    if data == b"[DONE]":
        answer.ended = True
        return
    words = TOKEN_WORD.findall(data)
    if words:
        if answer.ttft is None:
            answer.ttft = now - started
        answer.token_times.append(now)
        answer.words.extend(int(n) for n in words)


class Load:
    """The users of one run (see the module doc for the options)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tally = Tally()
        self.pacing_s = args.pacing_ms / 1000 if args.pacing_ms else None
        if args.target == "openai":
            self.path = "/v1/chat/completions"
            self.headers = {"content-type": "application/json"}
            self.parse = parse_openai_block
        else:
            self.path = "/api/process-message"
            self.headers = {"content-type": "application/json", "accept": "text/event-stream"}
            self.parse = parse_sse_block

    def body(self, user: int, turn: int) -> bytes:
        """The request body of a user's turn (different text and user id every time)."""
        question = f"{QUESTIONS[(user + turn) % len(QUESTIONS)]} ({user}.{turn})"
        if self.args.target == "openai":
            payload: dict[str, Any] = {
                "model": "fake-model",
                "stream": True,
                "messages": [{"role": "user", "content": question}],
            }
        else:
            payload = {
                "user_id": f"{self.args.prefix}-{user}-{turn}",
                "chatbot_id": self.args.chatbot,
                "message_text": question,
            }
        return orjson.dumps(payload)

    async def turn(self, client: httpx.AsyncClient, user: int, turn: int) -> None:
        """Send one message, read its answer to the end and tally it."""
        tally = self.tally
        answer = Answer()
        started = time.perf_counter()
        tally.in_flight += 1
        tally.peak_in_flight = max(tally.peak_in_flight, tally.in_flight)
        try:
            async with client.stream("POST", self.path, content=self.body(user, turn), headers=self.headers) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    tally.errors[f"http_{resp.status_code}"] += 1
                    return
                buffer = b""
                async for chunk in resp.aiter_raw():
                    now = time.perf_counter()
                    buffer += chunk
                    while b"\n\n" in buffer:
                        block, buffer = buffer.split(b"\n\n", 1)
                        self.parse(block, answer, now, started)
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
            return
        finally:
            tally.in_flight -= 1
        finished = time.perf_counter()
        self.check(answer, started, finished)

    def check(self, answer: Answer, started: float, finished: float) -> None:
        """Count the answer as ok or as an error, and its token losses, duplicates and reorders."""
        tally = self.tally
        expected = self.args.tokens
        seen = set(answer.words)
        tally.lost += sum(1 for n in range(expected) if n not in seen)
        tally.duplicated += len(answer.words) - len(seen)
        tally.reordered += sum(1 for a, b in itertools.pairwise(answer.words) if b < a)
        tally.id_gaps += answer.id_gaps
        if answer.error_event:
            tally.errors["error_event"] += 1
        elif not answer.ended:
            tally.errors["no_end"] += 1
        elif answer.ttft is None:
            tally.errors["no_token"] += 1
        else:
            tally.ok += 1
            tally.ttft_ms.append(answer.ttft * 1000)
            tally.total_ms.append((finished - started) * 1000)
            if tally.first_finish is None:
                tally.first_finish = finished
            tally.last_finish = finished
            if self.pacing_s is not None:
                times = answer.token_times
                tally.added_gap_ms.extend(
                    (later - earlier - self.pacing_s) * 1000 for earlier, later in itertools.pairwise(times)
                )

    async def user(self, client: httpx.AsyncClient, user: int, deadline: float) -> None:
        """One user's loop: a turn after the other until the deadline or its turn count."""
        turn = 0
        while (self.args.turns and turn < self.args.turns) or (not self.args.turns and time.perf_counter() < deadline):
            await self.turn(client, user, turn)
            turn += 1

    async def run(self) -> dict[str, Any]:
        """Run every user and summarise."""
        args = self.args
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        timeout = httpx.Timeout(args.timeout, connect=args.timeout)
        async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=timeout) as client:
            started = time.perf_counter()
            deadline = started + args.duration
            await asyncio.gather(*(self.user(client, user, deadline) for user in range(args.concurrency)))
            wall = time.perf_counter() - started
        return self.summary(started, wall)

    def summary(self, started: float, wall: float) -> dict[str, Any]:
        """The JSON summary printed on stdout."""
        tally = self.tally
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        return {
            "target": self.args.target,
            "concurrency": self.args.concurrency,
            "turns": tally.ok + sum(tally.errors.values()),
            "ok": tally.ok,
            "errors": dict(tally.errors),
            "wall_s": round(wall, 3),
            "turns_per_s": round(tally.ok / wall, 1) if wall > 0 else None,
            "ttft_ms": tally.ttft_ms,
            "total_ms": tally.total_ms,
            "added_gap_ms": tally.added_gap_ms,
            "lost": tally.lost,
            "duplicated": tally.duplicated,
            "reordered": tally.reordered,
            "id_gaps": tally.id_gaps,
            "peak_in_flight": tally.peak_in_flight,
            "client_cpu_s": round(cpu, 3),
            "client_cpu_percent_of_one_core": round(100 * cpu / wall, 1) if wall > 0 else None,
        }


def main() -> None:
    """Parse the options, run the load and print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("sse", "openai"), default="sse")
    parser.add_argument("--url", required=True, help="base URL (samtale or the pass-through; the fake LLM's origin)")
    parser.add_argument("--chatbot", default="plain")
    parser.add_argument("--prefix", default="load", help="user id prefix (tells measured turns from warm-up)")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="seconds of load (ignored with --turns)")
    parser.add_argument("--turns", type=int, default=0, help="turns per user instead of a duration")
    parser.add_argument("--tokens", type=int, default=20, help="tokens each answer must carry")
    parser.add_argument("--pacing-ms", type=float, default=0.0, help="the fake LLM's gap between tokens")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--output", help="write the JSON summary to this file instead of stdout")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = uvloop.run(Load(args).run())
    encoded = orjson.dumps(result)
    if args.output:
        with open(args.output, "wb") as handle:
            handle.write(encoded)
    else:  # may be large (every sample): stdout is set blocking again, uvloop may have left it non-blocking
        os.set_blocking(sys.stdout.fileno(), True)
        sys.stdout.buffer.write(encoded + b"\n")


if __name__ == "__main__":
    main()
