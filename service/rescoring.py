"""Rescore jobs: a finished job's trained candidates measured on another chip, as a child job.

The child job's request is its parent's with the new chip, so that everything that reads a job's
request (the runner's budget and task, exports, the dashboard) reads the child's chip. A rescore
of a rescore job re-scores the original job. The work itself is :mod:`search.rescore`'s; this
module holds the database side: creating the child (API), and what the runner needs to run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, status
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from search.fidelity import Fidelity
from search.rescore import FrontPrediction, StoredCandidate
from search.space import ArchConfig
from search.verify import Budget
from service.models import ApiKey, Candidate, Job
from service.quotas import enforce_active_jobs
from service.schemas import JobCreate, RescoreCreate, RescoreInfo
from service.settings import Settings
from service.taskspec import task_spec
from simulator import HardwareConfig

FINISHED = ("succeeded", "failed", "cancelled")


def _conflict(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=detail)


def create_rescore(
    session: Session, job: Job, body: RescoreCreate, settings: Settings, owner: ApiKey | None
) -> Job:
    """Queue the re-scoring of ``job``'s verified candidates on ``body``'s chip (of the original
    job's, when ``job`` is itself a rescore). 409 while the job runs, when it has nothing to
    re-score, or when its candidates were stored without their trained weights; 429 over the
    owner's active-jobs quota."""
    parent = session.get(Job, job.parent_id) if job.parent_id else job
    if parent.status not in FINISHED:
        raise _conflict(f"job {parent.id} is {parent.status}: re-score it when it has finished")
    verified = _verified(session, parent.id)
    if not verified:
        raise _conflict(f"job {parent.id} has no verified candidates to re-score")
    if any(row.weights is None for row in verified):
        raise _conflict(
            f"job {parent.id} was verified before trained weights were stored with its "
            "candidates: they cannot be re-scored without training them again; submit the job "
            "again to get candidates that can"
        )
    request = JobCreate.model_validate(
        {**parent.request, "hardware": body.hardware.model_dump(mode="json")}
    )
    try:
        task_spec(session, request.task, parent.owner_id)
    except LookupError as error:
        raise _conflict(f"job {parent.id}'s data set is gone: {error}") from error
    front = FrontPrediction(  # the runner fits the pooled surrogate for the chip and says so
        True, None, "The unverified candidates are predicted again when the rescore runs"
    )
    info = RescoreInfo(
        parent_id=parent.id,
        verified=len(verified),
        front=len(_front(session, parent.id)),
        **_front_fields(front),
    )
    enforce_active_jobs(session, settings, owner)
    child = Job(
        request=request.model_dump(mode="json"),
        owner_id=parent.owner_id,
        parent_id=parent.id,
        rescore=info.model_dump(mode="json"),
    )
    session.add(child)
    session.commit()
    return child


def _front_fields(front: FrontPrediction) -> dict:
    return {"front_predicted": front.predicted, "surrogate": front.surrogate, "note": front.note}


def _verified(session: Session, job_id: str) -> list[Candidate]:
    return list(
        session.scalars(
            select(Candidate)
            .where(Candidate.job_id == job_id, Candidate.verified.is_not(None))
            .order_by(Candidate.id)
        )
    )


def _front(session: Session, job_id: str) -> list[Candidate]:
    """The job's unverified Pareto candidates."""
    return list(
        session.scalars(
            select(Candidate)
            .where(Candidate.job_id == job_id, Candidate.pareto, Candidate.verified.is_(None))
            .order_by(Candidate.id)
        )
    )


def is_rescore(sessions: sessionmaker[Session], job_id: str) -> bool:
    with sessions() as session:
        return session.get(Job, job_id).parent_id is not None


@dataclass(frozen=True)
class RescorePlan:
    """What a rescore job measures and stores."""

    task: str  # what search.tasks.load_task loads
    hw: HardwareConfig
    budget: Budget  # the parent's verification budget: the same seeds
    collection: Fidelity  # of the surrogate that may predict the front
    verified: list[StoredCandidate]
    configs: list[ArchConfig]  # every candidate to store: the verified ones, then the front
    pareto: tuple[str, ...]  # the architecture ids on the parent's Pareto front


def rescore_plan(sessions: sessionmaker[Session], job_id: str) -> RescorePlan:
    """The plan of rescore job ``job_id``, from its parent's stored candidates."""
    with sessions() as session:
        job = session.get(Job, job_id)
        request = JobCreate.model_validate(job.request)
        rows = session.scalars(
            select(Candidate)
            .where(
                Candidate.job_id == job.parent_id,
                or_(Candidate.verified.is_not(None), Candidate.pareto),
            )
            .order_by(Candidate.verified.is_(None), Candidate.id)
        ).all()
        return RescorePlan(
            task=task_spec(session, request.task, job.owner_id),
            hw=request.hardware.config(),
            budget=request.verification_budget(),
            collection=request.collection_budget().fidelity,
            verified=[_stored(row) for row in rows if row.verified is not None],
            configs=[ArchConfig.model_validate(row.architecture) for row in rows],
            pareto=tuple(row.architecture_id for row in rows if row.pareto),
        )


def _stored(row: Candidate) -> StoredCandidate:
    verified = row.verified
    saved_on = HardwareConfig.model_validate(verified["hardware"])
    trained_on = verified.get("trained_on")
    return StoredCandidate(
        ArchConfig.model_validate(row.architecture),
        row.weights,
        saved_on,
        HardwareConfig.model_validate(trained_on) if trained_on else saved_on,
        verified.get("epochs", 0),
    )


def record_front_prediction(
    sessions: sessionmaker[Session], job_id: str, front: FrontPrediction
) -> None:
    """What the runner found for the front (a surrogate may have appeared since the request)."""
    with sessions() as session:
        job = session.get(Job, job_id)
        job.rescore = {**job.rescore, **_front_fields(front)}
        session.commit()
