"""What every benchmark shares: processes it starts and stops, /proc readings, percentiles, seeds.

Each benchmark starts its own servers as child processes in their own process group (so
``samtale serve --workers N`` and its workers stop together), waits for readiness by polling an
HTTP endpoint, and stops them with SIGTERM (SIGKILL after 15 s). CPU time and RSS are read from
``/proc`` for a process and its descendants (Linux only).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PYTHON = BIN / "python"
#: The shared real data (``../shared/data`` next to the checkout), overridable for other layouts.
DATA = Path(os.environ.get("SAMTALE_BENCH_DATA", ROOT.parent / "shared" / "data")).resolve()
#: One ONNX export of the embedding model shared by every benchmark server, the prepared database
#: and ``make run`` (its default ``data/models``); ``SAMTALE_MODELS_DIR`` overrides it.
MODELS = Path(os.environ.get("SAMTALE_MODELS_DIR", ROOT / "data" / "models")).resolve()
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

#: The users' own figures (seeds 002 and 003), printed beside ours. Seed 003 "Load testing": 50
#: users, 200 req/s, average 45 ms, p95 120 ms, p99 280 ms; "Bulk insert 1000 messages: 780 ms";
#: "Load conversation with messages: with eager loading 120 ms"; message search 95–120 ms.
#: Seed 002 "Success Metrics": < 2 s to first token, > 10 tokens/s.
SEEDS: dict[str, str] = {
    "turns_per_s": "200 req/s at 50 users (seed 003)",
    "total_ms": "avg 45, p95 120, p99 280 ms at 50 users (seed 003)",
    "ttft_ms": "< 2,000 ms to first token (seed 002)",
    "tokens_per_s": "> 10 tokens/s (seed 002)",
    "bulk_insert_1000_ms": "780 ms (seed 003)",
    "load_50_messages_ms": "120 ms with eager loading (seed 003)",
    "latest_20_of_10000_ms": "38 ms (seed 003)",
    "message_search_ms": "95–120 ms (seed 003; bench/store_search.py measures it)",
}
#: DESIGN section 18 / issue 7 goals on this 2-core machine (fake LLM at zero latency).
TARGETS: dict[str, str] = {
    "turns_plain_50": ">= 400 turns/s at 50 clients",
    "turns_rag_50": ">= 200 turns/s at 50 clients",
    "overhead_plain_p50": "<= 5 ms",
    "overhead_rag_p50": "<= 15 ms (query embedding included)",
    "streams": "0 lost, duplicated or reordered tokens at 1,000 streams",
    "bulk_insert_1000_ms": "<= 50 ms",
    "load_50_messages_ms": "<= 5 ms",
    "latest_20_of_10000_ms": "<= 5 ms",
}


def free_port() -> int:
    """An ephemeral TCP port on loopback that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentiles(values: Sequence[float], digits: int = 2) -> dict[str, float | None]:
    """p50, p95 and p99 of ``values`` by nearest rank (None when empty)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], digits)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99)}


# -- /proc readings ---------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its living descendants (read from ``/proc/*/task/*/children``)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        if not Path(f"/proc/{current}").exists():
            continue
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                pending.extend(int(child) for child in (task / "children").read_text().split())
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (processes that exited are skipped)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLK_TCK


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory of ``pids`` summed, in MiB."""
    pages = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE / (1024 * 1024)


# -- child processes --------------------------------------------------------------------------


