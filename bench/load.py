"""Running the two load generators as separate processes, with the CPU they used.

- :func:`run_wrk`: wrk (C, from Debian) with ``bench/turns.lua`` — raw turns/s and total latency;
  only answers that hold their ``end`` event count.
- :func:`run_client`: ``bench.sse_client`` (httpx + asyncio) — time to first token and to the end,
  every event checked.

A load generator's CPU seconds are the growth of this process's ``RUSAGE_CHILDREN`` across the
call (the servers are still running then, so only the generator has been reaped), divided by
the wall time: 100 % is one core.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.common import PYTHON, ROOT, cpu_seconds

LUA = ROOT / "bench" / "turns.lua"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Watch:
    """CPU seconds of watched process trees between :meth:`start` and :meth:`stop`, as % of a core."""

    def __init__(self, trees: dict[str, Callable[[], list[int]]]) -> None:
        self.trees = trees
        self._before: dict[str, float] = {}
        self._started = 0.0

    def start(self) -> None:
        """Note the CPU seconds so far."""
        self._started = time.perf_counter()
        self._before = {name: cpu_seconds(tree()) for name, tree in self.trees.items()}

    def stop(self) -> dict[str, float]:
        """Each tree's CPU use since :meth:`start`, in % of one core."""
        wall = time.perf_counter() - self._started
        return {
            name: round(100 * (cpu_seconds(tree()) - self._before[name]) / wall, 1) if wall > 0 else 0.0
            for name, tree in self.trees.items()
        }


def wrk_available() -> bool:
    """True when the ``wrk`` command is installed."""
    return shutil.which("wrk") is not None


def run_wrk(*, url: str, chatbot: str, concurrency: int, duration_s: float, timeout_s: float = 30.0) -> dict[str, Any]:
    """Run wrk for ``duration_s`` with ``concurrency`` connections; returns its WRKJSON summary plus
    ``turns_per_s`` (complete answers per second) and ``cpu_percent`` of the generator.

    Raises:
        RuntimeError: wrk missing, failed, or printed no summary.
    """
    if not wrk_available():
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (see bench/README.md)")
    threads = max(1, min(2, concurrency))
    args = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration_s:g}s", f"--timeout={timeout_s:g}s"]
    args += ["-s", str(LUA), url, "--", chatbot]
    before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - before
    line = next((line for line in result.stdout.splitlines() if line.startswith("WRKJSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    summary: dict[str, Any] = orjson.loads(line[len("WRKJSON ") :])
    seconds = summary["duration_us"] / 1e6
    summary["turns_per_s"] = round(summary["complete"] / seconds, 1) if seconds else None
    summary["errors"] = summary["incomplete"] + summary["failed_status"] + sum(summary["socket_errors"].values())
    summary["cpu_percent"] = round(100 * cpu / wall, 1)
    summary["threads"] = threads
    return summary


def run_client(args: Sequence[str], *, timeout_s: float = 600.0) -> dict[str, Any]:
    """Run ``bench.sse_client`` with ``args``; returns its JSON summary plus ``cpu_percent``.

    Raises:
        RuntimeError: the client failed or printed no summary.
    """
    with tempfile.TemporaryDirectory(prefix="samtale-client-") as folder:
        output = Path(folder) / "summary.json"
        before = _children_cpu()
        started = time.perf_counter()
        result = subprocess.run(
            [str(PYTHON), "-m", "bench.sse_client", *args, "--output", str(output)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout_s,
        )
        wall = time.perf_counter() - started
        cpu = _children_cpu() - before
        if result.returncode != 0 or not output.exists():
            raise RuntimeError(f"sse_client {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        summary: dict[str, Any] = orjson.loads(output.read_bytes())
    summary["cpu_percent"] = round(100 * cpu / wall, 1)
    return summary


def client_args(
    *,
    url: str,
    concurrency: int,
    chatbot: str = "plain",
    duration_s: float | None = None,
    turns: int | None = None,
    prefix: str = "load",
    target: str = "sse",
    tokens: int = 20,
    pacing_ms: float = 0.0,
) -> list[str]:
    """The command-line options of ``bench.sse_client`` for one run."""
    args = ["--target", target, "--url", url, "--chatbot", chatbot, "--prefix", prefix, "-c", str(concurrency)]
    args += ["--tokens", str(tokens)]
    if turns is not None:
        args += ["--turns", str(turns)]
    if duration_s is not None:
        args += ["--duration", f"{duration_s:g}"]
    if pacing_ms:
        args += ["--pacing-ms", f"{pacing_ms:g}"]
    return args


def logs_dir(tmp: Path, name: str) -> Path:
    """Where a benchmark's children write their logs."""
    path = tmp / name / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
