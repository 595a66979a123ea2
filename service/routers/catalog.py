"""/v1/tasks and /v1/architectures: what can be searched, and what was found."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from search.space import ArchConfig
from search.tasks import BUILTIN_TASKS, load_task
from service.auth import ExportOwner, Owner, export_link, owner_id
from service.deps import get_session, get_settings
from service.exports import FORMATS, Factorising, analysis_notes, export
from service.models import Candidate, Job
from service.routers.datasets import list_datasets
from service.routers.jobs import candidate_out
from service.schemas import (
    CandidateOut,
    ExportLink,
    JobCreate,
    RecordedFigures,
    RecordOut,
    TaskOut,
)
from service.settings import Settings
from service.taskspec import task_spec

router = APIRouter(prefix="/v1", tags=["catalog"])
SessionDep = Annotated[Session, Depends(get_session)]


@router.get("/tasks", response_model=list[TaskOut])
def tasks(session: SessionDep, owner: Owner) -> list[TaskOut]:
    """Built-in tasks and the caller's uploaded data sets."""
    builtin = [TaskOut(name=name, description=text) for name, (_, text) in BUILTIN_TASKS.items()]
    uploaded = [
        TaskOut(
            name=d.task,
            description=f"uploaded: {d.name}, {d.examples} examples of "
            f"{tuple(d.input_shape)}, {d.num_classes} classes",
        )
        for d in list_datasets(session, owner)
    ]
    return builtin + uploaded


JobQuery = Annotated[
    str | None,
    Query(
        max_length=32,
        description="The job whose verification to take (default: the newest of any of the "
        "caller's jobs; a rescore job verifies the same architectures on another chip).",
    ),
]


def _verified(
    session: Session,
    architecture_id: str,
    owner: Owner,
    job_id: str | None = None,
    with_weights: bool = True,
) -> Candidate:
    """The caller's newest verification of the architecture (of ``job_id`` when given) that
    stored its trained weights (any, without ``with_weights``)."""
    mine = Job.owner_id.is_(None) if owner is None else Job.owner_id == owner_id(owner)
    stored = Candidate.weights.is_not(None) if with_weights else Candidate.verified.is_not(None)
    query = select(Candidate).join(Job).where(Candidate.architecture_id == architecture_id)
    if job_id is not None:
        query = query.where(Candidate.job_id == job_id)
    candidate = session.scalars(
        query.where(stored, mine).order_by(Candidate.created_at.desc(), Candidate.id.desc())
    ).first()
    if candidate is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"architecture {architecture_id} has no verified model"
            + (f" in job {job_id}" if job_id else ""),
        )
    return candidate


@router.get("/architectures/{architecture_id}", response_model=CandidateOut)
def architecture(
    architecture_id: str, session: SessionDep, owner: Owner, job: JobQuery = None
) -> CandidateOut:
    return candidate_out(_verified(session, architecture_id, owner, job))


@router.get(
    "/architectures/{architecture_id}/record",
    response_model=RecordOut,
    responses={409: {"description": "Verified before replay records were stored"}},
)
def record(
    architecture_id: str, session: SessionDep, owner: Owner, job: JobQuery = None
) -> RecordOut:
    """What reproduces a verified figure: code and device-model versions, architecture, task
    and data checksum, budget and fidelity, seeds and chips, with the stored figures. ``xbarnas
    replay ARCH_ID`` recomputes them from it."""
    candidate = _verified(session, architecture_id, owner, job, with_weights=False)
    verified = candidate.verified
    if not verified.get("record"):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"architecture {architecture_id} (job {candidate.job_id}) was verified "
            "before replay records were stored with its figures: there is nothing to replay it "
            "from; re-score the job on the same chip, or submit it again, to get one",
        )
    return RecordOut(
        architecture_id=architecture_id,
        job_id=candidate.job_id,
        record=verified["record"],
        figures=RecordedFigures(
            times=verified["times"],
            accuracy_mean=verified["accuracy_mean"],
            accuracy_std=verified["accuracy_std"],
            digital_accuracy=verified["digital_accuracy"],
        ),
    )


FormatQuery = Annotated[str, Query(description=f"One of: {', '.join(FORMATS)}")]
RankQuery = Annotated[
    float | None,
    Query(
        gt=0,
        le=1,
        description="Factorise the trained network at export: this rank fraction (of each "
        "layer's smaller side), the factors by the randomized SVD of its trained weights.",
    ),
]
FactorsQuery = Annotated[
    Literal["analog", "exact"],
    Query(description="analog: the SVD's products on the job's chip; exact: in digital."),
]


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"format: {format!r} is not one of {', '.join(FORMATS)}",
        )


@router.post("/architectures/{architecture_id}/export-link", response_model=ExportLink)
def export_architecture_link(
    architecture_id: str,
    session: SessionDep,
    settings: Annotated[Settings, Depends(get_settings)],
    owner: Owner,
    format: FormatQuery = "onnx",
    job: JobQuery = None,
) -> ExportLink:
    """A signed download link of the verified network, valid for minutes, for this architecture
    and format only: hand it to a tool (curl, wget, a notebook) instead of the API key."""
    _check_format(format)
    _verified(session, architecture_id, owner, job)
    path = f"/v1/architectures/{architecture_id}/export"
    of_job = f"&job={job}" if job else ""
    if owner is None:  # authentication is off: the plain link is enough
        return ExportLink(url=f"{path}?format={format}{of_job}", expires_at=None)
    query, expires = export_link(settings, owner, architecture_id, format)
    return ExportLink(
        url=f"{path}?{query}{of_job}", expires_at=datetime.fromtimestamp(expires, UTC)
    )


@router.get("/architectures/{architecture_id}/export")
def export_architecture(
    architecture_id: str,
    session: SessionDep,
    owner: ExportOwner,
    format: FormatQuery = "onnx",
    job: JobQuery = None,
    rank_wide: RankQuery = None,
    rank_classifier: RankQuery = None,
    factors: FactorsQuery = "analog",
) -> Response:
    """Download the verified network: ONNX, TorchScript, state_dict, JSON or analog bundle (its
    manifest with the reprogramming interval and the layer sensitivity). Authenticated like any
    call, or by the signed query of ``POST .../export-link``. ``rank_wide`` and
    ``rank_classifier`` factorise the trained widest layers and classifier first (their
    relative errors in the JSON and the bundle's manifest)."""
    _check_format(format)
    candidate = _verified(session, architecture_id, owner, job)
    job = session.get(Job, candidate.job_id)
    request = JobCreate.model_validate(job.request)
    task = load_task(task_spec(session, request.task, job.owner_id))
    factorising = None
    if rank_wide is not None or rank_classifier is not None:
        factorising = Factorising(
            rank_wide or 1.0, rank_classifier or 1.0, factors == "analog", request.seed
        )
    try:
        exported = export(
            format,
            ArchConfig.model_validate(candidate.architecture),
            task.input_shape,
            task.num_classes,
            request.hardware.config(),
            candidate.weights,
            analysis_notes(candidate.verified),
            factorising,
        )
    except ValueError as error:  # a part already factorised, a head with a classifier rank
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from error
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )
