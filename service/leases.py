"""Job leases: atomic claims, heartbeats and completion, safe with many runners on one database.

A claim is a conditional UPDATE of one row (``status='queued'``, or ``'running'`` with an expired
lease): PostgreSQL re-checks the condition after waiting for a concurrent writer's row lock, and
SQLite serializes writers, so two runners never both succeed on the same job. Each step may be
repeated when the database was lost halfway (``service.db.retry_unavailable``); a claim whose answer
was lost leaves the job to be claimed again when its lease runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.models import Job, utcnow


def _claimable(now: datetime):
    return or_(
        Job.status == "queued",
        and_(Job.status == "running", Job.lease_expires_at < now),
    )


def claim_next(sessions: sessionmaker[Session], runner: str, lease_seconds: float) -> str | None:
    """Claim the oldest claimable job for ``runner``; its id, or None when there is none."""
    while True:
        now = utcnow()
        with sessions() as session:
            job_id = session.scalar(
                select(Job.id).where(_claimable(now)).order_by(Job.created_at, Job.id).limit(1)
            )
            if job_id is None:
                return None
            claimed = session.execute(
                update(Job)
                .where(Job.id == job_id, _claimable(now))
                .values(
                    status="running",
                    lease_owner=runner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=Job.attempts + 1,
                    started_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            session.commit()
            if claimed == 1:
                return job_id
            # another runner won this one: look again


def heartbeat(
    sessions: sessionmaker[Session], job_id: str, runner: str, lease_seconds: float, **fields
) -> bool:
    """Extend the lease (and write progress ``fields``); False when the lease was lost."""
    with sessions() as session:
        kept = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == runner, Job.status == "running")
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds), **fields)
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    return kept == 1


def finish(
    sessions: sessionmaker[Session],
    job_id: str,
    runner: str,
    status: str,
    error: str | None = None,
) -> bool:
    """Close a job this runner holds: succeeded, failed (with the error) or cancelled."""
    with sessions() as session:
        done = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.lease_owner == runner, Job.status == "running")
            .values(
                status=status,
                error=error,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
                phase=status,
                **({"progress": 1.0, "eta_seconds": 0.0} if status == "succeeded" else {}),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        session.commit()
    return done == 1
