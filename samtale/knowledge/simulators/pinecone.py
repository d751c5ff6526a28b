"""A Pinecone simulator: the control plane (indexes) and the data plane (vectors) of serverless indexes.

Follows Pinecone's REST API as the official ``pinecone`` client (v10) speaks it:

Control plane (``Api-Key`` header):

- ``POST /indexes`` ``{name, schema: {fields: {<name>: {type: dense_vector, dimension, metric}}},
  deployment, tags, deletion_protection}`` → 201 the index model (409 ``ALREADY_EXISTS``).
- ``GET /indexes/{name}`` → the index model (``status.ready`` true, ``host``); 404 ``NOT_FOUND``.
- ``GET /indexes``, ``DELETE /indexes/{name}``.

Data plane, one host per index; here ``{origin}/data/{index}`` stands for that host:

- ``POST /vectors/upsert`` ``{vectors: [{id, values, metadata}], namespace}`` → ``{upsertedCount}``
  (400 when a vector's length is not the index dimension, as Pinecone answers).
- ``POST /query`` ``{vector, topK, namespace, filter, includeMetadata, includeValues}`` →
  ``{matches: [{id, score, metadata?}], namespace, usage}``; cosine, dot product or euclidean.
- ``POST /vectors/delete`` ``{ids | filter | deleteAll, namespace}`` → ``{}``.
- ``GET /vectors/list?namespace&prefix&limit&paginationToken`` → ``{vectors: [{id}], pagination}``
  (ids sorted, at most 100 per page as in Pinecone).
- ``POST /describe_index_stats`` → ``{namespaces: {ns: {vectorCount}}, dimension, totalVectorCount…}``.

Metadata filters use Pinecone's operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $and $or``
(a bare value means ``$eq``). Everything lives in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

LIST_PAGE_LIMIT = 100
MAX_TOP_K = 10_000


@dataclass(slots=True)
class SimIndex:
    """One simulated index: its settings and ``{namespace: {id: (values, metadata)}}``."""

    name: str
    dimension: int
    metric: str
    field_name: str
    deployment: dict[str, Any]
    tags: dict[str, str] | None
    deletion_protection: str
    namespaces: dict[str, dict[str, tuple[np.ndarray, dict[str, Any]]]] = field(default_factory=dict)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}, "status": status}, status_code=status)


def _data_error(status: int, message: str) -> JSONResponse:
    # The data plane answers gRPC-style errors: {"code": <grpc code>, "message", "details"}.
    return JSONResponse({"code": 3 if status == 400 else 5, "message": message, "details": []}, status_code=status)


def matches_filter(metadata: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` meets a Pinecone filter expression.

    Raises:
        ValueError: an unknown operator (the server answers 400).
    """
    for key, value in condition.items():
        if key == "$and":
            if not all(matches_filter(metadata, part) for part in value):
                return False
        elif key == "$or":
            if not any(matches_filter(metadata, part) for part in value):
                return False
        elif key.startswith("$"):
            raise ValueError(f"unknown top-level operator {key}")
        elif isinstance(value, Mapping):
            for operator, operand in value.items():
                if not _field_matches(metadata, key, operator, operand):
                    return False
        elif not _field_matches(metadata, key, "$eq", value):
            return False
    return True


def _field_matches(metadata: Mapping[str, Any], key: str, operator: str, operand: Any) -> bool:
    present = key in metadata
    value = metadata.get(key)
    if operator == "$exists":
        return present == bool(operand)
    if operator == "$eq":
        return present and (operand in value if isinstance(value, list) else value == operand)
    if operator == "$ne":
        return not present or (operand not in value if isinstance(value, list) else value != operand)
    if operator == "$in":
        return present and (any(v in operand for v in value) if isinstance(value, list) else value in operand)
    if operator == "$nin":
        return not present or (
            all(v not in operand for v in value) if isinstance(value, list) else value not in operand
        )
    if operator in ("$gt", "$gte", "$lt", "$lte"):
        if not present or isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return {
            "$gt": value > operand,
            "$gte": value >= operand,
            "$lt": value < operand,
            "$lte": value <= operand,
        }[operator]
    raise ValueError(f"unknown operator {operator}")


