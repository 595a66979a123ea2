"""/v1/jobs: submit, list, inspect, cancel jobs; their candidates."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from search.reprogramming import DEFAULT_TOLERANCE, reprogramming_intervals
from service.auth import Owner, owner_id
from service.db import unavailable
from service.deps import get_session, get_settings
from service.models import Candidate, Job
from service.quotas import OVER_QUOTA, enforce_job_quota
from service.rescoring import create_rescore
from service.schemas import (
    CandidateOut,
    DriftAccuracy,
    JobCreate,
    JobOut,
    JobPage,
    RescoreCreate,
)
from service.settings import Settings
from service.taskspec import task_spec

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
SessionDep = Annotated[Session, Depends(get_session)]


def _job(session: Session, job_id: str, owner: Owner) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.owner_id != owner_id(owner):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"job {job_id} not found")
    return job


def jobs_out(session: Session, jobs: list[Job]) -> list[JobOut]:
    """The jobs as the API shows them, with their best verified 1-day accuracy."""
    best = dict(
        session.execute(
            select(Candidate.job_id, func.max(Candidate.accuracy_1d))
            .where(Candidate.job_id.in_([job.id for job in jobs]))
            .group_by(Candidate.job_id)
        ).all()
    )
    return [
        JobOut.model_validate(job).model_copy(update={"best_accuracy_1d": best.get(job.id)})
        for job in jobs
    ]


def job_out(session: Session, job: Job) -> JobOut:
    return jobs_out(session, [job])[0]


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut, responses=OVER_QUOTA)
def submit(
    body: JobCreate,
    response: Response,
    session: SessionDep,
    owner: Owner,
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobOut:
    """Queue a search job; its progress is at the returned Location. 429 over a quota."""
    try:
        task_spec(session, body.task, owner_id(owner))
    except LookupError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from error
    enforce_job_quota(session, settings, owner, body)
    job = Job(request=body.model_dump(mode="json"), owner_id=owner_id(owner))
    session.add(job)
    session.commit()
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_out(session, job)


@router.get("", response_model=JobPage)
def list_jobs(
    session: SessionDep,
    owner: Owner,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    parent: Annotated[
        str | None, Query(max_length=32, description="Only the rescore jobs of this job.")
    ] = None,
) -> JobPage:
    """Jobs, newest first."""
    mine = Job.owner_id.is_(None) if owner is None else Job.owner_id == owner.id
    if parent is not None:
        mine = mine & (Job.parent_id == parent)
    total = session.scalar(select(func.count()).select_from(Job).where(mine))
    jobs = session.scalars(
        select(Job).where(mine).order_by(Job.created_at.desc(), Job.id).offset(offset).limit(limit)
    ).all()
    return JobPage(items=jobs_out(session, list(jobs)), total=total, offset=offset, limit=limit)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, session: SessionDep, owner: Owner) -> JobOut:
    return job_out(session, _job(session, job_id, owner))


TERMINAL = ("succeeded", "failed", "cancelled")


@router.get("/{job_id}/events", response_class=StreamingResponse)
async def events(job_id: str, request: Request, session: SessionDep, owner: Owner):
    """Server-sent events: a ``progress`` event whenever the job changes, until it ends."""
    _job(session, job_id, owner)
    database = request.app.state.database

    def snapshot() -> dict | None:
        """The job now, or None while the database is out of reach (the stream waits)."""
        try:
            with database.session() as fresh:
                return job_out(fresh, fresh.get(Job, job_id)).model_dump(mode="json")
        except Exception as error:
            if unavailable(error):
                return None
            raise

    async def stream():
        last = None
        while not await request.is_disconnected():
            state = await asyncio.to_thread(snapshot)
            if state is None:
                await asyncio.sleep(1.0)
                continue
            if state != last:
                yield f"event: progress\ndata: {json.dumps(state)}\n\n"
                last = state
            if state["status"] in TERMINAL:
                return
            await asyncio.sleep(0.5)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel(job_id: str, session: SessionDep, owner: Owner) -> JobOut:
    """Cancel a job: at once when queued, at the runner's next progress report when running."""
    job = _job(session, job_id, owner)
    if job.status in TERMINAL:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"job {job_id} has already {job.status}"
        )
    job.cancel_requested = True
    if job.status == "queued":
        job.status = job.phase = "cancelled"
    session.commit()
    return job_out(session, job)


