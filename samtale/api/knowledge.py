"""Knowledge admin API (admin API key of the chatbot): indexes, documents, ingestion jobs.

Under ``/api/admin/chatbots/{chatbot_id}/knowledge``:

* ``GET /indexes``: the chatbot's indexes with document and chunk counts;
* ``GET /indexes/{index}/documents``: an index's documents (paged);
* ``POST /indexes/{index}/documents``: upload files (multipart field ``files``, repeatable) →
  ``202`` with a job id; the files are ingested in the background;
* ``DELETE /indexes/{index}/documents/{document_id}``: delete one document and its chunks;
* ``POST /indexes/{index}/reindex``: re-embed every chunk with the configured model → ``202``;
* ``GET /jobs`` and ``GET /jobs/{job_id}``: job state, progress and errors per file.

Errors are ``{"error": {"code", "message"}}``: 401/403 without a covering admin key, 404 for
an unknown chatbot, index, document or job, 409 for an index built by another embedding
model, 422 for invalid input.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from samtale.api.deps import AdminKeyDep, ServicesDep, require_chatbot_access
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_admin import (
    DocumentDeletedResponse,
    DocumentsResponse,
    IndexesResponse,
    Job,
    JobAcceptedResponse,
    JobsResponse,
)
from samtale.knowledge.jobs import UploadOptions
from samtale.knowledge.manage import delete_document, list_documents
from samtale.knowledge.repository import list_indexes

router = APIRouter(prefix="/api/admin/chatbots/{chatbot_id}/knowledge", tags=["knowledge"])


def _columns(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _job_url(chatbot_id: str, job_id: str) -> str:
    return f"/api/admin/chatbots/{chatbot_id}/knowledge/jobs/{job_id}"


@router.get("/indexes", response_model=IndexesResponse, responses=error_responses(401, 403, 422))
async def knowledge_indexes(chatbot_id: str, services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """The chatbot's indexes: ``{indexes: [{name, documents, chunks, embedding_model, dimension, version}]}``."""
    require_chatbot_access(key, chatbot_id)
    summaries = await list_indexes(services.db, chatbot_id=chatbot_id)
    return FastJSONResponse(
        {
            "indexes": [
                {
                    "name": s.name,
                    "documents": s.documents,
                    "chunks": s.chunks,
                    "embedding_model": s.embedding_model,
                    "dimension": s.dimension,
                    "version": s.version,
                }
                for s in summaries
            ]
        }
    )


