"""/v1/tasks and /v1/architectures: what can be searched, and what was found."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from search.space import ArchConfig
from search.tasks import BUILTIN_TASKS, load_task
from service.auth import ExportOwner, Owner, export_link, owner_id
from service.deps import get_session, get_settings
from service.exports import FORMATS, export
from service.models import Candidate, Job
from service.routers.datasets import list_datasets
from service.routers.jobs import candidate_out
from service.schemas import CandidateOut, ExportLink, JobCreate, TaskOut
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


def _verified(session: Session, architecture_id: str, owner: Owner) -> Candidate:
    mine = Job.owner_id.is_(None) if owner is None else Job.owner_id == owner_id(owner)
    candidate = session.scalars(
        select(Candidate)
        .join(Job)
        .where(Candidate.architecture_id == architecture_id, Candidate.weights.is_not(None), mine)
        .order_by(Candidate.created_at.desc())
        .limit(1)
    ).first()
    if candidate is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"architecture {architecture_id} has no verified model",
        )
    return candidate


@router.get("/architectures/{architecture_id}", response_model=CandidateOut)
def architecture(architecture_id: str, session: SessionDep, owner: Owner) -> CandidateOut:
    return candidate_out(_verified(session, architecture_id, owner))


FormatQuery = Annotated[str, Query(description=f"One of: {', '.join(FORMATS)}")]


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
) -> ExportLink:
    """A signed download link of the verified network, valid for minutes, for this architecture
    and format only: hand it to a tool (curl, wget, a notebook) instead of the API key."""
    _check_format(format)
    _verified(session, architecture_id, owner)
    path = f"/v1/architectures/{architecture_id}/export"
    if owner is None:  # authentication is off: the plain link is enough
        return ExportLink(url=f"{path}?format={format}", expires_at=None)
    query, expires = export_link(settings, owner, architecture_id, format)
    return ExportLink(url=f"{path}?{query}", expires_at=datetime.fromtimestamp(expires, UTC))


@router.get("/architectures/{architecture_id}/export")
def export_architecture(
    architecture_id: str,
    session: SessionDep,
    owner: ExportOwner,
    format: FormatQuery = "onnx",
) -> Response:
    """Download the verified network: ONNX, TorchScript, state_dict, JSON or analog bundle.
    Authenticated like any call, or by the signed query of ``POST .../export-link``."""
    _check_format(format)
    candidate = _verified(session, architecture_id, owner)
    job = session.get(Job, candidate.job_id)
    request = JobCreate.model_validate(job.request)
    task = load_task(task_spec(session, request.task, job.owner_id))
    exported = export(
        format,
        ArchConfig.model_validate(candidate.architecture),
        task.input_shape,
        task.num_classes,
        request.hardware.config(),
        candidate.weights,
    )
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )
