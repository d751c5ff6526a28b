"""The database every HTTP benchmark starts from, built once through samtale's own CLI.

``samtale migrate``, ``samtale chatbots import bench/chatbots.yaml`` (chatbots ``plain`` and
``rag``) and ``samtale kb ingest`` of the first 1,000 rows of ``winemag-5k.csv`` into the ``rag``
chatbot's index ``wines``. Embedding those rows is the slow part (tens of seconds), so the built
SQLite file is kept in ``bench/results/cache/`` under a key of everything it depends on (the YAML,
the rows, the migrations, the ingest path of samtale/knowledge); each benchmark then starts from its own fresh
copy (:func:`fresh_copy`). ``--rebuild`` builds it again regardless.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from bench.common import BIN, DATA, MODELS, ROOT, ensure_onnx_export

CHATBOTS_YAML = ROOT / "bench" / "chatbots.yaml"
CATALOGUE = DATA / "catalog" / "winemag-5k.csv"
CACHE = ROOT / "bench" / "results" / "cache"
#: What shapes the stored data: the schema (migrations) and the parsing, chunking, embedding and ingest code.
KEY_SOURCES = (
    "samtale/storage/migrations",
    *(
        f"samtale/knowledge/{name}.py"
        for name in (
            "parsers",
            "chunking",
            "embedders",
            "embedder_base",
            "local_embedders",
            "onnx_export",
            "embedding_cache",
            "ingest",
            "repository",
            "types",
        )
    ),
    "samtale/llm/context.py",
)


@dataclass(frozen=True)
class Template:
    """A prepared database: its file and how it was made."""

    path: Path
    rows: int
    chunks: int | None
    built_in_s: float | None
    ingest_summary: str


def catalogue_rows(rows: int) -> bytes:
    """The CSV header and the first ``rows`` rows of the wine catalogue, as CSV bytes.

    Raises:
        FileNotFoundError: when the shared data is not at ``SAMTALE_BENCH_DATA`` (../shared/data).
    """
    if not CATALOGUE.exists():
        raise FileNotFoundError(
            f"the wine catalogue is not at {CATALOGUE}; set SAMTALE_BENCH_DATA to the shared data folder"
        )
    with CATALOGUE.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        selected = [row for _, row in zip(range(rows + 1), reader, strict=False)]
    out = io.StringIO()
    csv.writer(out).writerows(selected)
    return out.getvalue().encode("utf-8")


def cache_key(csv_bytes: bytes, runtime: str = "onnx") -> str:
    """SHA-256 (16 hex digits) of the YAML, the rows, the migrations, the knowledge ingest path and
    the embedding runtime (ONNX and torch vectors agree to cosine ≥ 0.9999, not bit for bit)."""
    digest = hashlib.sha256(CHATBOTS_YAML.read_bytes() + csv_bytes + runtime.encode())
    for source in KEY_SOURCES:
        paths = [ROOT / source] if source.endswith(".py") else sorted((ROOT / source).rglob("*.py"))
        for path in paths:
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    digest.update(os.environ.get("SAMTALE_EMBEDDING_MODEL", "").encode())
    return digest.hexdigest()[:16]


def _cli(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([str(BIN / "samtale"), *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"samtale {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def build_template(*, rows: int = 1000, rebuild: bool = False, log: bool = True) -> Template:
    """The prepared database for ``rows`` catalogue rows: from the cache, or built now."""
    csv_bytes = catalogue_rows(rows)
    runtime = ensure_onnx_export()
    key = cache_key(csv_bytes, runtime)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"template-{key}.db"
    summary_path = path.with_suffix(".txt")
    if path.exists() and summary_path.exists() and not rebuild:
        summary = summary_path.read_text()
        return Template(path=path, rows=rows, chunks=_chunks(summary), built_in_s=None, ingest_summary=summary)
    for stale in CACHE.glob("template-*"):
        stale.unlink()
    for stale in CACHE.glob("build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = CACHE / f"build-{key}"
    work.mkdir(exist_ok=True)
    source = work / "winemag-first-rows.csv"
    source.write_bytes(csv_bytes)
    database = work / "bench.db"
    database.unlink(missing_ok=True)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SAMTALE_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "SAMTALE_DATA_DIR": str(work / "data"),
        "SAMTALE_MODELS_DIR": str(MODELS),
        "SAMTALE_BENCH_LLM_KEY": "fake-key",
    }
    started = time.perf_counter()
    if log:
        print(f"preparing the benchmark database ({rows} catalogue rows to embed; cached afterwards)…", flush=True)
    _cli(["migrate"], env)
    _cli(["chatbots", "import", str(CHATBOTS_YAML)], env)
    ingest = _cli(["kb", "ingest", "--chatbot", "rag", "--index", "wines", "--id-column", "id", str(source)], env)
    built_in = time.perf_counter() - started
    summary = " ".join(ingest.split())
    _backup(database, path)
    summary_path.write_text(summary)
    shutil.rmtree(work, ignore_errors=True)
    return Template(path=path, rows=rows, chunks=_chunks(summary), built_in_s=built_in, ingest_summary=summary)


def _chunks(summary: str) -> int | None:
    match = re.search(r"(\d+) chunks written", summary)
    return int(match.group(1)) if match else None


def _backup(source: Path, target: Path) -> None:
    target.unlink(missing_ok=True)
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def fresh_copy(template: Template, folder: Path) -> str:
    """Copy the prepared database into ``folder``; returns its SQLAlchemy URL."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "bench.db"
    _backup(template.path, target)
    return f"sqlite+aiosqlite:///{target}"
