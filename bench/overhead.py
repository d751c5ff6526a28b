"""overhead: what samtale adds to the LLM's own time to first token, for one client.

One fake LLM (zero latency, 20 tokens), samtale on a fresh copy of the prepared database and the
pass-through baseline. A single client sends its turns in rounds — straight to the fake LLM (its
own TTFT, measured in the same run), through the pass-through, through samtale's ``plain`` and
``rag`` — so a change in the machine's load spreads over all four. Overhead at a percentile is
that percentile of the TTFT through samtale minus the same percentile straight from the fake LLM.
After the server stopped (its recorder drained), the per-phase times of the measured turns are
read from its ``conversation_processing_metrics`` rows.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.common import (
    SEEDS,
    TARGETS,
    Settings,
    Stack,
    percentiles,
    running,
    server_env,
    start_fake_llm,
    start_passthrough,
    start_samtale,
)
from bench.load import client_args, logs_dir, run_client
from bench.prepare import Template, fresh_copy

ROUNDS = 3
PHASES = (
    "config_ms",
    "routing_ms",
    "retrieval_ms",
    "order_ms",
    "prompt_ms",
    "llm_ttft_ms",
    "ttft_ms",
    "stream_ms",
    "total_ms",
    "persist_ms",
)


def run(settings: Settings, template: Template, tmp: Path) -> dict[str, Any]:
    """Run the benchmark; returns ``{plain|rag: {p50_ms, p99_ms, phases}, direct, passthrough}``."""
    logs = logs_dir(tmp, "overhead")
    per_round = max(1, settings.overhead_turns // ROUNDS)
    samples: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    with running(Stack()) as stack:
        _, llm_url = start_fake_llm(stack, logs=logs, tokens=20)
        database = fresh_copy(template, tmp / "overhead")
        env = server_env(
            database_url=database, llm_base_url=llm_url, data_dir=tmp / "overhead" / "data", ai_connections=16
        )
        _, samtale_url = start_samtale(stack, env=env, workers=settings.workers, logs=logs)
        _, passthrough_url = start_passthrough(stack, llm_base_url=llm_url, workers=settings.workers, logs=logs)
        llm_origin = llm_url.removesuffix("/v1")
        runs: dict[str, dict[str, Any]] = {
            "direct": dict(url=llm_origin, target="openai"),
            "passthrough": dict(url=passthrough_url, chatbot="plain"),
            "plain": dict(url=samtale_url, chatbot="plain"),
            "rag": dict(url=samtale_url, chatbot="rag"),
        }
        for name, options in runs.items():
            run_client(client_args(concurrency=1, turns=20, prefix=f"warm-{name}", **options))
        for _ in range(ROUNDS):
            for name, options in runs.items():
                summary = run_client(client_args(concurrency=1, turns=per_round, prefix="ovh", **options))
                if summary["errors"]:
                    raise RuntimeError(f"{name}: errors in the single-client run: {summary['errors']}")
                samples[name].extend(summary["ttft_ms"])
                cpu[name].append(summary["cpu_percent"])
    phases = _phases(database.split(":///", 1)[1])
    direct = percentiles(samples["direct"], 3)
    result: dict[str, Any] = {
        "workers": settings.workers,
        "turns_per_target": per_round * ROUNDS,
        "direct": {"ttft_ms": direct},
        "seed": SEEDS["ttft_ms"],
        "target": {"plain": TARGETS["overhead_plain_p50"], "rag": TARGETS["overhead_rag_p50"]},
    }
    for name in ("passthrough", "plain", "rag"):
        ttft = percentiles(samples[name], 3)
        result[name] = {
            "p50_ms": _minus(ttft["p50"], direct["p50"]),
            "p99_ms": _minus(ttft["p99"], direct["p99"]),
            "ttft_ms": ttft,
            "client_cpu_percent": round(sum(cpu[name]) / len(cpu[name]), 1),
        }
        if name in phases:
            result[name]["phases"] = phases[name]
    return result


def _minus(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else round(value - base, 3)


def _phases(path: str) -> dict[str, dict[str, Any]]:
    """p50/p99 of each phase column over the measured (``ovh-…``) turns, per chatbot."""
    columns = ", ".join(f"m.{phase}" for phase in PHASES)
    query = (
        f"SELECT m.chatbot_id, {columns} FROM conversation_processing_metrics m "
        "JOIN conversation_sessions s ON s.id = m.session_id WHERE s.user_id LIKE 'ovh-%'"
    )
    rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    with closing(sqlite3.connect(path)) as connection:
        for row in connection.execute(query):
            rows[row[0]].append(row[1:])
    out: dict[str, dict[str, Any]] = {}
    for chatbot, values in rows.items():
        figures: dict[str, Any] = {"turns": len(values)}
        for index, phase in enumerate(PHASES):
            column = [float(v[index]) for v in values if v[index] is not None]
            figures[phase] = {k: v for k, v in percentiles(column, 3).items() if k != "p95"}
        out[chatbot] = figures
    return out


def table(result: dict[str, Any]) -> Table:
    """The overhead table: TTFT and overhead per target, then the phase breakdown."""
    direct = result["direct"]["ttft_ms"]
    out = Table(
        title=f"overhead — one client, {result['turns_per_target']} turns each, {result['workers']} worker(s); "
        f"fake LLM's own TTFT p50 {direct['p50']} ms, p99 {direct['p99']} ms; "
        f"seed: TTFT {result['seed']}",
        title_justify="left",
    )
    for column in ("target", "TTFT p50 ms", "TTFT p99 ms", "overhead p50 ms", "overhead p99 ms", "phases p50 ms"):
        out.add_column(column, justify="left" if column in ("target", "phases p50 ms") else "right")
    for name in ("passthrough", "plain", "rag"):
        item = result[name]
        phases = item.get("phases", {})
        breakdown = ", ".join(
            f"{phase.removesuffix('_ms')} {phases[phase]['p50']}"
            for phase in PHASES
            if phase in phases and phases[phase]["p50"] not in (None, 0.0)
        )
        out.add_row(
            name,
            str(item["ttft_ms"]["p50"]),
            str(item["ttft_ms"]["p99"]),
            str(item["p50_ms"]),
            str(item["p99_ms"]),
            breakdown or "—",
        )
    out.caption = f"targets (overhead p50): plain {result['target']['plain']}, rag {result['target']['rag']}"
    return out
