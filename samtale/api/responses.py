"""``FastJSONResponse``: Starlette's ``JSONResponse`` rendered with orjson (FastAPI's
``ORJSONResponse`` is deprecated).

orjson stays because it is measurably faster (``python -m bench.contract_timings json``: timeit,
best of 5, µs per response built from a dict shaped as the API returns it; Python 3.11, orjson
3.13, pydantic 2.14, the shared 2-core CI machine, where absolute figures vary run to run by up
to 3x but the order never changed):

=====================================  ==========================  =======================
body                                   polling, 63 events, 8.4 kB  process-message, 372 B
=====================================  ==========================  =======================
``JSONResponse`` (``json.dumps``)      113                         7.0
response model (validate + dump_json)  330                         3.1
``FastJSONResponse`` (orjson)          29                          1.8
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
