"""The bytes a cache value is stored as in Redis (seed 003).

orjson bytes behind a 1-byte marker: ``\\x00`` raw, ``\\x01`` zlib-compressed; compressed only
when the JSON is at least 1 KB and compression saves at least 20 %. Values must be
JSON-serialisable; Pydantic models are dumped in JSON mode.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from pydantic import BaseModel

RAW, ZLIB = b"\x00", b"\x01"
COMPRESS_MIN_BYTES = 1024
COMPRESS_MIN_SAVING = 0.20


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot cache a {type(value).__name__}")


def encode_value(value: Any, *, level: int = 6) -> bytes:
    """Serialise ``value`` with orjson behind seed 003's marker byte, zlib-compressed when it pays.

    Compressed when the JSON is ≥ ``COMPRESS_MIN_BYTES`` (1 KB) and the result is at least
    ``COMPRESS_MIN_SAVING`` (20 %) smaller. Raises ``TypeError`` for values JSON cannot hold.
    """
    raw = orjson.dumps(value, default=_default)
    if len(raw) >= COMPRESS_MIN_BYTES:
        packed = zlib.compress(raw, level)
        if len(packed) <= len(raw) * (1 - COMPRESS_MIN_SAVING):
            return ZLIB + packed
    return RAW + raw


def decode_value(data: bytes) -> Any:
    """Inverse of :func:`encode_value`; raises ``ValueError`` on an unknown marker."""
    marker, body = data[:1], data[1:]
    if marker == ZLIB:
        return orjson.loads(zlib.decompress(body))
    if marker == RAW:
        return orjson.loads(body)
    raise ValueError(f"unknown cache value marker {marker!r}")
