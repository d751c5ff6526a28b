"""One conversation whose turns alternate between two ``samtale serve`` processes on one PostgreSQL and Redis.

The shop runs two separate servers behind its load balancer. A shopper's first turn lands on
server A, the second on B, the third on A again, the fourth on B: every turn's prompt must hold
every earlier turn, whichever process stored it (the store is the truth; each process's history
cache is version-checked on every turn). The fake LLM records the prompts it was sent, so the test
reads what each turn's prompt held.

Runs only when PostgreSQL (``SAMTALE_TEST_POSTGRES_URL``) and Redis answer; CI sets both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from samtale.llm.fake import FakeLLMServer
from tests.conversation.helpers import answer_text, parse_sse

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SAMTALE = Path(sys.executable).parent / "samtale"
CHATBOT_YAML = """\
id: alternating
name: Alternating Shop
language: en
llm: {{provider: openai, model: fake-model, base_url: "{base_url}"}}
flows: [{{type: main}}]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"samtale serve exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{base} never became healthy: {log.read_text()[-2000:]}")


@pytest.fixture
def two_servers(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[tuple[list[str], FakeLLMServer]]:
    """Two single-worker ``samtale serve`` processes on their own ports, one database, one Redis."""
    if not database_url.startswith("postgresql"):
        if os.environ.get("SAMTALE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("SAMTALE_TEST_POSTGRES_URL must be set when SAMTALE_TEST_REQUIRE_POSTGRES=1")
        pytest.skip("two servers on one store need PostgreSQL (SAMTALE_TEST_POSTGRES_URL is not set)")
    redis = Redis.from_url(redis_url)
    for pattern in ("samtale:lock:*", "samtale:stream:*", "samtale:cache:*", "samtale:turn:*"):
        for key in redis.scan_iter(match=pattern, count=500):
            redis.delete(key)
    redis.close()
    env = {
        **os.environ,
        "SAMTALE_DATABASE_URL": database_url,
        "SAMTALE_REDIS_URL": redis_url,
        "SAMTALE_DATA_DIR": str(tmp_path / "data"),
        # These count the fake LLM's requests; the analytics worker's own topic and judge
        # completions (tests/analytics) would add to them.
        "SAMTALE_ANALYTICS_LLM": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    with FakeLLMServer(replies=["Noted."], tokens_per_s=0) as llm:
        (tmp_path / "bot.yaml").write_text(CHATBOT_YAML.format(base_url=llm.base_url))
        subprocess.run(
            [str(SAMTALE), "chatbots", "import", str(tmp_path / "bot.yaml")],
            env=env, cwd=ROOT, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        servers: list[subprocess.Popen[bytes]] = []
        bases: list[str] = []
        try:
            for name in ("a", "b"):
                port = _free_port()
                log = tmp_path / f"server-{name}.log"
                command = [str(SAMTALE), "serve", "--host", "127.0.0.1", "--port", str(port)]
                with open(log, "w") as out:
                    server = subprocess.Popen(
                        command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
                servers.append(server)
                bases.append(f"http://127.0.0.1:{port}")
            for base, server, name in zip(bases, servers, ("a", "b"), strict=True):
                _wait_healthy(base, server, tmp_path / f"server-{name}.log")
            yield bases, llm
        finally:
            for server in servers:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGTERM)
            for server in servers:
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(timeout=10)


def _turn(base: str, text: str, *, session_id: str | None = None, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"chatbot_id": "alternating", "user_id": "shopper-1", "message_text": text}
    if session_id:
        body["session_id"] = session_id
    headers = {"Accept": "text/event-stream"}
    if token:
        headers["X-Session-Token"] = token
    response = httpx.post(base + "/api/process-message", json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    events = parse_sse(response.text)
    assert events[-1]["event"] == "end", events[-1]
    return {
        "session_id": response.headers["x-session-id"],
        "token": response.headers.get("x-session-token"),
        "events": events,
    }


def _prompt_texts(request: Any) -> str:
    return "\n".join(str(message.get("content", "")) for message in request.json["messages"])


def test_turns_alternating_between_two_servers_each_see_every_earlier_turn(
    two_servers: tuple[list[str], FakeLLMServer],
) -> None:
    (server_a, server_b), llm = two_servers
    first = _turn(server_a, "alpha: do you ship to Norway?")
    session_id, token = first["session_id"], first["token"]
    assert token, "the first turn hands out its session token (X-Session-Token)"
    assert answer_text(first["events"]) == "Noted."

    _turn(server_b, "bravo: and what does shipping cost?", session_id=session_id, token=token)
    _turn(server_a, "charlie: can I pay by invoice?", session_id=session_id, token=token)
    _turn(server_b, "delta: thanks, that is all", session_id=session_id, token=token)

    prompts = [_prompt_texts(request) for request in llm.chat_requests]
    assert len(prompts) == 4
    # Turn 2 on B holds turn 1 from A; turn 3 on A holds turn 2 from B; turn 4 on B holds turn 3 from A.
    assert "alpha" in prompts[1]
    assert "alpha" in prompts[2] and "bravo" in prompts[2]
    assert all(word in prompts[3] for word in ("alpha", "bravo", "charlie"))
    # The answers are in the history as well, not only the questions.
    assert prompts[3].count("Noted.") >= 3
