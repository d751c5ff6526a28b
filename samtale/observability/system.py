"""System state recorded with each error (seed 000 §4.1): memory, uptime, active streams."""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_STARTED_MONOTONIC = time.monotonic()
_active_streams: Callable[[], int] | None = None


def register_active_streams(counter: Callable[[], int] | None) -> None:
    """Register the function that returns how many SSE streams are generating now (the stream hub's);
    None unregisters it."""
    global _active_streams
    _active_streams = counter


# Looked up once at import. Reading it is a procfs read answered by the kernel from memory (no
# disk), so rss_mb may run inside the event loop (tests/conftest.py allows it by name).
_STATM: Path | None = Path("/proc/self/statm") if Path("/proc/self/statm").exists() else None


def rss_mb() -> float:
    """Resident memory of this process in MB: current from ``/proc/self/statm`` on Linux, else the
    peak from ``resource.getrusage`` (kilobytes on Linux, bytes on macOS)."""
    if _STATM is not None:
        pages = int(_STATM.read_text().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1_048_576 if sys.platform == "darwin" else 1024), 1)


def uptime_s() -> float:
    """Seconds since samtale's observability package was imported (≈ since the worker started)."""
    return round(time.monotonic() - _STARTED_MONOTONIC, 1)


def system_state() -> dict[str, Any]:
    """``{rss_mb, uptime_s, active_streams, pid}``; ``active_streams`` is None until a counter is
    registered or when the counter itself fails."""
    streams: int | None = None
    if _active_streams is not None:
        try:
            streams = int(_active_streams())
        except Exception:
            streams = None
    return {"rss_mb": rss_mb(), "uptime_s": uptime_s(), "active_streams": streams, "pid": os.getpid()}
