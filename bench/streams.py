"""streams: 1,000 concurrent SSE answers at 20 tokens/s through one samtale worker.

The fake LLM paces every answer at 20 tokens/s (``stream_tokens`` tokens, so each answer lasts
a few seconds and all users' answers overlap); 1,000 users (200 in a quick run) each read one
answer after the other on the ``plain`` chatbot for the duration. Every token is checked: lost,
duplicated and reordered tokens must all be 0. The added inter-token delay is the gap between
two tokens as the client saw it minus the fake LLM's pacing (50 ms); the same users then read
straight from the fake LLM, so the delay the fake LLM and the client add on their own is known.
Server RSS is sampled (every 0.25 s, a sampler thread that paces nothing measured) during the load.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.common import (
    SEEDS,
    TARGETS,
    Settings,
    Stack,
    percentiles,
    rss_mb,
    running,
    server_env,
    start_fake_llm,
    start_samtale,
)
from bench.load import Watch, client_args, logs_dir, run_client
from bench.prepare import Template, fresh_copy


class RssSampler(threading.Thread):
    """Samples the resident memory of a process tree until stopped; keeps the peak."""

    def __init__(self, tree: Any) -> None:
        super().__init__(daemon=True)
        self.tree = tree
        self.peak = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Sample every 0.25 s."""
        while not self._stop_event.is_set():
            self.peak = max(self.peak, rss_mb(self.tree()))
            self._stop_event.wait(0.25)

    def stop(self) -> float:
        """Stop sampling and return the peak RSS in MiB."""
        self._stop_event.set()
        self.join()
        return round(self.peak, 1)


def run(settings: Settings, template: Template, tmp: Path) -> dict[str, Any]:
    """Run the benchmark; returns ``{lost, duplicated, reordered, added_delay_p99_ms, rss_mb, …}``."""
    logs = logs_dir(tmp, "streams")
    pacing_ms = 1000.0 / settings.stream_tokens_per_s
    users = settings.streams
    with running(Stack()) as stack:
        fake, llm_url = start_fake_llm(
            stack, logs=logs, tokens=settings.stream_tokens, tokens_per_s=settings.stream_tokens_per_s
        )
        env = server_env(
            database_url=fresh_copy(template, tmp / "streams"),
            llm_base_url=llm_url,
            data_dir=tmp / "streams" / "data",
            ai_connections=users + 50,
        )
        samtale, url = start_samtale(stack, env=env, workers=1, logs=logs)
        run_client(client_args(url=url, concurrency=8, turns=2, prefix="warm", tokens=settings.stream_tokens))
        idle_rss = round(rss_mb(samtale.tree()), 1)
        sampler = RssSampler(samtale.tree)
        sampler.start()
        watch = Watch({"server": samtale.tree, "fake_llm": fake.tree})
        watch.start()
        through = run_client(
            client_args(
                url=url,
                concurrency=users,
                duration_s=settings.stream_duration_s,
                prefix="streams",
                tokens=settings.stream_tokens,
                pacing_ms=pacing_ms,
            )
        )
        cpu = watch.stop()
        peak_rss = sampler.stop()
        direct = run_client(
            client_args(
                url=llm_url.removesuffix("/v1"),
                target="openai",
                concurrency=users,
                duration_s=settings.stream_duration_s,
                tokens=settings.stream_tokens,
                pacing_ms=pacing_ms,
            )
        )
    added = percentiles(through["added_gap_ms"])
    direct_added = percentiles(direct["added_gap_ms"])
    return {
        "streams": users,
        "workers": 1,
        "tokens_per_answer": settings.stream_tokens,
        "tokens_per_s": settings.stream_tokens_per_s,
        "duration_s": settings.stream_duration_s,
        "lost": through["lost"],
        "duplicated": through["duplicated"],
        "reordered": through["reordered"],
        "added_delay_p99_ms": added["p99"],
        "added_delay_ms": added,
        "rss_mb": peak_rss,
        "rss_idle_mb": idle_rss,
        "answers": through["ok"],
        "errors": through["errors"],
        "id_gaps": through["id_gaps"],
        "peak_concurrent": through["peak_in_flight"],
        "ttft_ms": percentiles(through["ttft_ms"]),
        "server_cpu_percent": cpu["server"],
        "fake_llm_cpu_percent": cpu["fake_llm"],
        "client_cpu_percent": through["cpu_percent"],
        "direct": {
            "answers": direct["ok"],
            "errors": direct["errors"],
            "lost": direct["lost"],
            "duplicated": direct["duplicated"],
            "reordered": direct["reordered"],
            "added_delay_ms": direct_added,
            "client_cpu_percent": direct["cpu_percent"],
        },
        "seed": SEEDS["tokens_per_s"],
        "target": TARGETS["streams"],
    }


def table(result: dict[str, Any]) -> Table:
    """The streams table: token checks, added delay against the fake LLM's own, memory."""
    out = Table(
        title=f"streams — {result['streams']} users, one worker, {result['tokens_per_answer']} tokens per answer at "
        f"{result['tokens_per_s']:g} tokens/s, {result['duration_s']:g} s; seed: {result['seed']}",
        title_justify="left",
    )
    for column in (
        "path",
        "answers",
        "peak streams",
        "lost",
        "dup",
        "reordered",
        "errors",
        "added delay p50/p95/p99 ms",
    ):
        out.add_column(column, justify="left" if column == "path" else "right")
    out.add_column("server RSS peak (idle) MiB", justify="right")
    out.add_column("server / client CPU %", justify="right")
    added = result["added_delay_ms"]
    direct = result["direct"]
    out.add_row(
        "through samtale",
        str(result["answers"]),
        str(result["peak_concurrent"]),
        str(result["lost"]),
        str(result["duplicated"]),
        str(result["reordered"]),
        str(sum(result["errors"].values())),
        " / ".join(str(added[k]) for k in ("p50", "p95", "p99")),
        f"{result['rss_mb']} ({result['rss_idle_mb']})",
        f"{result['server_cpu_percent']} / {result['client_cpu_percent']}",
    )
    out.add_row(
        "fake LLM directly",
        str(direct["answers"]),
        "",
        str(direct["lost"]),
        str(direct["duplicated"]),
        str(direct["reordered"]),
        str(sum(direct["errors"].values())),
        " / ".join(str(direct["added_delay_ms"][k]) for k in ("p50", "p95", "p99")),
        "",
        f"— / {direct['client_cpu_percent']}",
    )
    out.caption = f"target: {result['target']}"
    return out