def create_pinecone_simulator(*, api_key: str = "sim-pinecone-key") -> FastAPI:
    """A FastAPI app simulating Pinecone (see the module doc); requests need ``Api-Key: api_key``."""
    app = FastAPI(title="Pinecone simulator")
    indexes: dict[str, SimIndex] = {}
    app.state.indexes = indexes

    @app.middleware("http")
    async def _authenticate(request: Request, call_next: Any) -> Response:
        if request.headers.get("api-key") != api_key:
            return _error(401, "UNAUTHENTICATED", "Invalid API Key")
        response: Response = await call_next(request)
        return response

    def model(index: SimIndex, request: Request) -> dict[str, Any]:
        origin = str(request.base_url).rstrip("/")
        return {
            "name": index.name,
            "host": f"{origin}/data/{index.name}",
            "status": {"ready": True, "state": "Ready"},
            "schema": {
                "fields": {
                    index.field_name: {"type": "dense_vector", "dimension": index.dimension, "metric": index.metric}
                }
            },
            "deployment": index.deployment,
            "deletion_protection": index.deletion_protection,
            "tags": index.tags,
        }

    @app.post("/indexes")
    async def create_index(request: Request) -> Response:
        body = await request.json()
        name = body.get("name")
        fields = (body.get("schema") or {}).get("fields") or {}
        dense = [(key, spec) for key, spec in fields.items() if spec.get("type") == "dense_vector"]
        if not name or len(dense) != 1 or not isinstance(dense[0][1].get("dimension"), int):
            return _error(400, "INVALID_ARGUMENT", "an index needs a name and one dense_vector field with a dimension")
        if name in indexes:
            return _error(409, "ALREADY_EXISTS", f"Resource {name} already exists")
        field_name, spec = dense[0]
        indexes[name] = SimIndex(
            name=name,
            dimension=spec["dimension"],
            metric=spec.get("metric") or "cosine",
            field_name=field_name,
            deployment=body.get("deployment") or {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
            tags=body.get("tags"),
            deletion_protection=body.get("deletion_protection") or "disabled",
        )
        return JSONResponse(model(indexes[name], request), status_code=201)

    @app.get("/indexes")
    async def list_indexes(request: Request) -> Response:
        return JSONResponse({"indexes": [model(index, request) for index in indexes.values()]})

    @app.get("/indexes/{name}")
    async def describe_index(name: str, request: Request) -> Response:
        if name not in indexes:
            return _error(404, "NOT_FOUND", f"Resource {name} not found")
        return JSONResponse(model(indexes[name], request))

    @app.delete("/indexes/{name}")
    async def delete_index(name: str) -> Response:
        if indexes.pop(name, None) is None:
            return _error(404, "NOT_FOUND", f"Resource {name} not found")
        return Response(status_code=202)

    def data_index(name: str) -> SimIndex | None:
        return indexes.get(name)

    @app.post("/data/{name}/vectors/upsert")
    async def upsert(name: str, request: Request) -> Response:
        index = data_index(name)
        if index is None:
            return _data_error(404, f"index {name} not found")
        body = await request.json()
        vectors = body.get("vectors") or []
        namespace = index.namespaces.setdefault(body.get("namespace") or "", {})
        for vector in vectors:
            values = vector.get("values") or []
            if len(values) != index.dimension:
                return _data_error(
                    400, f"Vector dimension {len(values)} does not match the dimension of the index {index.dimension}"
                )
            metadata = vector.get("metadata") or {}
            if any(value is None or isinstance(value, dict) for value in metadata.values()):
                return _data_error(400, "Metadata values must be strings, numbers, booleans or lists of strings")
            namespace[str(vector["id"])] = (np.asarray(values, dtype=np.float32), dict(metadata))
        return JSONResponse({"upsertedCount": len(vectors)})

    def scores(index: SimIndex, matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
        if index.metric == "euclidean":
            return np.asarray(np.linalg.norm(matrix - query, axis=1), dtype=np.float64)
        dots = matrix @ query
        if index.metric == "dotproduct":
            return np.asarray(dots, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
        norms[norms == 0] = 1.0
        return np.asarray(dots / norms, dtype=np.float64)

    @app.post("/data/{name}/query")
    async def query(name: str, request: Request) -> Response:
        index = data_index(name)
        if index is None:
            return _data_error(404, f"index {name} not found")
        body = await request.json()
        top_k = body.get("topK")
        vector = body.get("vector")
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            return _data_error(400, f"topK must be between 1 and {MAX_TOP_K}")
        if not isinstance(vector, list) or len(vector) != index.dimension:
            return _data_error(
                400, f"Query vector dimension does not match the dimension of the index {index.dimension}"
            )
        namespace_name = body.get("namespace") or ""
        namespace = index.namespaces.get(namespace_name, {})
        condition = body.get("filter") or {}
        try:
            ids = [key for key, (_, meta) in namespace.items() if not condition or matches_filter(meta, condition)]
        except ValueError as exc:
            return _data_error(400, f"Invalid filter: {exc}")
        matches: list[dict[str, Any]] = []
        if ids:
            matrix = np.stack([namespace[key][0] for key in ids])
            found = scores(index, matrix, np.asarray(vector, dtype=np.float32))
            order = np.argsort(found if index.metric == "euclidean" else -found, kind="stable")[:top_k]
            for position in order.tolist():
                key = ids[position]
                match: dict[str, Any] = {"id": key, "score": float(found[position]), "values": []}
                if body.get("includeValues"):
                    match["values"] = namespace[key][0].tolist()
                if body.get("includeMetadata"):
                    match["metadata"] = namespace[key][1]
                matches.append(match)
        return JSONResponse({"matches": matches, "namespace": namespace_name, "usage": {"readUnits": 5}})

    @app.post("/data/{name}/vectors/delete")
    async def delete(name: str, request: Request) -> Response:
        index = data_index(name)
        if index is None:
            return _data_error(404, f"index {name} not found")
        body = await request.json()
        namespace = index.namespaces.get(body.get("namespace") or "", {})
        if body.get("deleteAll"):
            namespace.clear()
        elif body.get("ids"):
            for key in body["ids"]:
                namespace.pop(str(key), None)
        elif body.get("filter"):
            try:
                gone = [key for key, (_, meta) in namespace.items() if matches_filter(meta, body["filter"])]
            except ValueError as exc:
                return _data_error(400, f"Invalid filter: {exc}")
            for key in gone:
                del namespace[key]
        else:
            return _data_error(400, "Delete needs ids, a filter or deleteAll")
        return JSONResponse({})

    @app.get("/data/{name}/vectors/list")
    async def list_vectors(name: str, request: Request) -> Response:
        index = data_index(name)
        if index is None:
            return _data_error(404, f"index {name} not found")
        params = request.query_params
        limit = int(params.get("limit") or LIST_PAGE_LIMIT)
        if not 1 <= limit <= LIST_PAGE_LIMIT:
            return _data_error(400, f"limit must be between 1 and {LIST_PAGE_LIMIT}")
        prefix = params.get("prefix") or ""
        namespace_name = params.get("namespace") or ""
        keys = sorted(key for key in index.namespaces.get(namespace_name, {}) if key.startswith(prefix))
        token = params.get("paginationToken")
        start = int(token) if token and token.isdigit() else 0
        page = keys[start : start + limit]
        answer: dict[str, Any] = {
            "vectors": [{"id": key} for key in page],
            "namespace": namespace_name,
            "usage": {"readUnits": 1},
        }
        if start + limit < len(keys):
            answer["pagination"] = {"next": str(start + limit)}
        return JSONResponse(answer)

    @app.post("/data/{name}/describe_index_stats")
    async def describe_index_stats(name: str) -> Response:
        index = data_index(name)
        if index is None:
            return _data_error(404, f"index {name} not found")
        counts = {ns: {"vectorCount": len(vectors)} for ns, vectors in index.namespaces.items() if vectors}
        total = sum(item["vectorCount"] for item in counts.values())
        return JSONResponse(
            {
                "namespaces": counts,
                "dimension": index.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": total,
                "metric": index.metric,
                "vectorType": "dense",
            }
        )

    return app
