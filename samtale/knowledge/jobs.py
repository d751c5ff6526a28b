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

The job rows are read and written by :class:`~samtale.knowledge.job_status.JobStore`; uploads are
named and staged by :mod:`samtale.knowledge.uploads`. Their names are re-exported here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from samtale.errors import InputError, SamtaleError
from samtale.knowledge.embedders import Embedder
from samtale.knowledge.ingest import IngestProgress, ingest_paths
from samtale.knowledge.job_status import ACTIVE_STATES, JobError, JobKind, JobState, JobStatus, JobStore, LiveProgress
from samtale.knowledge.manage import KnowledgeNotFoundError, reindex, require_index
from samtale.knowledge.parsers import CsvOptions, JsonOptions
from samtale.knowledge.repository import check_embedder, find_index
from samtale.knowledge.uploads import (
    STAGE_CHUNK_BYTES,
    AsyncReadable,
    UploadOptions,
    check_index_name,
    safe_file_name,
    stage_upload,
)
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database

__all__ = [
    "ACTIVE_STATES",
    "STAGE_CHUNK_BYTES",
    "AsyncReadable",
    "JobError",
    "JobKind",
    "JobState",
    "JobStatus",
    "KnowledgeJobs",
    "KnowledgeNotFoundError",
    "UploadOptions",
    "check_index_name",
    "safe_file_name",
]

logger = logging.getLogger(__name__)


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
        self.on_change = on_change
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self.store = JobStore(db=db, worker=self.worker, stale_after_s=stale_after_s)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @property
    def stale_after_s(self) -> float:
        """Seconds without a heartbeat after which a queued or running job counts as failed."""
        return self.store.stale_after_s

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
                if await stage_upload(reader, folder / name, max_bytes=self.max_file_bytes):
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
        status = await self.store.create(
            job_id=job_id, chatbot_id=chatbot_id, index_name=index_name, kind="ingest", files=names, errors=errors
        )
        opts = options or UploadOptions()

        async def work(live: LiveProgress) -> tuple[JobState, dict[str, Any]]:
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
        status = await self.store.create(
            job_id=job_id, chatbot_id=chatbot_id, index_name=index_name, kind="reindex", files=[], errors=[]
        )

        async def work(live: LiveProgress) -> tuple[JobState, dict[str, Any]]:
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
        status = await self.store.get(chatbot_id=chatbot_id, job_id=job_id)
        return await self._expire_if_stale(status)

    async def recent(self, *, chatbot_id: str, limit: int = 20) -> list[JobStatus]:
        """The chatbot's latest jobs, newest first."""
        statuses = await self.store.recent(chatbot_id=chatbot_id, limit=limit)
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

    def _spawn(
        self,
        job_id: str,
        key: tuple[str, str],
        work: Callable[[LiveProgress], Awaitable[tuple[JobState, dict[str, Any]]]],
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
        work: Callable[[LiveProgress], Awaitable[tuple[JobState, dict[str, Any]]]],
        folder: Path | None,
        initial_errors: list[JobError],
    ) -> None:
        live = LiveProgress(errors=list(initial_errors))
        heartbeat = asyncio.create_task(self._heartbeat(job_id, live))
        started = time.perf_counter()
        try:
            async with self._locks.setdefault(key, asyncio.Lock()):
                live.phase = "starting"
                await self.store.write(job_id, state="running", started_at=utcnow(), phase=live.phase)
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

    async def _heartbeat(self, job_id: str, live: LiveProgress) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.store.write_progress(job_id, live)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("knowledge job %s: progress could not be written", job_id, exc_info=True)

    async def _finish(self, job_id: str, *, state: JobState, live: LiveProgress, result: dict[str, Any] | None) -> None:
        try:
            await self.store.finish(job_id, state=state, live=live, result=result)
        except Exception:
            logger.exception("knowledge job %s: its end (%s) could not be recorded", job_id, state)

    async def _expire_if_stale(self, status: JobStatus) -> JobStatus:
        return await self.store.expire_if_stale(status, running_here=status.id in self._tasks)
