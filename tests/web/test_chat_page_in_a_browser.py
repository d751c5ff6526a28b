"""A shopper in a real browser (Debian's Chromium, driven by Playwright) uses the chat page:
attaches a photo, asks about it and reads an answer that uses the fake vision model's
description; a message written as HTML is shown as the text it is, never run.

The app is served on real loopback HTTP by uvicorn inside the test's event loop; the browser runs
in a worker thread (Playwright's sync API). Skipped when Chromium is not installed, except under
CI (or ``SAMTALE_TEST_REQUIRE_BROWSER=1``), where ``.ci/run`` installs it and the test must run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from samtale.app import create_app
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot
from tests.images.photos import jpeg_with_gps, photo

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SHOPPER = Path(__file__).with_name("shopper.py")
DESCRIPTION = "A white espresso cup on a saucer, with a spoon."
ANSWER = "That is our espresso cup, sold in sets of four."
XSS = '<img src=x onerror="window.pwned = 1"><b>bold?</b>'


@pytest.fixture(autouse=True)
def _require_browser() -> None:
    """Skip (or fail under CI) before the event loop runs when Chromium is not installed."""
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true" or os.environ.get("SAMTALE_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing under CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")


def _carries_image(body: dict[str, Any]) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for part in message["content"]
    )


def _reply(body: dict[str, Any]) -> str:
    """The fake model: describes any image it is shown; answers about the cup once the description
    is in its prompt; else greets."""
    if _carries_image(body):
        return DESCRIPTION
    prompt = " ".join(str(message.get("content")) for message in body["messages"])
    return ANSWER if DESCRIPTION in prompt else "Hello!"


@pytest.fixture
async def served(services: Services) -> AsyncIterator[str]:
    """The app on a real loopback port (uvicorn in this event loop); its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(services=services), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn exposes only a flag)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture
def cup(tmp_path: Path) -> Path:
    """A JPEG of a coffee cup (a real photo of ../shared/data/images) on disk, for the file chooser."""
    path = tmp_path / "cup.jpg"
    path.write_bytes(jpeg_with_gps(photo("coffee.png"), orientation=1))
    return path


async def _shop_in_the_browser(base_url: str, cup: Path) -> dict[str, Any]:
    """Run the shopper (tests/web/shopper.py) in its own process: Playwright's sync API runs an
    event loop of its own, which must not share this test's blocking-call guard. Its JSON report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SHOPPER),
        base_url,
        str(cup),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()[-3000:]
    report: dict[str, Any] = json.loads(out)
    return report


async def test_a_shopper_attaches_a_photo_in_the_chat_page_and_the_answer_uses_its_description(
    services: Services, served: str, cup: Path
) -> None:
    async with FakeLLMServer(replies=_reply) as llm:
        await add_chatbot(
            services,
            id="kaffebar",
            name="Kaffebar",
            image_enabled=True,
            llm={"provider": "openai", "model": "vision", "base_url": llm.base_url},
        )
        seen = await _shop_in_the_browser(served, cup)
    await services.conversation.drain()

    assert seen["notes"] == [f"Seen in the photo: {DESCRIPTION}"]
    assert ANSWER in seen["messages"]
    assert seen["preview"] == 1  # the shopper's own photo beside their message
    # The HTML the shopper typed is shown as text and never runs.
    assert XSS in seen["messages"] and seen["pwned"] is None and seen["injected_images"] == 0
    async with httpx.AsyncClient(base_url=served) as http:
        assert (await http.get("/")).headers["Referrer-Policy"] == "no-referrer"
