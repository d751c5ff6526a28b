"""turns: C concurrent clients (1, 8, 50, 200) on chatbots ``plain`` and ``rag``, and on the pass-through.

One ``samtale serve --workers N`` on a fresh copy of the prepared database (both chatbots), the
pass-through baseline with the same worker count, and the fake LLM answering 20 tokens at zero
latency. For each C and each target, interleaved (so a change in the machine's load hits all
three alike): wrk + Lua for turns/s (complete answers only), then the httpx client for time to
first token and to the end with every event checked. Every samtale turn is processed in full:
routed, retrieved (``rag``), streamed, stored and timed.
"""

from __future__ import annotations

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
from bench.load import Watch, client_args, logs_dir, run_client, run_wrk
from bench.prepare import Template, fresh_copy

TOKENS = 20
TARGET_NAMES = ("passthrough", "plain", "rag")


def run(settings: Settings, template: Template, tmp: Path) -> dict[str, Any]:
    """Run the benchmark; returns ``{plain|rag|passthrough: {C: figures}, …}`` (see bench/README.md)."""
    logs = logs_dir(tmp, "turns")
    result: dict[str, Any] = {
        "workers": settings.workers,
        "fake_llm": {"ttft_ms": 0.0, "tokens_per_s": 0.0, "tokens": TOKENS},
        "wrk_duration_s": settings.wrk_duration_s,
        "client_duration_s": settings.client_duration_s,
        "seed": {"turns_per_s": SEEDS["turns_per_s"], "total_ms": SEEDS["total_ms"], "ttft_ms": SEEDS["ttft_ms"]},
        "target": {"plain": TARGETS["turns_plain_50"], "rag": TARGETS["turns_rag_50"]},
    }
    with running(Stack()) as stack:
        fake, llm_url = start_fake_llm(stack, logs=logs, tokens=TOKENS)
        database_url = fresh_copy(template, tmp / "turns")
        env = server_env(
            database_url=database_url,
            llm_base_url=llm_url,
            data_dir=tmp / "turns" / "data",
            ai_connections=max(settings.concurrency) + 10,
        )
        samtale, samtale_url = start_samtale(stack, env=env, workers=settings.workers, logs=logs)
        passthrough, passthrough_url = start_passthrough(
            stack, llm_base_url=llm_url, workers=settings.workers, logs=logs
        )
        targets = {
            "passthrough": (passthrough_url, "plain", passthrough),
            "plain": (samtale_url, "plain", samtale),
            "rag": (samtale_url, "rag", samtale),
        }
        for name, (url, chatbot, _) in targets.items():  # load models, indexes and caches first
            run_client(client_args(url=url, chatbot=chatbot, concurrency=8, turns=10, prefix=f"warm-{name}"))
        for concurrency in settings.concurrency:
            for name in TARGET_NAMES:
                url, chatbot, child = targets[name]
                watch = Watch({"server": child.tree, "fake_llm": fake.tree})
                watch.start()
                wrk = run_wrk(url=url, chatbot=chatbot, concurrency=concurrency, duration_s=settings.wrk_duration_s)
                cpu = watch.stop()
                client = run_client(
                    client_args(
                        url=url,
                        chatbot=chatbot,
                        concurrency=concurrency,
                        duration_s=settings.client_duration_s,
                        prefix=f"turns-{name}",
                    )
                )
                result.setdefault(name, {})[str(concurrency)] = _point(wrk, client, cpu)
                print(f"  turns {name:<11} C={concurrency:<4} {wrk['turns_per_s']:>7} turns/s", flush=True)
    for name in ("plain", "rag"):
        for concurrency, point in result[name].items():
            base = result["passthrough"][concurrency]
            point["vs_passthrough"] = {
                "turns_per_s": _ratio(point["turns_per_s"], base["turns_per_s"]),
                "ttft_p50": _ratio(point["ttft_ms"]["p50"], base["ttft_ms"]["p50"]),
            }
    return result


def _ratio(value: float | None, base: float | None) -> float | None:
    return round(value / base, 2) if value is not None and base else None


def _point(wrk: dict[str, Any], client: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    latency = {key: round(wrk["latency_us"][key] / 1000, 2) for key in ("p50", "p95", "p99")}
    return {
        "turns_per_s": wrk["turns_per_s"],
        "ttft_ms": percentiles(client["ttft_ms"]),
        "total_ms": percentiles(client["total_ms"]),
        "errors": wrk["errors"] + sum(client["errors"].values()),
        "wrk": {
            "requests": wrk["requests"],
            "complete": wrk["complete"],
            "incomplete": wrk["incomplete"],
            "failed_status": wrk["failed_status"],
            "socket_errors": wrk["socket_errors"],
            "total_ms": latency,
            "threads": wrk["threads"],
            "cpu_percent": wrk["cpu_percent"],
        },
        "client": {
            "turns_per_s": client["turns_per_s"],
            "ok": client["ok"],
            "errors": client["errors"],
            "lost": client["lost"],
            "duplicated": client["duplicated"],
            "reordered": client["reordered"],
            "id_gaps": client["id_gaps"],
            "cpu_percent": client["cpu_percent"],
        },
        "server_cpu_percent": cpu["server"],
        "fake_llm_cpu_percent": cpu["fake_llm"],
    }


def table(result: dict[str, Any]) -> Table:
    """The turns table: one row per chatbot and C."""
    out = Table(
        title=f"turns — {result['workers']} worker(s), fake LLM {TOKENS} tokens at zero latency; "
        f"seed: {result['seed']['turns_per_s']}, {result['seed']['total_ms']}",
        title_justify="left",
    )
    for column in ("target", "C", "turns/s", "× pass", "TTFT p50/p95/p99 ms", "total p50/p95/p99 ms"):
        out.add_column(column, justify="right" if column not in ("target",) else "left")
    for column in ("errors", "server CPU %", "wrk CPU %", "client CPU %"):
        out.add_column(column, justify="right")
    for name in TARGET_NAMES:
        for concurrency, point in result.get(name, {}).items():
            ratio = point.get("vs_passthrough", {}).get("turns_per_s")
            out.add_row(
                name,
                concurrency,
                f"{point['turns_per_s']}",
                "—" if ratio is None else f"{ratio:.2f}",
                _triple(point["ttft_ms"]),
                _triple(point["total_ms"]),
                str(point["errors"]),
                f"{point['server_cpu_percent']}",
                f"{point['wrk']['cpu_percent']}",
                f"{point['client']['cpu_percent']}",
            )
    out.caption = f"targets at C=50: plain {result['target']['plain']}, rag {result['target']['rag']}"
    return out


def _triple(figures: dict[str, float | None]) -> str:
    return " / ".join("—" if figures[key] is None else f"{figures[key]:.1f}" for key in ("p50", "p95", "p99"))
