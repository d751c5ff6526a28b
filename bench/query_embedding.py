"""Query embedding under load: runtime × intra-op threads × continuous batching (DESIGN section 18).

Every turn of a chatbot with a knowledge base or semantic routing embeds the shopper's question
once. This measures, in one process with the embedders the server uses:

* **single**: one question at a time (p50/p95 ms), the figure behind routing's ≤ 10 ms target;
* **load**: C concurrent callers (asyncio tasks) each embedding question after question for a
  few seconds, while a busy event loop (pure-Python work in 1 ms slices, holding the GIL as a
  serving worker does) shares the process: questions/s, per-question p50/p95 ms, and the mean
  texts per forward pass.

Each configuration gets a fresh embedder: runtime ``torch`` or ``onnx`` (exported once into the
models dir, not timed), ``threads`` 1 or 2 (``SAMTALE_EMBEDDING_THREADS``), and batch cap 1 (no
coalescing: one pass per question, as before continuous batching) or 32
(``SAMTALE_EMBEDDING_QUERY_BATCH_MAX``). Figures depend on the machine's load (printed).

    .venv/bin/python -m bench.query_embedding [--seconds 4] [--concurrency 50] [--runtime onnx]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.common import MODELS, ROOT, percentiles
from samtale.knowledge.embedders import LocalEmbedder, LocalModelEmbedder, OnnxEmbedder, export_onnx, onnx_export_dir

QUESTIONS = [
    f"{start} {wine} {end}"
    for start, wine, end in itertools.product(
        ("do you have a", "I am looking for a", "recommend me a", "what about a"),
        ("dry Riesling", "Pinot Noir from Oregon", "Douro red", "Chianti Classico", "sweet Tokaji", "rosé"),
        ("under $20?", "for a dinner with salmon", "that is not too tannic", "", "with a long finish"),
    )
]


def embedder_for(runtime: str, *, threads: int, batch_max: int) -> LocalModelEmbedder:
    """A fresh embedder of ``runtime`` with ``threads`` intra-op threads and batch cap ``batch_max``."""
    if runtime == "torch":
        return LocalEmbedder(threads=threads, query_batch_max=batch_max)
    model_file = export_onnx(target_dir=onnx_export_dir(MODELS.parent, models_dir=MODELS))
    return OnnxEmbedder(model_file=model_file, threads=threads, query_batch_max=batch_max)


async def single(embedder: LocalModelEmbedder, repeats: int) -> dict[str, Any]:
    """One question at a time, ``repeats`` times: p50/p95 ms."""
    samples = []
    for question in itertools.islice(itertools.cycle(QUESTIONS), repeats):
        started = time.perf_counter()
        await embedder.embed([question])
        samples.append((time.perf_counter() - started) * 1000.0)
    return percentiles(samples)


async def load(embedder: LocalModelEmbedder, *, concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` callers embedding questions for ``seconds`` beside a busy event loop."""
    deadline = time.perf_counter() + seconds
    samples: list[float] = []
    before = embedder.batching

    async def caller(offset: int) -> None:
        for question in itertools.cycle(QUESTIONS[offset:] + QUESTIONS[:offset]):
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            await embedder.embed([question])
            samples.append((time.perf_counter() - started) * 1000.0)

    async def busy_loop() -> None:
        while time.perf_counter() < deadline:
            until = time.perf_counter() + 0.001
            while time.perf_counter() < until:
                pass
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(busy_loop(), *(caller(n % len(QUESTIONS)) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    after = embedder.batching
    passes = max(1, after.passes - before.passes)
    return {
        "questions_per_s": round(len(samples) / elapsed, 1),
        "ms": percentiles(samples),
        "texts_per_pass": round((after.texts - before.texts) / passes, 1),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration, one after another; the figures as JSON."""
    results: dict[str, Any] = {"load_average_before": os.getloadavg(), "configurations": []}
    for runtime, threads, batch_max in itertools.product(args.runtime, args.threads, args.batch_max):
        embedder = embedder_for(runtime, threads=threads, batch_max=batch_max)
        await embedder.embed(QUESTIONS[:8])  # load the model
        row = {
            "runtime": runtime,
            "threads": threads,
            "batch_max": batch_max,
            "single_ms": await single(embedder, args.single),
            "load": await load(embedder, concurrency=args.concurrency, seconds=args.seconds),
            "load_1m": round(os.getloadavg()[0], 2),
        }
        results["configurations"].append(row)
        load_figures = row["load"]
        print(
            f"{runtime:5} threads={threads} batch_max={batch_max:<3} single p50 {row['single_ms']['p50']:6.2f} ms "
            f"p95 {row['single_ms']['p95']:6.2f} | C={args.concurrency}: {load_figures['questions_per_s']:7.1f} q/s "
            f"p50 {load_figures['ms']['p50']:8.1f} ms p95 {load_figures['ms']['p95']:8.1f} ms, "
            f"{load_figures['texts_per_pass']:5.1f} texts/pass | load {row['load_1m']}",
            flush=True,
        )
    results["load_average_after"] = os.getloadavg()
    return results


def main() -> None:
    """Parse the options, measure, print and write ``bench/results/query_embedding.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runtime", nargs="+", default=["onnx", "torch"], choices=["onnx", "torch"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batch-max", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--single", type=int, default=200, help="single questions per configuration")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "query_embedding.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    results = asyncio.run(measure(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"load average {results['load_average_before'][0]:.2f} → {results['load_average_after'][0]:.2f}")


if __name__ == "__main__":
    main()
