"""Time to first token with the offline answerer: one client, N turns, against `samtale serve`.

Starts its own server on a fresh SQLite database with the demo shop, sends N messages with
`Accept: text/event-stream` over one keep-alive connection, and prints p50/p95/p99 of the time
from sending the request to the first `token` event, then stops the server.

    .venv/bin/python bench/ttft_offline.py [--turns 100] [--question "Can I return a bottle?"]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--question", default="Can I return a bottle I bought last week?")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="samtale-bench-"))
    env = {**os.environ, "SAMTALE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db", "HF_HUB_OFFLINE": "1"}
    subprocess.run([BIN / "samtale", "demo"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [BIN / "samtale", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(120):
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            samples: list[float] = []
            body = {"user_id": "bench", "chatbot_id": "vinhuset"}
            for turn in range(args.turns + 5):
                started = time.perf_counter()
                first: float | None = None
                request = {**body, "message_text": f"{args.question} ({turn})"}
                with client.stream(
                    "POST", "/api/process-message", json=request, headers={"Accept": "text/event-stream"}
                ) as response:
                    for line in response.iter_lines():
                        if first is None and line.startswith("event: token"):
                            first = (time.perf_counter() - started) * 1000
                if turn >= 5 and first is not None:  # the first turns warm the model and caches
                    samples.append(first)
        samples.sort()

        def pct(q: float) -> float:
            return samples[min(len(samples) - 1, int(q * len(samples)))]

        print(
            f"offline TTFT over {len(samples)} turns, one client (ms): "
            f"p50 {statistics.median(samples):.1f}  p95 {pct(0.95):.1f}  p99 {pct(0.99):.1f}  (cores: {os.cpu_count()})"
        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
