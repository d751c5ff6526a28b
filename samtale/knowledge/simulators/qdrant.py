"""A Qdrant server simulator: collections and points over Qdrant's REST API, in memory.

Follows the REST shapes ``qdrant-client`` (1.x, ``prefer_grpc=False``) speaks; every answer is
``{"result": …, "status": "ok", "time": …}``, errors ``{"status": {"error": …}, "time": …}``:

- ``GET /`` → ``{title, version}``; ``GET /collections``.
- ``PUT /collections/{name}`` ``{vectors: {size, distance}, metadata}`` → ``true`` (409 if it exists).
- ``GET /collections/{name}`` → collection info (``config.params.vectors``, ``config.metadata``,
  ``points_count``); 404 when missing. ``GET /collections/{name}/exists``; ``DELETE``.
- ``PUT /collections/{name}/points`` ``{points: [{id, vector, payload}]}`` → ``{operation_id, status}``
  (400 on a wrong vector size or an id that is neither an unsigned integer nor a UUID).
- ``POST /collections/{name}/points/query`` ``{query: [..], filter, limit, with_payload}`` →
  ``{points: [{id, version, score, payload?}]}``; cosine (vectors normalised on insert, as
  Qdrant does), dot or euclidean distance.
- ``POST /collections/{name}/points/delete`` ``{points: [ids]}`` or ``{filter}``.
- ``POST /collections/{name}/points/scroll`` ``{limit, offset, filter}`` → ``{points, next_page_offset}``
  (ordered by id).
- ``POST /collections/{name}/points/count`` ``{filter}`` → ``{count}``.

Filters: ``must``, ``should``, ``must_not`` of field conditions (``match: {value | any | except}``,
``range: {lt, lte, gt, gte}``), ``is_empty``, ``has_id`` and nested filters.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

SIMULATED_VERSION = "1.15.0"


@dataclass(slots=True)
class SimCollection:
    """One simulated collection: vector size, distance, metadata and ``{id: (vector, payload)}``."""

    size: int
    distance: str
    metadata: dict[str, Any] | None
    points: dict[Any, tuple[np.ndarray, dict[str, Any]]] = field(default_factory=dict)
    operations: int = 0


def _ok(result: Any, started: float) -> JSONResponse:
    return JSONResponse({"result": result, "status": "ok", "time": time.perf_counter() - started})


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": {"error": message}, "time": 0.0}, status_code=status)


def _point_id(raw: Any) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if isinstance(raw, str):
        return str(uuid.UUID(raw))
    raise ValueError(f"Unable to parse point id {raw!r}: expected an unsigned integer or a UUID")


def _values(payload: Mapping[str, Any], key: str) -> list[Any]:
    value = payload.get(key)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _condition(point_id: Any, payload: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    if any(k in condition for k in ("must", "should", "must_not")):
        return matches_filter(point_id, payload, condition)
    if "has_id" in condition:
        return point_id in {_point_id(raw) for raw in condition["has_id"]}
    if "is_empty" in condition:
        return not _values(payload, condition["is_empty"]["key"])
    key = condition.get("key")
    if key is None:
        raise ValueError(f"unsupported condition {sorted(condition)}")
    values = _values(payload, key)
    match = condition.get("match")
    if match is not None:
        if "value" in match:
            return match["value"] in values
        if "any" in match:
            return any(value in match["any"] for value in values)
        if "except" in match:
            return bool(values) and all(value not in match["except"] for value in values)
        raise ValueError(f"unsupported match {sorted(match)}")
    bounds = condition.get("range")
    if bounds is not None:
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        return any(
            (bounds.get("lt") is None or v < bounds["lt"])
            and (bounds.get("lte") is None or v <= bounds["lte"])
            and (bounds.get("gt") is None or v > bounds["gt"])
            and (bounds.get("gte") is None or v >= bounds["gte"])
            for v in numbers
        )
    raise ValueError(f"condition on {key} needs match or range")


def matches_filter(point_id: Any, payload: Mapping[str, Any], query_filter: Mapping[str, Any] | None) -> bool:
    """Whether a point meets a Qdrant filter (``must`` all, ``should`` any, ``must_not`` none).

    Raises:
        ValueError: a condition the simulator does not know (the server answers 400).
    """
    if not query_filter:
        return True
    must = query_filter.get("must") or []
    should = query_filter.get("should") or []
    must_not = query_filter.get("must_not") or []
    must = [must] if isinstance(must, Mapping) else must
    should = [should] if isinstance(should, Mapping) else should
    must_not = [must_not] if isinstance(must_not, Mapping) else must_not
    if not all(_condition(point_id, payload, c) for c in must):
        return False
    if should and not any(_condition(point_id, payload, c) for c in should):
        return False
    return not any(_condition(point_id, payload, c) for c in must_not)


def _info(collection: SimCollection) -> dict[str, Any]:
    return {
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 1,
        "points_count": len(collection.points),
        "indexed_vectors_count": 0,
        "config": {
            "params": {
                "vectors": {"size": collection.size, "distance": collection.distance},
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": True,
            },
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "on_disk": False},
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 0,
                "flush_interval_sec": 5,
            },
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            "metadata": collection.metadata,
        },
        "payload_schema": {},
    }


def _sort_key(point_id: Any) -> tuple[int, str]:
    return (0, f"{point_id:020d}") if isinstance(point_id, int) else (1, str(point_id))


def create_qdrant_simulator(*, api_key: str | None = None) -> FastAPI:
    """A FastAPI app simulating a Qdrant server (see the module doc); ``api_key`` = required ``api-key``."""
    app = FastAPI(title="Qdrant simulator")
    collections: dict[str, SimCollection] = {}
    app.state.collections = collections

    @app.middleware("http")
    async def _authenticate(request: Request, call_next: Any) -> Response:
        if api_key is not None and request.headers.get("api-key") != api_key:
            return _fail(401, "Must provide an API key or an Authorization bearer token")
        response: Response = await call_next(request)
        return response

    @app.get("/")
    async def root() -> Response:
        return JSONResponse({"title": "qdrant - vector search engine", "version": SIMULATED_VERSION})

    @app.get("/collections")
    async def list_collections() -> Response:
        return _ok({"collections": [{"name": name} for name in sorted(collections)]}, time.perf_counter())

    @app.put("/collections/{name}")
    async def create_collection(name: str, request: Request) -> Response:
        started = time.perf_counter()
        body = await request.json()
        vectors = body.get("vectors") or {}
        if not isinstance(vectors.get("size"), int) or vectors.get("distance") not in ("Cosine", "Dot", "Euclid"):
            return _fail(400, "Bad request: vectors needs a size and a distance (Cosine, Dot or Euclid)")
        if name in collections:
            return _fail(409, f"Wrong input: Collection `{name}` already exists!")
        collections[name] = SimCollection(
            size=vectors["size"], distance=vectors["distance"], metadata=body.get("metadata")
        )
        return _ok(True, started)

    def missing(name: str) -> JSONResponse:
        return _fail(404, f"Not found: Collection `{name}` doesn't exist!")

    @app.get("/collections/{name}")
    async def get_collection(name: str) -> Response:
        if name not in collections:
            return missing(name)
        return _ok(_info(collections[name]), time.perf_counter())

    @app.get("/collections/{name}/exists")
    async def collection_exists(name: str) -> Response:
        return _ok({"exists": name in collections}, time.perf_counter())

    @app.delete("/collections/{name}")
    async def delete_collection(name: str) -> Response:
        return _ok(collections.pop(name, None) is not None, time.perf_counter())

    def updated(collection: SimCollection, started: float) -> JSONResponse:
        collection.operations += 1
        return _ok({"operation_id": collection.operations, "status": "completed"}, started)

    @app.put("/collections/{name}/points")
    async def upsert(name: str, request: Request) -> Response:
        started = time.perf_counter()
        collection = collections.get(name)
        if collection is None:
            return missing(name)
        body = await request.json()
        staged: list[tuple[Any, np.ndarray, dict[str, Any]]] = []
        for point in body.get("points") or []:
            try:
                point_id = _point_id(point.get("id"))
            except ValueError as exc:
                return _fail(400, f"Format error in JSON body: {exc}")
            vector = np.asarray(point.get("vector") or [], dtype=np.float32)
            if vector.shape != (collection.size,):
                return _fail(
                    400, f"Wrong input: Vector dimension error: expected dim: {collection.size}, got {vector.size}"
                )
            if collection.distance == "Cosine":
                norm = float(np.linalg.norm(vector))
                vector = vector / norm if norm else vector
            staged.append((point_id, vector, dict(point.get("payload") or {})))
        for point_id, vector, payload in staged:
            collection.points[point_id] = (vector, payload)
        return updated(collection, started)

    @app.post("/collections/{name}/points/query")
    async def query(name: str, request: Request) -> Response:
        started = time.perf_counter()
        collection = collections.get(name)
        if collection is None:
            return missing(name)
        body = await request.json()
        vector = body.get("query")
        if isinstance(vector, Mapping):
            vector = vector.get("nearest")
        if not isinstance(vector, list) or len(vector) != collection.size:
            return _fail(400, f"Wrong input: Vector dimension error: expected dim: {collection.size}")
        limit = int(body.get("limit") or 10)
        try:
            chosen = [
                key
                for key, (_, payload) in collection.points.items()
                if matches_filter(key, payload, body.get("filter"))
            ]
        except ValueError as exc:
            return _fail(400, f"Bad request: {exc}")
        points: list[dict[str, Any]] = []
        if chosen:
            matrix = np.stack([collection.points[key][0] for key in chosen])
            query_vector = np.asarray(vector, dtype=np.float32)
            if collection.distance == "Euclid":
                scores = np.linalg.norm(matrix - query_vector, axis=1)
                order = np.argsort(scores, kind="stable")
            else:
                if collection.distance == "Cosine":
                    norm = float(np.linalg.norm(query_vector))
                    query_vector = query_vector / norm if norm else query_vector
                scores = matrix @ query_vector
                order = np.argsort(-scores, kind="stable")
            for position in order[:limit].tolist():
                key = chosen[position]
                point: dict[str, Any] = {"id": key, "version": collection.operations, "score": float(scores[position])}
                if body.get("with_payload"):
                    point["payload"] = collection.points[key][1]
                points.append(point)
        return _ok({"points": points}, started)

    @app.post("/collections/{name}/points/delete")
    async def delete(name: str, request: Request) -> Response:
        started = time.perf_counter()
        collection = collections.get(name)
        if collection is None:
            return missing(name)
        body = await request.json()
        try:
            if "points" in body:
                gone = [_point_id(raw) for raw in body["points"]]
            elif "filter" in body:
                gone = [key for key, (_, p) in collection.points.items() if matches_filter(key, p, body["filter"])]
            else:
                return _fail(400, "Bad request: delete needs points or a filter")
        except ValueError as exc:
            return _fail(400, f"Bad request: {exc}")
        for key in gone:
            collection.points.pop(key, None)
        return updated(collection, started)

    @app.post("/collections/{name}/points/scroll")
    async def scroll(name: str, request: Request) -> Response:
        started = time.perf_counter()
        collection = collections.get(name)
        if collection is None:
            return missing(name)
        body = await request.json()
        limit = int(body.get("limit") or 10)
        try:
            keys = sorted(
                (k for k, (_, p) in collection.points.items() if matches_filter(k, p, body.get("filter"))),
                key=_sort_key,
            )
            offset = body.get("offset")
            if offset is not None:
                start_key = _sort_key(_point_id(offset))
                keys = [k for k in keys if _sort_key(k) >= start_key]
        except ValueError as exc:
            return _fail(400, f"Bad request: {exc}")
        page = keys[:limit]
        points = []
        for key in page:
            point: dict[str, Any] = {"id": key}
            if body.get("with_payload"):
                point["payload"] = collection.points[key][1]
            if body.get("with_vector"):
                point["vector"] = collection.points[key][0].tolist()
            points.append(point)
        return _ok({"points": points, "next_page_offset": keys[limit] if len(keys) > limit else None}, started)

    @app.post("/collections/{name}/points/count")
    async def count(name: str, request: Request) -> Response:
        started = time.perf_counter()
        collection = collections.get(name)
        if collection is None:
            return missing(name)
        body = await request.json()
        try:
            total = sum(1 for k, (_, p) in collection.points.items() if matches_filter(k, p, body.get("filter")))
        except ValueError as exc:
            return _fail(400, f"Bad request: {exc}")
        return _ok({"count": total}, started)

    return app