@dataclass
class Child:
    """A process the benchmark started (in its own process group) and must stop."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The process id of the group leader."""
        return self.process.pid

    def tree(self) -> list[int]:
        """The leader and its descendants (uvicorn workers)."""
        return process_tree(self.pid)

    def stop(self) -> None:
        """SIGTERM the process group, wait up to 15 s, then SIGKILL it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(5)

    def tail(self, lines: int = 20) -> str:
        """The last lines of the child's log (for error messages)."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def start_child(name: str, args: Sequence[str | Path], *, env: dict[str, str], logs: Path) -> Child:
    """Start ``args`` in a new session (own process group), output to ``logs/name.log``."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [str(arg) for arg in args],
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Child(name=name, process=process, log=log)


def wait_ready(child: Child, url: str, *, timeout_s: float = 180.0) -> None:
    """Poll ``url`` until it answers 200.

    Raises:
        RuntimeError: the child exited, or ``timeout_s`` passed (with the child's log tail).
    """
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.2)  # readiness polling only; no measured figure depends on it
    raise RuntimeError(f"{child.name} not ready at {url} after {timeout_s:.0f} s:\n{child.tail()}")


@dataclass
class Stack:
    """The children of one benchmark, stopped together (last started, first stopped)."""

    children: list[Child] = field(default_factory=list)

    def add(self, child: Child) -> Child:
        """Track ``child`` so :meth:`stop` ends it."""
        self.children.append(child)
        return child

    def stop(self) -> None:
        """Stop every child (newest first)."""
        for child in reversed(self.children):
            child.stop()
        self.children.clear()


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    """Yield ``stack`` and stop all its children on the way out, whatever happened."""
    try:
        yield stack
    finally:
        stack.stop()


def start_fake_llm(
    stack: Stack, *, logs: Path, ttft_ms: float = 0.0, tokens_per_s: float = 0.0, tokens: int = 20
) -> tuple[Child, str]:
    """Start ``bench.fake_llm`` and return it with its OpenAI base URL (``http://…/v1``)."""
    port = free_port()
    child = stack.add(
        start_child(
            "fake-llm",
            [
                PYTHON,
                "-m",
                "bench.fake_llm",
                "--port",
                str(port),
                "--ttft-ms",
                str(ttft_ms),
                "--tokens-per-s",
                str(tokens_per_s),
                "--tokens",
                str(tokens),
            ],
            env=dict(os.environ),
            logs=logs,
        )
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    wait_ready(child, f"{base_url}/models", timeout_s=60)
    return child, base_url


def server_env(*, database_url: str, llm_base_url: str, data_dir: Path, ai_connections: int) -> dict[str, str]:
    """The environment of a benchmarked ``samtale serve`` (see bench/README.md, "Settings")."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "SAMTALE_DATABASE_URL": database_url,
        "SAMTALE_DATA_DIR": str(data_dir),
        "SAMTALE_MODELS_DIR": str(MODELS),
        "SAMTALE_OPENAI_BASE_URL": llm_base_url,
        "SAMTALE_BENCH_LLM_KEY": "fake-key",
        "SAMTALE_POOL_AI_CONNECTIONS": str(ai_connections),
        "SAMTALE_LOG_LEVEL": "warning",
    }


def ensure_onnx_export() -> str:
    """Export the embedding model to ONNX under :data:`MODELS` unless a current export is there
    (``samtale embedder export-onnx``, ~20 s once), so servers run ONNX as after ``make run``.
    Returns the runtime the servers will use: ``onnx``, or ``torch`` when
    ``SAMTALE_EMBEDDING_RUNTIME=torch`` is set (then nothing is exported)."""
    if os.environ.get("SAMTALE_EMBEDDING_RUNTIME") == "torch":
        return "torch"
    from samtale.knowledge.embedders import onnx_export_current, onnx_export_dir

    if not onnx_export_current(onnx_export_dir(MODELS.parent, models_dir=MODELS)):
        env = {**os.environ, "SAMTALE_MODELS_DIR": str(MODELS), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        subprocess.run([str(BIN / "samtale"), "embedder", "export-onnx"], env=env, cwd=ROOT, check=True)
    return "onnx"


def start_samtale(stack: Stack, *, env: dict[str, str], workers: int, logs: Path) -> tuple[Child, str]:
    """Start ``samtale serve --workers N`` and return it with its base URL once /health answers."""
    port = free_port()
    child = stack.add(
        start_child(
            "samtale",
            [BIN / "samtale", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            logs=logs,
        )
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(child, f"{base}/health")
    return child, base


def start_passthrough(stack: Stack, *, llm_base_url: str, workers: int, logs: Path) -> tuple[Child, str]:
    """Start the pass-through baseline (bench/passthrough.py) under uvicorn with ``workers``."""
    port = free_port()
    env = {**os.environ, "BENCH_UPSTREAM_URL": llm_base_url}
    args: list[str | Path] = [PYTHON, "-m", "uvicorn", "bench.passthrough:app", "--port", str(port)]
    args += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    child = stack.add(start_child("passthrough", args, env=env, logs=logs))
    base = f"http://127.0.0.1:{port}"
    wait_ready(child, f"{base}/health", timeout_s=60)
    return child, base


# -- the machine ------------------------------------------------------------------------------


def _command_output(args: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (result.stdout or result.stderr).strip().splitlines()[0] if (result.stdout or result.stderr) else ""


def machine_info() -> dict[str, Any]:
    """Cores, load, memory and the versions a run depends on (python, samtale commit, wrk, …)."""
    meminfo = {
        line.split(":")[0]: line.split(":")[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
    }
    sha = _command_output(["git", "rev-parse", "--short=12", "HEAD"])
    dirty = _command_output(["git", "status", "--porcelain", "--untracked-files=no"])
    versions: dict[str, str] = {
        "python": platform.python_version(),
        "samtale_git_sha": sha + ("+uncommitted" if dirty else ""),
        "wrk": _command_output(["wrk", "--version"]) if shutil.which("wrk") else "not installed",
    }
    for package in ("fastapi", "uvicorn", "httpx", "sqlalchemy", "openai", "uvloop", "httptools"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    return {
        "cores": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "memory_total": meminfo.get("MemTotal"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "versions": versions,
        "argv": sys.argv,
    }


@dataclass
class Settings:
    """The sizes of one run: full (``make bench``) or quick (``make bench QUICK=1``)."""

    quick: bool
    workers: int
    concurrency: list[int]
    wrk_duration_s: float
    client_duration_s: float
    overhead_turns: int
    streams: int
    stream_tokens: int
    stream_tokens_per_s: float
    stream_duration_s: float
    storage_repeats: int

    @classmethod
    def for_run(cls, *, quick: bool, workers: int) -> Settings:
        """Full sizes fit 10 minutes on a quiet 2-core machine; quick ones about 3."""
        if quick:
            return cls(
                quick=True,
                workers=workers,
                concurrency=[1, 8, 50, 200],
                wrk_duration_s=2.0,
                client_duration_s=2.0,
                overhead_turns=60,
                streams=200,
                stream_tokens=40,
                stream_tokens_per_s=20.0,
                stream_duration_s=4.0,
                storage_repeats=5,
            )
        return cls(
            quick=False,
            workers=workers,
            concurrency=[1, 8, 50, 200],
            wrk_duration_s=8.0,
            client_duration_s=5.0,
            overhead_turns=300,
            streams=1000,
            stream_tokens=60,
            stream_tokens_per_s=20.0,
            stream_duration_s=15.0,
            storage_repeats=20,
        )
