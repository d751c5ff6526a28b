"""The fake OpenAI-compatible LLM the benchmarks answer with, as its own process.

``samtale.llm.fake.FakeLLMServer`` on uvloop with request recording off (a long run would keep
every request body in memory otherwise). Prints its base URL once listening.

    .venv/bin/python -m bench.fake_llm --port 9100 [--ttft-ms 0] [--tokens-per-s 0] [--tokens 20]
"""

from __future__ import annotations

import argparse

import uvloop

from samtale.llm.fake import FakeLLMServer


def main() -> None:
    """Serve until interrupted (SIGINT/SIGTERM end the process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before the first token (ms)")
    parser.add_argument("--tokens-per-s", type=float, default=0.0, help="pace of the tokens (0 = at once)")
    parser.add_argument("--tokens", type=int, default=20, help="words in each answer")
    args = parser.parse_args()
    server = FakeLLMServer(
        host=args.host, port=args.port, ttft_ms=args.ttft_ms, tokens_per_s=args.tokens_per_s, tokens=args.tokens
    )
    server.keep_requests = False

    async def run() -> None:
        async with server:
            print(server.base_url, flush=True)
            await server.wait_until_stopped()

    uvloop.run(run())


if __name__ == "__main__":
    main()
