"""/v1/datasets: upload an ``.npz`` (arrays ``x`` and ``y``) and search on it like a task."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from search.tasks import TaskError
from search.tasks.npz import DatasetTooLarge, Summary, inspect
from service.auth import Owner, owner_id
from service.deps import get_session, get_settings
from service.models import Dataset, Job
from service.quotas import ACTIVE, OVER_QUOTA, enforce_dataset_quota
from service.schemas import DatasetOut
from service.settings import Settings
from service.uploads import receive_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
SessionDep = Annotated[Session, Depends(get_session)]
NAME_LENGTH = 200
UPLOAD_BODY = {  # the body is streamed by service.uploads, so it is described here
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "contentMediaType": "application/octet-stream",
                            "description": "An .npz with x (N x C x H x W or N x F) and y "
                            "(N labels 0..C-1)",
                        },
                        "name": {"type": "string", "maxLength": NAME_LENGTH},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetOut,
    openapi_extra=UPLOAD_BODY,
    responses={
        413: {"description": "The upload, or the arrays it inflates to, are too large"},
        **OVER_QUOTA,
    },
)
async def upload(
    request: Request,
    session: SessionDep,
    owner: Owner,
    settings: Annotated[Settings, Depends(get_settings)],
) -> Dataset:
    """Upload an ``.npz`` data set (multipart form: ``file``, optional ``name``)."""
    enforce_dataset_quota(session, settings, owner, 0)  # a full quota refuses before the body
    session.rollback()  # releases the owner's quota lock while the body streams in
    folder = settings.data_dir / "datasets"
    max_bytes = settings.max_upload_mb * 2**20
    async with receive_upload(request, folder, max_bytes, ("name",)) as received:
        name = received.fields.get("name") or (received.filename or "")[:NAME_LENGTH]
        if len(name) > NAME_LENGTH:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"name: at most {NAME_LENGTH} characters",
            )
        summary = await run_in_threadpool(
            check_arrays, received.path, settings.max_dataset_mb * 2**20
        )
        dataset_id = uuid.uuid4().hex
        path = folder / f"dataset-{dataset_id}.npz"
        os.replace(received.path, path)
    dataset = Dataset(
        id=dataset_id,
        owner_id=owner_id(owner),
        name=name or dataset_id,
        path=str(path.resolve()),
        input_shape=list(summary.input_shape),
        num_classes=summary.num_classes,
        examples=summary.examples,
        size_bytes=path.stat().st_size,
    )
    try:
        enforce_dataset_quota(session, settings, owner, dataset.size_bytes)
        session.add(dataset)
        session.commit()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return dataset


def check_arrays(path: Path, max_bytes: int) -> Summary:
    """The received file's arrays, checked before any is loaded whole: 413 when they would inflate
    beyond ``max_bytes``, 422 naming any other problem."""
    try:
        return inspect(path, max_bytes)
    except DatasetTooLarge as error:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"file: {error}") from error
    except TaskError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"file: {error}"
        ) from error


@router.delete("/{dataset_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(dataset_id: str, session: SessionDep, owner: Owner) -> None:
    """Delete an uploaded data set and its file (frees its quota); 409 while a queued or running
    job of its owner uses it."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.owner_id != owner_id(owner):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"data set {dataset_id} not found")
    mine = Job.owner_id.is_(None) if owner is None else Job.owner_id == owner.id
    active = session.scalars(select(Job.request).where(mine, Job.status.in_(ACTIVE))).all()
    if any(request.get("task") == dataset.task for request in active):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"data set {dataset_id} is used by a queued or running job; cancel it first",
        )
    session.delete(dataset)
    session.commit()
    Path(dataset.path).unlink(missing_ok=True)


def remove_stale_uploads(folder: Path, older_than_seconds: float = 3600.0) -> None:
    """Remove partial uploads left by a server that was killed mid-upload (another server sharing
    the folder may be receiving one now, hence the age)."""
    cutoff = time.time() - older_than_seconds
    for part in folder.glob(".upload-*.part"):
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < cutoff:
                part.unlink()


@router.get("", response_model=list[DatasetOut])
def list_datasets(session: SessionDep, owner: Owner) -> list[Dataset]:
    mine = Dataset.owner_id.is_(None) if owner is None else Dataset.owner_id == owner.id
    return list(session.scalars(select(Dataset).where(mine).order_by(Dataset.created_at.desc())))
