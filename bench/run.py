"""``make bench``: the four benchmarks of DESIGN section 18, a table each, and bench/results/latest.json.

    .venv/bin/python -m bench.run [--quick] [--workers 1] [--only turns,overhead,streams,storage]
                                  [--output bench/results/latest.json] [--rebuild] [--keep]

Every benchmark starts what it needs and stops it (see bench/README.md). ``--quick`` runs short
versions of all four (for development on a busy machine); the figures of a quick run are
labelled as such in the JSON.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench import overhead, storage, streams, turns
from bench.common import ROOT, SEEDS, TARGETS, Settings, machine_info, raise_open_files_limit
from bench.prepare import build_template

BENCHMARKS = ("turns", "overhead", "streams", "storage")


def main() -> int:
    """Run the chosen benchmarks in order, print their tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short durations and sizes (development)")
    parser.add_argument("--workers", type=int, default=1, help="samtale serve --workers (and the pass-through's)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of " + ", ".join(BENCHMARKS)
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached prepared database")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (databases, server logs)")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    console = Console(width=200)
    settings = Settings.for_run(quick=args.quick, workers=args.workers)
    open_files = raise_open_files_limit()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "run": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "quick": settings.quick,
            "workers": settings.workers,
            "open_files_limit": open_files,
            "sizes": {key: value for key, value in vars(settings).items() if key not in ("quick", "workers")},
        },
        "machine": machine_info(),
        "seeds": SEEDS,
        "targets": TARGETS,
    }
    machine = report["machine"]
    console.print(
        f"[bold]samtale benchmarks[/bold] ({'quick' if settings.quick else 'full'}): {machine['cores']} cores, "
        f"load {machine['load_average_at_start']}, python {machine['versions']['python']}, "
        f"samtale {machine['versions']['samtale_git_sha']}, {machine['versions']['wrk']}, "
        f"{settings.workers} worker(s)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="samtale-bench-"))
    try:
        needs_template = any(name in chosen for name in ("turns", "overhead", "streams"))
        if needs_template:
            template = build_template()
            report["prepared_database"] = {
                "catalogue_rows": template.rows,
                "chunks": template.chunks,
                "built_in_s": None if template.built_in_s is None else round(template.built_in_s, 1),
                "from_cache": template.built_in_s is None,
                "ingest": template.ingest_summary,
            }
        runners: dict[str, Callable[[], dict[str, Any]]] = {
            "turns": lambda: turns.run(settings, template, tmp),
            "overhead": lambda: overhead.run(settings, template, tmp),
            "streams": lambda: streams.run(settings, template, tmp),
            "storage": lambda: storage.run(settings, tmp),
        }
        tables = {"turns": turns.table, "overhead": overhead.table, "streams": streams.table, "storage": storage.table}
        for name in chosen:
            console.rule(name)
            began = time.perf_counter()
            try:
                result = runners[name]()
            except Exception as exc:  # one failing benchmark must not hide the others' figures
                report[name] = {"failed": f"{type(exc).__name__}: {exc}"}
                console.print(f"[red]{name} failed:[/red] {exc}")
                continue
            result["elapsed_s"] = round(time.perf_counter() - began, 1)
            report[name] = result
            console.print(tables[name](result))
    finally:
        if args.keep:
            console.print(f"temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report["run"]["elapsed_s"] = round(time.perf_counter() - started, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    console.print(f"wrote {args.output} in {report['run']['elapsed_s']} s")
    return 1 if any(isinstance(report.get(name), dict) and "failed" in report[name] for name in chosen) else 0


if __name__ == "__main__":
    sys.exit(main())