@router.post(
    "/{job_id}/rescore",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={
        **OVER_QUOTA,
        409: {"description": "The job runs, has nothing to re-score, or has no stored weights"},
    },
)
def rescore(
    job_id: str,
    body: RescoreCreate,
    response: Response,
    session: SessionDep,
    owner: Owner,
    settings: Annotated[Settings, Depends(get_settings)],
) -> JobOut:
    """Re-score a finished job's verified candidates on another chip, without retraining: a
    child job (its progress at the returned Location) programs their stored trained weights on
    that chip, optimises the ranges again and runs the drift Monte Carlo with the job's seeds;
    the unverified front is predicted again by the chip's surrogate where one exists (the
    job's ``rescore`` says whether). 409 while the job runs, or when it has no stored trained
    weights; 429 over the active-jobs quota."""
    child = create_rescore(session, _job(session, job_id, owner), body, settings, owner)
    response.headers["Location"] = f"/v1/jobs/{child.id}"
    return job_out(session, child)


ToleranceQuery = Annotated[
    float,
    Query(
        gt=0,
        le=100,
        description="Reprogramming tolerance: accuracy points below the 1-second accuracy.",
    ),
]


@router.get("/{job_id}/candidates", response_model=list[CandidateOut])
def candidates(
    job_id: str, session: SessionDep, owner: Owner, tolerance: ToleranceQuery = DEFAULT_TOLERANCE
) -> list[CandidateOut]:
    """The job's Pareto front and verified candidates, verified and most accurate first; the
    verified ones with their reprogramming interval at ``tolerance`` and layer sensitivity."""
    _job(session, job_id, owner)
    rows = session.scalars(select(Candidate).where(Candidate.job_id == job_id)).all()
    out = [candidate_out(c, tolerance) for c in rows]
    return sorted(
        out, key=lambda c: (not c.verified, -(c.accuracy_1d or c.predicted.get("accuracy_1d", 0.0)))
    )


def candidate_out(candidate: Candidate, tolerance: float = DEFAULT_TOLERANCE) -> CandidateOut:
    verified = candidate.verified or {}
    grid = verified.get("drift") or {}
    cost = candidate.cost
    return CandidateOut(
        architecture_id=candidate.architecture_id,
        architecture=candidate.architecture,
        predicted=candidate.predicted,
        measured=candidate.measured,
        pareto=candidate.pareto,
        verified=candidate.verified is not None,
        accuracy_1d=candidate.accuracy_1d,
        accuracy=_curve(
            verified.get("times", []),
            verified.get("accuracy_mean", []),
            verified.get("accuracy_std", []),
        ),
        avm=verified.get("avm"),
        digital_accuracy=verified.get("digital_accuracy"),
        fidelity=candidate.fidelity,
        tiles=int(cost["tiles"]),
        params=int(cost["params"]),
        energy_nj=cost["energy"],
        latency_us=cost["latency"],
        drift=_curve(grid.get("times", []), grid.get("mean", []), grid.get("std", [])),
        reprogramming=(
            reprogramming_intervals(grid["times"], grid["mean"], grid["std"], tolerance)
            if grid
            else None
        ),
        sensitivity=verified.get("sensitivity") or None,
    )


def _curve(times: list[float], means: list[float], stds: list[float]) -> list[DriftAccuracy]:
    return [
        DriftAccuracy(time_seconds=t, mean=m, std=s)
        for t, m, s in zip(times, means, stds, strict=True)
    ]
