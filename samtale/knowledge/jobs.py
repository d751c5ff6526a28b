"""Background knowledge jobs: ingest uploaded files, or re-index an index, inside the server.

A job runs in the process that accepted it, as an asyncio task; parsing runs in worker threads
and embedding off the event loop (see :mod:`samtale.knowledge.ingest`), so requests keep being
served. Its state lives in the ``knowledge_jobs`` table: the running worker writes progress
every :attr:`KnowledgeJobs.heartbeat_s` seconds, so any worker can answer a status request.
A job whose worker stopped (no heartbeat for ``stale_after_s``) is reported ``failed``.

States: ``queued`` (waiting for another job of the same index in this worker) → ``running`` →
``succeeded`` | ``completed_with_errors`` (some files or documents failed, the rest is
ingested) | ``failed`` (nothing more was done: every file failed, the embedder failed, the
worker stopped). Whatever state a job ends in, each document is either fully ingested or not
at all (see :func:`samtale.knowledge.repository.write_documents`).

Uploaded files are staged under ``work_dir/<job id>/`` and deleted when the job ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy import select, update

from samtale.errors import InputError, SamtaleError
from samtale.knowledge.embedders import Embedder
from samtale.knowledge.ingest import IngestProgress, ingest_paths
from samtale.knowledge.manage import KnowledgeNotFoundError, reindex, require_index
from samtale.knowledge.parsers import CsvOptions, JsonOptions
from samtale.knowledge.repository import check_embedder, find_index
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.storage.models.knowledge import KnowledgeJob

logger = logging.getLogger(__name__)

JobKind = Literal["ingest", "reindex"]
JobState = Literal["queued", "running", "succeeded", "completed_with_errors", "failed"]
ACTIVE_STATES = ("queued", "running")

#: Bytes read from an upload at a time while staging it.
STAGE_CHUNK_BYTES = 1024 * 1024
_INDEX_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class AsyncReadable(Protocol):
    """An uploaded file (e.g. Starlette's ``UploadFile``): ``await read(size)`` returns bytes."""

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end."""
        ...


@dataclass(frozen=True, slots=True)
class JobError:
    """A file or document a job could not ingest (``file``/``document_id`` None for the whole job)."""

    message: str
    file: str | None = None
    document_id: str | None = None


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """How uploaded files are read: see :class:`~samtale.knowledge.parsers.CsvOptions`,
    :class:`~samtale.knowledge.parsers.JsonOptions` and ``prune`` of
    :func:`~samtale.knowledge.ingest.ingest_paths`."""

    id_column: str | None = None
    text_field: str | None = None
    text_columns: tuple[str, ...] | None = None
    metadata_only_columns: tuple[str, ...] = ()
    prune: bool = False


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A job as stored: what it is, where it is, and what went wrong for which file."""

    id: str
    chatbot_id: str
    index_name: str
    kind: str
    state: str
    phase: str
    done: int
    total: int
    files: list[str]
    errors: list[JobError]
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    @classmethod
    def from_row(cls, row: KnowledgeJob) -> JobStatus:
        """The status held by a ``knowledge_jobs`` row."""
        return cls(
            id=row.id,
            chatbot_id=row.chatbot_id,
            index_name=row.index_name,
            kind=row.kind,
            state=row.state,
            phase=row.phase,
            done=row.done,
            total=row.total,
            files=list(row.files or []),
            errors=[JobError(**error) for error in row.errors or []],
            result=row.result,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            updated_at=row.updated_at,
        )

    def as_json(self) -> dict[str, Any]:
        """The admin API's job object."""
        return {
            "id": self.id,
            "chatbot_id": self.chatbot_id,
            "index": self.index_name,
            "kind": self.kind,
            "state": self.state,
            "progress": {"phase": self.phase, "done": self.done, "total": self.total},
            "files": self.files,
            "errors": [asdict(error) for error in self.errors],
            "result": self.result,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(slots=True)
class _Live:
    """Progress of a running job, written to its row by the heartbeat."""

    phase: str = "queued"
    done: int = 0
    total: int = 0
    errors: list[JobError] = field(default_factory=list)


def safe_file_name(name: str | None, *, fallback: str) -> str:
    """The last path component of an uploaded file's name, without control characters; ``fallback``
    when nothing is left (a name like ``../``)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:200] or fallback


def check_index_name(index_name: str) -> None:
    """Raise InputError unless ``index_name`` is 1–100 letters, digits, ``_ . -`` (starting alphanumeric)."""
    if not _INDEX_NAME_RE.fullmatch(index_name):
        raise InputError(
            f"invalid index name {index_name!r}: use 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


class KnowledgeJobs:
    """Starts knowledge jobs in this process and reads any job's status from the database.

    Args:
        db: the database (jobs, indexes, documents).
        embedder: the configured embedder (ingest and re-index use it).
        work_dir: where uploads are staged while their job runs.
        max_file_bytes: the size limit of one uploaded file (``knowledge_max_file_bytes``).
        max_files: the most files one upload may hold.
        heartbeat_s: how often a running job writes its progress.
        stale_after_s: a queued or running job with no heartbeat for this long has lost its worker.
        on_change: called with ``(chatbot_id, index_name)`` when a job of this process has changed
            an index (e.g. to drop the retriever's cached copy at once, not at its next check).
    """

    def __init__(
        self,
        *,
        db: Database,
        embedder: Embedder,
        work_dir: Path,
        max_file_bytes: int,
        max_files: int = 100,
        heartbeat_s: float = 2.0,
        stale_after_s: float = 120.0,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.work_dir = work_dir
        self.max_file_bytes = max_file_bytes
        self.max_files = max_files
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.on_change = on_change
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def start_ingest(
        self,
        *,
        chatbot_id: str,
        index_name: str,
        uploads: Sequence[tuple[str | None, AsyncReadable]],
        options: UploadOptions | None = None,
    ) -> JobStatus:
        """Stage ``uploads`` (``(file name, reader)`` pairs) and start ingesting them into the index.

        A file over the size limit, or a second file of the same name, is not staged: it is
        recorded as an error of the job and the other files are ingested.

        Raises:
            InputError: no files, too many files, or an invalid index name.
            EmbedderMismatchError: the index exists and was built by another embedding model.
        """
        check_index_name(index_name)
        if not uploads:
            raise InputError("send at least one file (multipart field 'files')")
        if len(uploads) > self.max_files:
            raise InputError(f"send at most {self.max_files} files per upload, not {len(uploads)}")
        await self._check_model(chatbot_id=chatbot_id, index_name=index_name)
        job_id = new_id()
        folder = self.work_dir / job_id
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        names: list[str] = []
        staged: list[Path] = []
        errors: list[JobError] = []
        try:
            for number, (raw_name, reader) in enumerate(uploads, start=1):
                name = safe_file_name(raw_name, fallback=f"upload-{number}")
                names.append(name)
                if name in names[:-1]:
                    errors.append(JobError(file=name, message=f"{name}: a file of this name was already sent"))
                    continue
                if await self._stage(reader, folder / name):
                    staged.append(folder / name)
                else:
                    errors.append(
                        JobError(
                            file=name,
                            message=f"{name} is over the {self.max_file_bytes:,}-byte limit for one file",
                        )
                    )
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, folder, True)
            raise
        status = await self._create(
            job_id=job_id, chatbot_id=chatbot_id, index_name=index_name, kind="ingest", files=names, errors=errors
        )
        opts = options or UploadOptions()

        async def work(live: _Live) -> tuple[JobState, dict[str, Any]]:
            if not staged:
                return "failed", {"files_failed": len(names)}

            def progress(update: IngestProgress) -> None:
                live.phase, live.done, live.total = update.phase, update.done, update.total

            report = await ingest_paths(
                db=self.db,
                embedder=self.embedder,
                chatbot_id=chatbot_id,
                index_name=index_name,
                paths=staged,
                id_column=opts.id_column,
                csv_options=CsvOptions(
                    text_columns=opts.text_columns, metadata_only_columns=opts.metadata_only_columns
                ),
                json_options=JsonOptions(text_field=opts.text_field),
                prune=opts.prune and not errors,
                max_file_bytes=self.max_file_bytes,
                progress=progress,
            )
            live.errors.extend(
                JobError(file=error.source, document_id=error.external_id, message=error.message)
                for error in report.errors
            )
            if opts.prune and errors:
                live.errors.append(JobError(message="prune skipped: a file failed, so its documents were kept"))
            result = {
                "documents_added": report.documents_added,
                "documents_updated": report.documents_updated,
                "documents_unchanged": report.documents_unchanged,
                "documents_failed": report.documents_failed,
                "documents_removed": report.documents_removed,
                "files_failed": report.files_failed + len(errors),
                "chunks_written": report.chunks_written,
                "chunks_embedded": report.chunks_embedded,
                "index_version": report.index_version,
            }
            if report.files_failed + len(errors) == len(names):
                return "failed", result
            return ("completed_with_errors" if live.errors else "succeeded"), result

        self._spawn(job_id, (chatbot_id, index_name), work, folder, initial_errors=errors)
        return status

    async def start_reindex(self, *, chatbot_id: str, index_name: str) -> JobStatus:
        """Start re-embedding every chunk of the index with the configured embedder
        (see :func:`samtale.knowledge.manage.reindex`).

        Raises:
            KnowledgeNotFoundError: no such index.
        """
        await require_index(self.db, chatbot_id=chatbot_id, index_name=index_name)
        job_id = new_id()
        status = await self._create(
            job_id=job_id, chatbot_id=chatbot_id, index_name=index_name, kind="reindex", files=[], errors=[]
        )

        async def work(live: _Live) -> tuple[JobState, dict[str, Any]]:
            def progress(done: int, total: int) -> None:
                live.phase, live.done, live.total = "embedding", done, total

            report = await reindex(
                self.db, embedder=self.embedder, chatbot_id=chatbot_id, index_name=index_name, progress=progress
            )
            live.phase = "done"
            return "succeeded", asdict(report)

        self._spawn(job_id, (chatbot_id, index_name), work, None, initial_errors=[])
        return status

    async def get(self, *, chatbot_id: str, job_id: str) -> JobStatus:
        """A job of ``chatbot_id``; a queued or running job whose worker stopped is marked failed.

        Raises:
            KnowledgeNotFoundError: no such job for this chatbot.
        """
        async with self.db.session() as session:
            row = await session.get(KnowledgeJob, job_id)
            if row is None or row.chatbot_id != chatbot_id:
                raise KnowledgeNotFoundError(f"chatbot {chatbot_id!r} has no knowledge job {job_id!r}")
            status = JobStatus.from_row(row)
        return await self._expire_if_stale(status)

    async def recent(self, *, chatbot_id: str, limit: int = 20) -> list[JobStatus]:
        """The chatbot's latest jobs, newest first."""
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(KnowledgeJob)
                    .where(KnowledgeJob.chatbot_id == chatbot_id)
                    .order_by(KnowledgeJob.created_at.desc())
                    .limit(limit)
                )
            ).all()
            statuses = [JobStatus.from_row(row) for row in rows]
        return [await self._expire_if_stale(status) for status in statuses]

    async def wait(self, job_id: str) -> None:
        """Wait until a job started by this process ends (returns at once for any other job)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})

    async def aclose(self) -> None:
        """Cancel this process's running jobs; each is recorded as failed (documents written so far stay)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------------

    async def _check_model(self, *, chatbot_id: str, index_name: str) -> None:
        async with self.db.session() as session:
            head = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
        if head is not None:
            check_embedder(head, self.embedder.name, self.embedder.dimension)

    async def _stage(self, reader: AsyncReadable, target: Path) -> bool:
        """Copy an upload to ``target``; False (and nothing left on disk) when it is over the limit."""
        handle = await asyncio.to_thread(target.open, "wb")
        size = 0
        try:
            while chunk := await reader.read(STAGE_CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_file_bytes:
                    break
                await asyncio.to_thread(handle.write, chunk)
        finally:
            await asyncio.to_thread(handle.close)
        if size > self.max_file_bytes:
            await asyncio.to_thread(target.unlink, True)
            return False
        return True

    async def _create(
        self, *, job_id: str, chatbot_id: str, index_name: str, kind: JobKind, files: list[str], errors: list[JobError]
    ) -> JobStatus:
        now = utcnow()
        row = KnowledgeJob(
            id=job_id,
            chatbot_id=chatbot_id,
            index_name=index_name,
            kind=kind,
            state="queued",
            phase="queued",
            done=0,
            total=0,
            files=files,
            errors=[asdict(error) for error in errors],
            result=None,
            worker=self.worker,
            created_at=now,
            updated_at=now,
        )
        async with self.db.session() as session:
            session.add(row)
        return JobStatus.from_row(row)

    def _spawn(
        self,
        job_id: str,
        key: tuple[str, str],
        work: Callable[[_Live], Awaitable[tuple[JobState, dict[str, Any]]]],
        folder: Path | None,
        *,
        initial_errors: list[JobError],
    ) -> None:
        task = asyncio.create_task(self._run(job_id, key, work, folder, initial_errors), name=f"knowledge-job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _run(
        self,
        job_id: str,
        key: tuple[str, str],
        work: Callable[[_Live], Awaitable[tuple[JobState, dict[str, Any]]]],
        folder: Path | None,
        initial_errors: list[JobError],
    ) -> None:
        live = _Live(errors=list(initial_errors))
        heartbeat = asyncio.create_task(self._heartbeat(job_id, live))
        started = time.perf_counter()
        try:
            async with self._locks.setdefault(key, asyncio.Lock()):
                live.phase = "starting"
                await self._write(job_id, state="running", started_at=utcnow(), phase=live.phase)
                state, result = await work(live)
            result["seconds"] = round(time.perf_counter() - started, 3)
            await self._finish(job_id, state=state, live=live, result=result)
        except asyncio.CancelledError:
            live.errors.append(JobError(message="the server shut down during the job; start it again"))
            await self._finish(job_id, state="failed", live=live, result=None)
            raise
        except SamtaleError as exc:
            live.errors.append(JobError(message=exc.message))
            await self._finish(job_id, state="failed", live=live, result=None)
        except Exception:
            logger.exception("knowledge job %s failed", job_id)
            live.errors.append(JobError(message="the job failed with an internal error; it has been logged"))
            await self._finish(job_id, state="failed", live=live, result=None)
        finally:
            heartbeat.cancel()
            if self.on_change is not None:
                self.on_change(*key)
            if folder is not None:
                await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _heartbeat(self, job_id: str, live: _Live) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                async with self.db.session() as session:
                    await session.execute(
                        update(KnowledgeJob)
                        .where(KnowledgeJob.id == job_id, KnowledgeJob.state.in_(ACTIVE_STATES))
                        .values(phase=live.phase, done=live.done, total=live.total, updated_at=utcnow())
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("knowledge job %s: progress could not be written", job_id, exc_info=True)

    async def _write(self, job_id: str, **values: Any) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(KnowledgeJob).where(KnowledgeJob.id == job_id).values(updated_at=utcnow(), **values)
            )

    async def _finish(self, job_id: str, *, state: JobState, live: _Live, result: dict[str, Any] | None) -> None:
        try:
            await self._write(
                job_id,
                state=state,
                phase="done",
                done=live.done,
                total=live.total,
                errors=[asdict(error) for error in live.errors],
                result=result,
                finished_at=utcnow(),
            )
        except Exception:
            logger.exception("knowledge job %s: its end (%s) could not be recorded", job_id, state)

    async def _expire_if_stale(self, status: JobStatus) -> JobStatus:
        if status.state not in ACTIVE_STATES or status.id in self._tasks:
            return status
        silent = utcnow() - status.updated_at
        if silent < timedelta(seconds=self.stale_after_s):
            return status
        message = (
            f"the worker running this job stopped (no progress report for {int(silent.total_seconds())} s); "
            "documents it finished are ingested, the rest are not: start the job again"
        )
        errors = [*status.errors, JobError(message=message)]
        async with self.db.session() as session:
            await session.execute(
                update(KnowledgeJob)
                .where(KnowledgeJob.id == status.id, KnowledgeJob.state.in_(ACTIVE_STATES))
                .values(state="failed", phase="done", errors=[asdict(e) for e in errors], finished_at=utcnow())
            )
        async with self.db.session() as session:
            row = await session.get(KnowledgeJob, status.id)
            return JobStatus.from_row(row) if row is not None else status


__all__ = [
    "JobError",
    "JobStatus",
    "KnowledgeJobs",
    "KnowledgeNotFoundError",
    "UploadOptions",
    "check_index_name",
    "safe_file_name",
]
