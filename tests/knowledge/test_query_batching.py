"""Many shoppers ask at once: their questions share forward passes of the local model, and each
shopper still gets exactly the vector their question has on its own.

Runs on both local runtimes (torch, and ONNX from one export per module, ~20 s); no timings asserted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from samtale.knowledge.embedders import (
    EmbeddingError,
    LocalEmbedder,
    LocalModelEmbedder,
    OnnxEmbedder,
    export_onnx,
    onnx_export_dir,
)

QUESTIONS = [
    "do you have a dry Riesling under $20?",
    "hvor er min pakke?",
    "which Pinot Noir goes with salmon",
    "a full-bodied red from Douro, please",
    "can I return a bottle that arrived broken",
    "what does 'tannic' mean",
    "Sauvignon Blanc from Marlborough with passion fruit and a long, zesty finish",
    "?",
    "something sweet for dessert",
    "Chianti Classico Riserva 2015",
    "is there a sparkling wine that is not Champagne but tastes like it",
    "rosé",
]


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh ONNX export of the packaged model."""
    return export_onnx(target_dir=onnx_export_dir(tmp_path_factory.mktemp("data")))


@pytest.fixture(params=["torch", "onnx"])
def make_embedder(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Builds a new local embedder of the parametrised runtime (its own batcher and counters)."""

    # The export is resolved here, in a sync fixture, not inside the test's event loop.
    model_file = request.getfixturevalue("onnx_model") if request.param == "onnx" else None

    def make(**options: int) -> LocalModelEmbedder:
        if model_file is None:
            return LocalEmbedder(**options)
        return OnnxEmbedder(model_file=model_file, **options)

    return make


async def test_concurrent_questions_share_passes_and_each_gets_its_own_vector(make_embedder) -> None:  # type: ignore[no-untyped-def]
    embedder = make_embedder()
    alone = np.stack([embedder.embed_sync([question])[0] for question in QUESTIONS])

    answers = await asyncio.gather(*(embedder.embed([question]) for question in QUESTIONS))

    assert [answer.shape for answer in answers] == [(1, 384)] * len(QUESTIONS)
    assert np.abs(np.concatenate(answers) - alone).max() < 1e-5
    stats = embedder.batching
    assert stats.calls == len(QUESTIONS) and stats.texts == len(QUESTIONS)
    assert stats.passes < stats.calls and stats.largest_pass > 1


async def test_a_call_of_several_texts_gets_its_rows_in_order_beside_single_questions(make_embedder) -> None:  # type: ignore[no-untyped-def]
    embedder = make_embedder()
    several = QUESTIONS[3:7]

    first, block, last = await asyncio.gather(
        embedder.embed([QUESTIONS[0]]), embedder.embed(several), embedder.embed([QUESTIONS[-1]])
    )

    assert block.shape == (4, 384)
    assert np.abs(block - embedder.embed_sync(several)).max() < 1e-5
    assert np.abs(first[0] - embedder.embed_sync([QUESTIONS[0]])[0]).max() < 1e-5
    assert np.abs(last[0] - embedder.embed_sync([QUESTIONS[-1]])[0]).max() < 1e-5


async def test_the_batch_cap_bounds_a_pass_but_a_larger_call_still_runs(make_embedder) -> None:  # type: ignore[no-untyped-def]
    embedder = make_embedder(query_batch_max=3, threads=1, bulk_threads=2)
    catalogue = [f"{question} (variant {n})" for n, question in enumerate(QUESTIONS)]

    singles, whole = await asyncio.gather(
        asyncio.gather(*(embedder.embed([question]) for question in QUESTIONS)), embedder.embed(catalogue)
    )

    assert whole.shape == (len(catalogue), 384)
    assert np.abs(whole - embedder.embed_sync(catalogue)).max() < 1e-5
    # The larger pass ran on 2 threads, question-sized ones on 1: the same vectors.
    assert np.abs(whole[:2] - embedder.embed_sync(catalogue[:2])).max() < 1e-5
    assert np.abs(np.concatenate(singles) - embedder.embed_sync(QUESTIONS)).max() < 1e-5
    # Single questions never exceed the cap; the catalogue call (larger than it) ran alone.
    assert embedder.batching.largest_pass == len(catalogue)
    assert embedder.batching.passes >= len(QUESTIONS) // 3 + 1


async def test_a_lone_question_runs_at_once_in_its_own_pass(make_embedder) -> None:  # type: ignore[no-untyped-def]
    embedder = make_embedder()
    vector = await embedder.embed(["a lone question"])
    assert vector.shape == (1, 384) and embedder.batching.passes == 1
    assert (await embedder.embed([])).shape == (0, 384)
    assert embedder.batching.calls == 1  # an empty call embeds nothing


async def test_a_shopper_who_leaves_before_the_pass_does_not_disturb_the_others() -> None:
    embedder = LocalEmbedder()
    busy = asyncio.create_task(embedder.embed([" ".join(QUESTIONS * 4)] * 32))  # keeps the model busy
    await asyncio.sleep(0)
    leaving = asyncio.create_task(embedder.embed(["I changed my mind"]))
    staying = asyncio.create_task(embedder.embed([QUESTIONS[2]]))
    await asyncio.sleep(0)
    leaving.cancel()

    kept = await staying
    await busy

    assert np.abs(kept[0] - embedder.embed_sync([QUESTIONS[2]])[0]).max() < 1e-5
    assert leaving.cancelled()


async def test_the_event_loop_stays_free_while_the_model_works() -> None:
    embedder = LocalEmbedder(batch_size=8)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    beating = asyncio.create_task(heartbeat())
    await embedder.embed([f"{question} " * 20 for question in QUESTIONS * 4])
    beating.cancel()
    assert ticks > 1


async def test_every_caller_of_a_failed_pass_hears_of_the_failure(tmp_path: Path) -> None:
    broken = OnnxEmbedder(model_file=tmp_path / "missing.onnx")

    outcomes = await asyncio.gather(*(broken.embed([question]) for question in QUESTIONS[:4]), return_exceptions=True)

    assert all(isinstance(outcome, EmbeddingError) for outcome in outcomes)
    assert (await asyncio.gather(broken.embed(["again"]), return_exceptions=True))[0].__class__ is EmbeddingError
