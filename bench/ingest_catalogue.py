"""Ingestion speed: the 5,810-row winemag catalogue into a fresh database, an unchanged re-ingest, and
the same catalogue into a second index (which the embedding cache serves without the model).

Runs ``samtale kb ingest`` as an operator would (a new process each time, model load included in
the wall time). By default only the columns that carry meaning are embedded: points, price and the
reviewer's name and handle stay metadata (``--metadata-only-columns``), as docs/operations.md
recommends; ``--all-columns`` embeds every column (the issue's 239 s baseline configuration).
The local model runs on ONNX Runtime (exported once to bench/results/cache/data, not timed) unless
``--runtime torch``.

    .venv/bin/python bench/ingest_catalogue.py [--rows N] [--runtime onnx|torch] [--all-columns]

Prints the figures and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SAMTALE_BENCH_DATA", ROOT.parent / "shared" / "data")).resolve()
CATALOGUE = DATA / "catalog" / "winemag-5k.csv"
RESULTS = ROOT / "bench" / "results"
SAMTALE = ROOT / ".venv" / "bin" / "samtale"
METADATA_ONLY = "points,price,taster_name,taster_twitter_handle"


def ingest(path: Path, env: dict[str, str], *, index: str, all_columns: bool) -> tuple[float, dict[str, Any], str]:
    """Run one ``samtale kb ingest``; returns (wall seconds, figures parsed from its summary, summary)."""
    command = [str(SAMTALE), "kb", "ingest", "--chatbot", "bench", "--index", index, "--id-column", "id"]
    if not all_columns:
        command += ["--metadata-only-columns", METADATA_ONLY]
    started = time.perf_counter()
    result = subprocess.run([*command, str(path)], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    summary = " ".join(result.stdout.split())
    figures: dict[str, Any] = {"wall_s": round(wall, 2)}
    if inside := re.search(r"in ([\d.]+) s, ([\d.]+) chunks/s", summary):
        figures["inside_s"] = float(inside.group(1))
    if embedded := re.search(r"\((\d+) embedded\)", summary):
        figures["chunks_embedded"] = int(embedded.group(1))
    return wall, figures, summary


def main() -> None:
    """Ingest, re-ingest, ingest into a second index; print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="ingest only the first N rows (0 = all)")
    parser.add_argument("--runtime", choices=("onnx", "torch"), default="onnx", help="local model runtime")
    parser.add_argument("--all-columns", action="store_true", help="embed every column, reviewer handles included")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="samtale-ingest-"))
    source = CATALOGUE
    if args.rows:
        source = tmp / "subset.csv"
        with CATALOGUE.open(encoding="utf-8") as src, source.open("w", encoding="utf-8", newline="") as dst:
            rows = list(csv.reader(src))[: args.rows + 1]
            csv.writer(dst).writerows(rows)
    data_dir = RESULTS / "cache" / "data"
    env = {
        **os.environ,
        "SAMTALE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db",
        "SAMTALE_DATA_DIR": str(data_dir),
        "SAMTALE_EMBEDDING_RUNTIME": args.runtime,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    subprocess.run([str(SAMTALE), "migrate"], env=env, check=True, capture_output=True)
    if args.runtime == "onnx":
        subprocess.run([str(SAMTALE), "embedder", "export-onnx"], env=env, check=True, capture_output=True)
    results: dict[str, Any] = {
        "rows": args.rows or "all",
        "runtime": args.runtime,
        "embedded_columns": "all" if args.all_columns else f"all but {METADATA_ONLY}",
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    runs = (
        ("first ingest", "wines"),
        ("unchanged re-ingest", "wines"),
        ("same catalogue into a second index", "wines-copy"),
    )
    for label, index in runs:
        _, figures, summary = ingest(source, env, index=index, all_columns=args.all_columns)
        results[label] = figures
        inside = f"{figures['inside_s']:.1f} s inside samtale" if "inside_s" in figures else "no figures"
        print(f"{label}: {figures['wall_s']:.1f} s wall (process start and model load included); {inside}\n  {summary}")
    results["load_average_after"] = os.getloadavg()
    print(
        f"runtime {args.runtime}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} "
        "(figures on a loaded machine are upper bounds)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
