"""A chatbot's text substitutions apply to the whole answer, even a phrase split across tokens."""

from __future__ import annotations

import httpx
import pytest

from samtale.conversation.substitutions import StreamingReplacer
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, answer_text, read_sse


def stream_through(replacer: StreamingReplacer, pieces: list[str]) -> list[str]:
    released = [replacer.feed(piece) for piece in pieces]
    released.append(replacer.flush())
    return released


def test_a_phrase_split_over_tokens_is_replaced_and_nothing_else_waits() -> None:
    replacer = StreamingReplacer({"Vinhuset ApS": "Vinhuset", "!": "."})
    released = stream_through(replacer, ["Thanks", " from", " Vinhuset", " ApS", "!", " Cheers"])
    assert "".join(released) == "Thanks from Vinhuset. Cheers"
    # Text that cannot start a phrase is released at once; only " Vinhuset" waited for " ApS".
    assert released[:3] == ["Thanks", " from", " "]
    assert released[3] == "Vinhuset"


def test_a_held_prefix_that_does_not_complete_is_released_unchanged() -> None:
    replacer = StreamingReplacer({"Vinhuset ApS": "Vinhuset"})
    assert replacer.feed("Vinhuset") == ""
    assert replacer.held == "Vinhuset"
    assert replacer.feed(" is open") == "Vinhuset is open"
    assert replacer.flush() == ""


def test_no_substitutions_pass_every_piece_through_untouched() -> None:
    replacer = StreamingReplacer({})
    assert stream_through(replacer, ["a", "b!"]) == ["a", "b!", ""]


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["ab", "c"], "X"),
        (["a", "b", "c", "d"], "Xd"),
        (["xa", "bcab", "c"], "xXX"),
        (["a", "a", "b", "c"], "aX"),
    ],
)
def test_every_split_of_the_text_gives_the_same_answer(pieces: list[str], expected: str) -> None:
    replacer = StreamingReplacer({"abc": "X"})
    assert "".join(stream_through(replacer, pieces)) == expected == replacer.apply("".join(pieces))


async def test_the_shopper_sees_substituted_text_from_a_real_model(
    client: httpx.AsyncClient, services: Services
) -> None:
    async with FakeLLMServer(replies=["Thanks for asking Vinhuset ApS! We ship in two days."]) as llm:
        await add_chatbot(
            services,
            id="subshop",
            name="Sub Shop",
            llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url},
            substitutions={"Vinhuset ApS": "Vinhuset", "!": "."},
        )
        body = {"user_id": "shopper-3", "chatbot_id": "subshop", "message_text": "How fast do you ship?"}
        started = (await client.post("/api/process-message", json=body)).json()
        events = await read_sse(client, started["sse_url"])
    tokens = [event["data"]["token"] for event in events if event["event"] == "token"]
    # The model sent "Vinhuset" and " ApS!" as separate tokens; the shopper never sees "ApS".
    assert answer_text(events) == "Thanks for asking Vinhuset. We ship in two days."
    assert not any("ApS" in token or "!" in token for token in tokens)
    assert events[-1]["event"] == "end"
