"""Per-key quotas: active jobs, stored data sets and their bytes, and the size of one job.

Over a quota the API answers 429 with a ``Retry-After`` (seconds) and a detail naming the limit.
The checks that count rows first take the owner's quota lock (PostgreSQL: an advisory lock per
owner; SQLite: the database's write lock), held until the caller's transaction ends, so a burst of
parallel requests gets exactly the quota. The anonymous owner (auth off) is one owner like a key.
"""

from __future__ import annotations

import math

from fastapi import HTTPException, status
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from service.auth import owner_id
from service.models import ApiKey, Dataset, Job
from service.schemas import JobCreate, Quotas, QuotaUsage
from service.settings import Settings

ACTIVE = ("queued", "running")
QUOTA_LOCK = 0x71756F74  # PostgreSQL advisory lock class of the per-owner quota checks ("quot")
JOB_RETRY_SECONDS = 60  # when none of the owner's running jobs has an ETA yet
REQUEST_RETRY_SECONDS = 3600  # storage frees only when deleted, a job's size only when changed
OVER_QUOTA = {429: {"description": "Over a quota of the key (GET /v1/me); see Retry-After"}}


def job_work(job: JobCreate) -> int:
    """A job's verification work, in trained epochs x chips: its verified candidates' plus, at
    most, its surrogate rows' at their fidelity (the task's cheap one unless the job names it)."""
    budget, collection = job.budget, job.collection_budget()
    verified = budget.top_k * budget.train_epochs * budget.mc_samples
    rows = budget.collect_architectures * collection.train.epochs * collection.mc_samples
    return verified + rows


def usage(session: Session, settings: Settings, owner: ApiKey | None) -> Quotas:
    """The owner's quotas and what it uses of them."""
    key_id = owner_id(owner)
    datasets, stored = _stored(session, key_id)
    return Quotas(
        active_jobs=QuotaUsage(
            limit=settings.quota_active_jobs, used=_active_jobs(session, key_id)
        ),
        datasets=QuotaUsage(limit=settings.quota_datasets, used=datasets),
        dataset_bytes=QuotaUsage(limit=settings.quota_dataset_bytes, used=stored),
        job_trials=settings.quota_job_trials,
        job_work=settings.quota_job_work,
    )


def enforce_job_quota(
    session: Session, settings: Settings, owner: ApiKey | None, job: JobCreate
) -> None:
    """Refuse (429) a job larger than one job may be, or one active job too many for its owner.
    Holds the owner's quota lock until the session's transaction ends: add the job, commit."""
    if job.budget.trials > settings.quota_job_trials:
        raise _over(
            f"quota: budget.trials is at most {settings.quota_job_trials} per job "
            f"(this job asks {job.budget.trials})",
            REQUEST_RETRY_SECONDS,
        )
    work = job_work(job)
    if work > settings.quota_job_work:
        raise _over(
            f"quota: a job's verification work, budget.top_k x train_epochs x mc_samples plus "
            f"collect_architectures x their epochs x chips, is at most {settings.quota_job_work} "
            f"(this job asks {work})",
            REQUEST_RETRY_SECONDS,
        )
    enforce_active_jobs(session, settings, owner)


def enforce_active_jobs(session: Session, settings: Settings, owner: ApiKey | None) -> None:
    """Refuse (429) one active job (queued or running, rescore jobs too) too many for its
    owner. Holds the owner's quota lock until the session's transaction ends: add the job,
    commit."""
    key_id = owner_id(owner)
    _lock(session, key_id)
    if _active_jobs(session, key_id) >= settings.quota_active_jobs:
        raise _over(
            f"quota: {settings.quota_active_jobs} active jobs (queued or running) per key; "
            "cancel one or wait for one to finish",
            _job_retry_seconds(session, key_id),
        )


def enforce_dataset_quota(
    session: Session, settings: Settings, owner: ApiKey | None, new_bytes: int
) -> None:
    """Refuse (429) a new data set of ``new_bytes`` stored bytes that would take its owner over
    the data set count or bytes. Holds the owner's quota lock until the session's transaction
    ends: add the data set, commit."""
    key_id = owner_id(owner)
    _lock(session, key_id)
    datasets, stored = _stored(session, key_id)
    if datasets >= settings.quota_datasets:
        raise _over(
            f"quota: {settings.quota_datasets} stored data sets per key", REQUEST_RETRY_SECONDS
        )
    if stored + new_bytes > settings.quota_dataset_bytes:
        raise _over(
            f"quota: {settings.quota_dataset_bytes:,} bytes of stored data sets per key "
            f"({stored:,} stored, this one {new_bytes:,})",
            REQUEST_RETRY_SECONDS,
        )


def _over(detail: str, retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, detail=detail, headers={"Retry-After": str(retry_after)}
    )


def _lock(session: Session, key_id: int | None) -> None:
    """Serialize the owner's quota checks until the session's transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:lock AS integer), CAST(:owner AS integer))"),
            {"lock": QUOTA_LOCK, "owner": key_id or 0},
        )
    else:  # SQLite: any write statement takes the write lock, even one that changes no row
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(name=ApiKey.name)
            .execution_options(synchronize_session=False)
        )


def _mine(column, key_id: int | None):
    return column.is_(None) if key_id is None else column == key_id


def _active_jobs(session: Session, key_id: int | None) -> int:
    return session.scalar(
        select(func.count()).where(_mine(Job.owner_id, key_id), Job.status.in_(ACTIVE))
    )


def _stored(session: Session, key_id: int | None) -> tuple[int, int]:
    """How many data sets the owner stores, and their bytes."""
    count, size = session.execute(
        select(func.count(), func.coalesce(func.sum(Dataset.size_bytes), 0)).where(
            _mine(Dataset.owner_id, key_id)
        )
    ).one()
    return count, int(size)


def _job_retry_seconds(session: Session, key_id: int | None) -> int:
    """When a slot may free: the soonest ETA of the owner's running jobs, else a minute."""
    eta = session.scalar(
        select(func.min(Job.eta_seconds)).where(
            _mine(Job.owner_id, key_id), Job.status == "running"
        )
    )
    return JOB_RETRY_SECONDS if eta is None else max(1, math.ceil(eta))
