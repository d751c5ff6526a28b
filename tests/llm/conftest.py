"""Shared helpers for the LLM layer's tests: requests as the pipeline builds them, real data paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from samtale.llm.base import ChatMessage, GenerationRequest

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shop_request(question: str, *, system: str = "You are the shop assistant of Vinhuset.") -> GenerationRequest:
    """A turn as the pipeline hands it to a provider: a system prompt, one earlier exchange, the question."""
    return GenerationRequest(
        messages=[
            ChatMessage("system", system),
            ChatMessage("user", "Hello"),
            ChatMessage("assistant", "Hi! How can I help?"),
            ChatMessage("user", question),
        ],
        question=question,
        chatbot_name="Vinhuset",
    )


@pytest.fixture
def shared_data() -> Path:
    """The shared real data sets (read only)."""
    if not SHARED_DATA.exists():
        pytest.fail(f"the shared data folder {SHARED_DATA} is missing")
    return SHARED_DATA
