"""Retrieval latency: hybrid top-5 (faiss exact + BM25, RRF) with a metadata filter at 10k and 100k chunks.

The corpus is the real wine catalogue (5,810 rows, parsed, chunked and embedded as ``samtale kb
ingest`` does with the price, points and reviewer columns kept as metadata), repeated to the
target size: copy ``j`` of a chunk gets its vector jittered (Gaussian noise σ = 0.02, then
re-normalised) and a distinct id, so faiss sees no exact duplicates and BM25 sees the real
vocabulary with ~17× longer posting lists at 100k. The queries are the wine evaluation questions
(tests/knowledge/data/wine_questions.csv), embedded once before timing: the figures exclude the
query embedding, which is measured separately (single query, torch and ONNX Runtime).

    .venv/bin/python bench/retrieval.py [--sizes 10000,100000] [--repeat 3]

Prints a table and writes bench/results/retrieval.json. Embeddings are cached in
bench/results/cache/retrieval.db (the first run embeds the catalogue once, with ONNX Runtime when
bench/ingest_catalogue.py has exported the model, else torch); ``--cache-db URL`` reads them from
another samtale database's embedding cache instead (e.g. one the catalogue was ingested into).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from samtale.knowledge.chunking import chunk_document  # noqa: E402
from samtale.knowledge.embedders import (  # noqa: E402
    LocalEmbedder,
    OnnxEmbedder,
    build_local_embedder,
    export_onnx,
    onnx_export_dir,
)
from samtale.knowledge.embedding_cache import cached_embeddings, text_hash  # noqa: E402
from samtale.knowledge.evaluation import load_questions  # noqa: E402
from samtale.knowledge.lexical import Analyzer  # noqa: E402
from samtale.knowledge.parsers import CsvOptions, parse_file  # noqa: E402
from samtale.knowledge.repository import IndexHead  # noqa: E402
from samtale.knowledge.retrieval import FusionWeights, hybrid_search  # noqa: E402
from samtale.knowledge.snapshot import build_snapshot  # noqa: E402
from samtale.storage.db import create_database  # noqa: E402
from samtale.storage.migrate import upgrade_database  # noqa: E402

DATA = Path(os.environ.get("SAMTALE_BENCH_DATA", ROOT.parent / "shared" / "data")).resolve()
CATALOGUE = DATA / "catalog" / "winemag-5k.csv"
QUESTIONS = ROOT / "tests" / "knowledge" / "data" / "wine_questions.csv"
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"
METADATA_ONLY = ("points", "price", "taster_name", "taster_twitter_handle")
FILTERS: dict[str, dict[str, Any]] = {
    "none": {},
    "price <= 30": {"price": {"lte": 30}},
    "US and price <= 30": {"country": "US", "price": {"lte": 30}},
}


def _catalogue_chunks() -> list[tuple[str, str, str, dict[str, Any], str]]:
    """``(document id, title, text, metadata, embed text)`` of every chunk of the catalogue."""
    parsed = parse_file(CATALOGUE, csv_options=CsvOptions(id_column="id", metadata_only_columns=METADATA_ONLY))
    chunks = []
    for document in parsed.documents:
        for chunk in chunk_document(document):
            chunks.append(
                (document.external_id, chunk.title or "", chunk.text, dict(document.metadata), chunk.embed_text)
            )
    return chunks


async def _vectors(texts: list[str], cache_db: str | None) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    url = cache_db or f"sqlite+aiosqlite:///{CACHE / 'retrieval.db'}"
    upgrade_database(url)
    db = create_database(url)
    embedder = build_local_embedder(runtime="auto", data_dir=CACHE / "data")
    try:
        hashes = [text_hash(text) for text in texts]
        found, embedded = await cached_embeddings(db=db, embedder=embedder, texts=texts, hashes=hashes)
        if embedded:
            print(f"embedded {embedded} catalogue texts (cached for later runs)")
        return np.stack([found[key] for key in hashes]).astype(np.float32)
    finally:
        await db.dispose()


def _corpus(size: int, chunks: list[Any], vectors: np.ndarray, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    rows = []
    for position in range(size):
        source = position % len(chunks)
        copy = position // len(chunks)
        document_id, title, text, metadata, _ = chunks[source]
        vector = vectors[source]
        if copy:
            vector = vector + rng.normal(0.0, 0.02, vector.shape).astype(np.float32)
            vector /= np.linalg.norm(vector)
        rows.append(
            (
                f"c{position}",
                f"{document_id}~{copy}" if copy else document_id,
                text,
                title,
                "winemag-5k.csv",
                0,
                metadata,
                np.asarray(vector, dtype="<f4").tobytes(),
            )
        )
    return rows


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _query_latency(questions: list[str]) -> dict[str, float]:
    figures: dict[str, float] = {}
    embedders: list[tuple[str, Any]] = [("torch", LocalEmbedder())]
    try:
        model_file = export_onnx(target_dir=onnx_export_dir(CACHE / "data"))
        embedders.append(("onnx", OnnxEmbedder(model_file=model_file)))
    except Exception as exc:  # the bench reports what it could not measure
        print(f"ONNX Runtime not measured: {exc}")
    for name, embedder in embedders:
        embedder.embed_sync(["warm up"])
        times = []
        for question in questions[:100]:
            started = time.perf_counter()
            embedder.embed_sync([question])
            times.append((time.perf_counter() - started) * 1000)
        figures[f"query_embedding_{name}_p50_ms"] = round(statistics.median(times), 2)
        figures[f"query_embedding_{name}_p95_ms"] = round(_percentile(times, 95), 2)
    return figures


def main() -> None:
    """Build each corpus, time the searches, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the questions per corpus")
    parser.add_argument("--cache-db", default=None, help="database URL whose embedding cache holds the catalogue")
    args = parser.parse_args()
    chunks = _catalogue_chunks()
    vectors = asyncio.run(_vectors([chunk[4] for chunk in chunks], args.cache_db))
    questions = load_questions(QUESTIONS)
    query_vectors = LocalEmbedder().embed_sync([q.question for q in questions])
    weights = FusionWeights()
    rng = np.random.default_rng(7)
    results: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "weights": {
            "vector": weights.vector,
            "lexical": weights.lexical,
            "rrf_k": weights.rrf_k,
            "title_weight": weights.title_weight,
            "exact_title": weights.exact_title,
        },
        "sizes": {},
    }
    print(f"{'chunks':>8} {'filter':<20} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}  (top-5, query embedding excluded)")
    for size in [int(value) for value in args.sizes.split(",")]:
        head = IndexHead(
            id="bench", chatbot_id="bench", name="wines", embedding_model="all-MiniLM-L6-v2", dimension=384, version=1
        )
        started = time.perf_counter()
        snapshot = build_snapshot(head, _corpus(size, chunks, vectors, rng), analyzer=Analyzer())
        build_s = time.perf_counter() - started
        entry: dict[str, Any] = {"snapshot_build_s": round(build_s, 2), "filters": {}}
        for label, filters in FILTERS.items():
            hybrid_search(snapshot, query="warm up", query_vector=query_vectors[0], top_k=5, weights=weights)
            times: list[float] = []
            for _ in range(args.repeat):
                for question, vector in zip(questions, query_vectors, strict=True):
                    started = time.perf_counter()
                    hybrid_search(
                        snapshot,
                        query=question.question,
                        query_vector=vector,
                        top_k=5,
                        weights=weights,
                        filters=filters or None,
                    )
                    times.append((time.perf_counter() - started) * 1000)
            figures = {
                "p50_ms": round(statistics.median(times), 3),
                "p95_ms": round(_percentile(times, 95), 3),
                "mean_ms": round(statistics.fmean(times), 3),
                "searches": len(times),
            }
            entry["filters"][label] = figures
            print(
                f"{size:>8} {label:<20} {figures['p50_ms']:>8.2f} {figures['p95_ms']:>8.2f} {figures['mean_ms']:>8.2f}"
            )
        print(f"{size:>8} snapshot built in {build_s:.1f} s")
        results["sizes"][str(size)] = entry
    results.update(_query_latency([q.question for q in questions]))
    print(
        "single-query embedding p50: "
        + ", ".join(f"{key.split('_')[2]} {value} ms" for key, value in results.items() if key.endswith("p50_ms"))
    )
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: figures on a loaded machine are upper bounds"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retrieval.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
