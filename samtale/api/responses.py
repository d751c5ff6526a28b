"""``FastJSONResponse``: Starlette's ``JSONResponse`` rendered with orjson (FastAPI's
``ORJSONResponse`` is deprecated).

orjson stays because it is measurably faster (``python -m bench.contract_timings json``: timeit,
best of 5, the 2-core CI machine, Python 3.11, orjson 3.13, pydantic 2.14, response built from a
dict shaped as the API returns it):

=====================================  ==========================  =======================
body                                   polling, 63 events, 8.5 kB  process-message, 364 B
=====================================  ==========================  =======================
``JSONResponse`` (``json.dumps``)      356 µs                      15.7 µs
response model (validate + dump_json)  292 µs                      9.6 µs
``FastJSONResponse`` (orjson)          49 µs                       5.8 µs
=====================================  ==========================  =======================

The hot routes (process-message, polling) therefore build their body as a dict and return a
``FastJSONResponse``; their ``response_model`` documents the body in OpenAPI and the
contract tests (``tests/api``, ``make contract``) check that the bodies match it.
Output is byte-for-byte that of ``ORJSONResponse`` (same orjson options): compact, UTF-8,
non-string dict keys allowed.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


class FastJSONResponse(JSONResponse):
    """A JSON response serialised by orjson (compact UTF-8, like ``JSONResponse``)."""

    def render(self, content: Any) -> bytes:
        """``content`` as JSON bytes."""
        return orjson.dumps(content, option=_OPTIONS)
