"""Ingestion speed: the 5,810-row winemag catalogue into a fresh database, then an unchanged re-ingest.

Runs `samtale kb ingest` as a user would (new process, model load included in the first run's
wall time) and prints seconds and chunks/s for both runs.

    .venv/bin/python bench/ingest_catalogue.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = (ROOT / ".." / "shared" / "data" / "catalog" / "winemag-5k.csv").resolve()


def ingest(path: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [
            ROOT / ".venv" / "bin" / "samtale",
            "kb",
            "ingest",
            "--chatbot",
            "bench",
            "--index",
            "wines",
            "--id-column",
            "id",
            str(path),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - started, " ".join(result.stdout.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=0, help="ingest only the first N rows (0 = all)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="samtale-ingest-"))
    source = CATALOGUE
    if args.rows:
        source = tmp / "subset.csv"
        with CATALOGUE.open(encoding="utf-8") as src, source.open("w", encoding="utf-8", newline="") as dst:
            rows = list(csv.reader(src))[: args.rows + 1]
            csv.writer(dst).writerows(rows)
    env = {**os.environ, "SAMTALE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/bench.db", "HF_HUB_OFFLINE": "1"}
    subprocess.run([ROOT / ".venv" / "bin" / "samtale", "migrate"], env=env, check=True, capture_output=True)
    for label in ("first ingest", "unchanged re-ingest"):
        seconds, summary = ingest(source, env)
        inside = re.search(r"in ([\d.]+) s, ([\d.]+) chunks/s", summary)
        figures = f"{inside.group(1)} s inside samtale, {inside.group(2)} chunks/s" if inside else "no figures"
        print(f"{label}: {seconds:.1f} s wall (process start and model load included); {figures}\n  {summary}")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