@router.get(
    "/indexes/{index_name}/documents",
    response_model=DocumentsResponse,
    responses=error_responses(401, 403, 404, 422),
)
async def knowledge_documents(
    chatbot_id: str,
    index_name: str,
    services: ServicesDep,
    key: AdminKeyDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FastJSONResponse:
    """An index's documents by id: ``{total, documents: [{id, source, title, chunks, metadata, updated_at}]}``."""
    require_chatbot_access(key, chatbot_id)
    total, documents = await list_documents(
        services.db, chatbot_id=chatbot_id, index_name=index_name, limit=limit, offset=offset
    )
    return FastJSONResponse(
        {
            "total": total,
            "documents": [
                {
                    "id": d.document_id,
                    "source": d.source,
                    "title": d.title,
                    "chunks": d.chunks,
                    "metadata": d.metadata,
                    "updated_at": d.updated_at.isoformat(),
                }
                for d in documents
            ],
        }
    )


@router.post(
    "/indexes/{index_name}/documents",
    status_code=202,
    response_model=JobAcceptedResponse,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def knowledge_upload(
    chatbot_id: str,
    index_name: str,
    services: ServicesDep,
    key: AdminKeyDep,
    files: Annotated[list[UploadFile], File(description="the files to ingest (repeat the field for several)")],
    id_column: Annotated[str | None, Form(description="CSV column or JSON field holding each record's id")] = None,
    text_field: Annotated[str | None, Form(description="JSON Lines/JSON field holding each record's text")] = None,
    text_columns: Annotated[str | None, Form(description="comma-separated CSV columns to embed")] = None,
    metadata_only_columns: Annotated[
        str | None, Form(description="comma-separated CSV columns kept as metadata only")
    ] = None,
    prune: Annotated[bool, Form(description="delete documents of the index not in these files")] = False,
) -> FastJSONResponse:
    """Start ingesting the uploaded files: ``202 {job_id, status_url, job}``.

    Files over the size limit (``SAMTALE_KNOWLEDGE_MAX_FILE_BYTES``) and files that cannot be
    parsed are reported in the job's ``errors``; the other files are ingested.
    """
    require_chatbot_access(key, chatbot_id)
    await services.get_chatbot(chatbot_id)
    options = UploadOptions(
        id_column=id_column or None,
        text_field=text_field or None,
        text_columns=_columns(text_columns),
        metadata_only_columns=_columns(metadata_only_columns) or (),
        prune=prune,
    )
    try:
        status = await services.knowledge_jobs.start_ingest(
            chatbot_id=chatbot_id,
            index_name=index_name,
            uploads=[(upload.filename, upload) for upload in files],
            options=options,
        )
    finally:
        for upload in files:
            await upload.close()
    url = _job_url(chatbot_id, status.id)
    return FastJSONResponse(
        {"job_id": status.id, "status_url": url, "job": status.as_json()}, status_code=202, headers={"Location": url}
    )


@router.delete(
    "/indexes/{index_name}/documents/{document_id:path}",
    response_model=DocumentDeletedResponse,
    responses=error_responses(401, 403, 404, 422),
)
async def knowledge_delete_document(
    chatbot_id: str, index_name: str, document_id: str, services: ServicesDep, key: AdminKeyDep
) -> FastJSONResponse:
    """Delete one document (by its id: a file name, a CSV id-column value, a product handle) and its chunks."""
    require_chatbot_access(key, chatbot_id)
    await delete_document(services.db, chatbot_id=chatbot_id, index_name=index_name, document_id=document_id)
    services.retriever.snapshots.invalidate(chatbot_id=chatbot_id, index_name=index_name)
    return FastJSONResponse({"deleted": document_id, "index": index_name})


@router.post(
    "/indexes/{index_name}/reindex",
    status_code=202,
    response_model=JobAcceptedResponse,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def knowledge_reindex(
    chatbot_id: str, index_name: str, services: ServicesDep, key: AdminKeyDep
) -> FastJSONResponse:
    """Start re-embedding every chunk of the index with the configured model: ``202 {job_id, status_url, job}``."""
    require_chatbot_access(key, chatbot_id)
    status = await services.knowledge_jobs.start_reindex(chatbot_id=chatbot_id, index_name=index_name)
    url = _job_url(chatbot_id, status.id)
    return FastJSONResponse(
        {"job_id": status.id, "status_url": url, "job": status.as_json()}, status_code=202, headers={"Location": url}
    )


@router.get("/jobs", response_model=JobsResponse, responses=error_responses(401, 403, 422))
async def knowledge_jobs(
    chatbot_id: str, services: ServicesDep, key: AdminKeyDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> FastJSONResponse:
    """The chatbot's latest knowledge jobs, newest first: ``{jobs: [job]}``."""
    require_chatbot_access(key, chatbot_id)
    jobs = await services.knowledge_jobs.recent(chatbot_id=chatbot_id, limit=limit)
    return FastJSONResponse({"jobs": [job.as_json() for job in jobs]})


@router.get("/jobs/{job_id}", response_model=Job, responses=error_responses(401, 403, 404, 422))
async def knowledge_job(chatbot_id: str, job_id: str, services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """A job: ``{id, index, kind, state, progress: {phase, done, total}, files, errors: [{file,
    document_id, message}], result, created_at, started_at, finished_at}``."""
    require_chatbot_access(key, chatbot_id)
    job = await services.knowledge_jobs.get(chatbot_id=chatbot_id, job_id=job_id)
    return FastJSONResponse(job.as_json())
