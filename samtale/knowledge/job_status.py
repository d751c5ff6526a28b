"""What a knowledge job is, as stored in the ``knowledge_jobs`` table, and the reads and writes of its row.

:class:`JobStatus` is a row as the admin API shows it; :class:`JobStore` creates rows, writes
progress and the end of a job, and marks a job whose worker stopped as failed. Running jobs is
:class:`samtale.knowledge.jobs.KnowledgeJobs`'s part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update

from samtale.knowledge.manage import KnowledgeNotFoundError
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models.knowledge import KnowledgeJob

JobKind = Literal["ingest", "reindex"]
JobState = Literal["queued", "running", "succeeded", "completed_with_errors", "failed"]
ACTIVE_STATES = ("queued", "running")


@dataclass(frozen=True, slots=True)
class JobError:
    """A file or document a job could not ingest (``file``/``document_id`` None for the whole job)."""

    message: str
    file: str | None = None
    document_id: str | None = None


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
class LiveProgress:
    """Progress of a running job, written to its row by the heartbeat."""

    phase: str = "queued"
    done: int = 0
    total: int = 0
    errors: list[JobError] = field(default_factory=list)


class JobStore:
    """The ``knowledge_jobs`` rows: create, read, write progress and ends, expire stale jobs.

    Args:
        db: the database holding the rows.
        worker: this process's worker id, stored with each job it creates (``host:pid:random``).
        stale_after_s: a queued or running job with no progress written for this many seconds
            has lost its worker (see :meth:`expire_if_stale`).

    Database errors propagate (the caller decides whether a failed write is logged or raised).
    """

    def __init__(self, *, db: Database, worker: str, stale_after_s: float) -> None:
        self.db = db
        self.worker = worker
        self.stale_after_s = stale_after_s

    async def create(
        self, *, job_id: str, chatbot_id: str, index_name: str, kind: JobKind, files: list[str], errors: list[JobError]
    ) -> JobStatus:
        """Store a new ``queued`` job and return its status."""
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

    async def get(self, *, chatbot_id: str, job_id: str) -> JobStatus:
        """A job of ``chatbot_id`` as stored.

        Raises:
            KnowledgeNotFoundError: no such job for this chatbot.
        """
        async with self.db.session() as session:
            row = await session.get(KnowledgeJob, job_id)
            if row is None or row.chatbot_id != chatbot_id:
                raise KnowledgeNotFoundError(f"chatbot {chatbot_id!r} has no knowledge job {job_id!r}")
            return JobStatus.from_row(row)

    async def recent(self, *, chatbot_id: str, limit: int) -> list[JobStatus]:
        """The chatbot's latest ``limit`` jobs as stored, newest first."""
        async with self.db.session() as session:
            rows = (
                await session.scalars(
                    select(KnowledgeJob)
                    .where(KnowledgeJob.chatbot_id == chatbot_id)
                    .order_by(KnowledgeJob.created_at.desc())
                    .limit(limit)
                )
            ).all()
            return [JobStatus.from_row(row) for row in rows]

    async def write(self, job_id: str, **values: Any) -> None:
        """Set columns of a job's row (``updated_at`` too)."""
        async with self.db.session() as session:
            await session.execute(
                update(KnowledgeJob).where(KnowledgeJob.id == job_id).values(updated_at=utcnow(), **values)
            )

    async def write_progress(self, job_id: str, live: LiveProgress) -> None:
        """Write a running job's phase and counts (a heartbeat); a job that has ended is left alone."""
        async with self.db.session() as session:
            await session.execute(
                update(KnowledgeJob)
                .where(KnowledgeJob.id == job_id, KnowledgeJob.state.in_(ACTIVE_STATES))
                .values(phase=live.phase, done=live.done, total=live.total, updated_at=utcnow())
            )

    async def finish(self, job_id: str, *, state: JobState, live: LiveProgress, result: dict[str, Any] | None) -> None:
        """Record a job's end: its final state, counts, errors and result."""
        await self.write(
            job_id,
            state=state,
            phase="done",
            done=live.done,
            total=live.total,
            errors=[asdict(error) for error in live.errors],
            result=result,
            finished_at=utcnow(),
        )

    async def expire_if_stale(self, status: JobStatus, *, running_here: bool) -> JobStatus:
        """``status``, or the job marked ``failed`` when it is queued or running, not running in this
        process (``running_here``), and silent for ``stale_after_s`` seconds: its worker stopped."""
        if status.state not in ACTIVE_STATES or running_here:
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
