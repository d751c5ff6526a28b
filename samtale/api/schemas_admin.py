"""Response bodies of the admin API: chatbots and knowledge (indexes, documents, jobs); stored
conversations are in :mod:`samtale.api.schemas_conversations`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ChatbotSummary(BaseModel):
    """A chatbot in the admin list."""

    id: str
    name: str
    language: str


class ChatbotListResponse(BaseModel):
    """``GET /api/admin/chatbots``: the chatbots the key covers."""

    chatbots: list[ChatbotSummary]


class ChatbotSavedResponse(BaseModel):
    """``PUT /api/admin/chatbots/{id}``: the chatbot was created or replaced."""

    success: bool = True
    chatbot_id: str


class IndexSummary(BaseModel):
    """A knowledge index with its sizes and the embedding model its vectors were built with."""

    name: str
    documents: int
    chunks: int
    embedding_model: str
    dimension: int
    version: int


class IndexesResponse(BaseModel):
    """``GET …/knowledge/indexes``."""

    indexes: list[IndexSummary]


class DocumentSummary(BaseModel):
    """A document of an index, by its id (a file name, a CSV id-column value, a product handle)."""

    id: str
    source: str
    title: str | None
    chunks: int
    metadata: dict[str, Any]
    updated_at: str = Field(description="ISO 8601")


class DocumentsResponse(BaseModel):
    """``GET …/knowledge/indexes/{index}/documents``: one page, and the index's total document count."""

    total: int
    documents: list[DocumentSummary]


class DocumentDeletedResponse(BaseModel):
    """``DELETE …/documents/{document_id}``."""

    deleted: str = Field(description="the deleted document's id")
    index: str


class JobProgress(BaseModel):
    """``phase`` is ``queued``, ``parsing`` (``done``/``total`` count files), ``embedding`` (chunks) or ``done``."""

    phase: str
    done: int
    total: int


class JobErrorItem(BaseModel):
    """A file, document or row a job could not ingest (``file``/``document_id`` null for the whole job)."""

    message: str
    file: str | None
    document_id: str | None


class Job(BaseModel):
    """A knowledge job (docs/api.md, "A job")."""

    id: str
    chatbot_id: str
    index: str
    kind: str = Field(description="``ingest`` or ``reindex``")
    state: str = Field(description="``queued``, ``running``, ``succeeded``, ``completed_with_errors`` or ``failed``")
    progress: JobProgress
    files: list[str]
    errors: list[JobErrorItem]
    result: dict[str, Any] | None = Field(description="counts and seconds once the job ended")
    created_at: str = Field(description="ISO 8601")
    started_at: str | None
    finished_at: str | None


class JobAcceptedResponse(BaseModel):
    """``202``: the job was created; poll ``status_url`` (also in ``Location``)."""

    job_id: str
    status_url: str
    job: Job


class JobsResponse(BaseModel):
    """``GET …/knowledge/jobs``: newest first."""

    jobs: list[Job]
