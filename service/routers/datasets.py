"""/v1/datasets: upload an ``.npz`` (arrays ``x`` and ``y``) and search on it like a task."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, UploadFile, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from search.tasks import TaskError, load_npz_task
from service.auth import Owner, owner_id
from service.deps import get_session, get_settings
from service.models import Dataset
from service.schemas import DatasetOut
from service.settings import Settings

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
SessionDep = Annotated[Session, Depends(get_session)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DatasetOut)
async def upload(
    session: SessionDep,
    owner: Owner,
    settings: Annotated[Settings, Depends(get_settings)],
    file: Annotated[UploadFile, File(description="An .npz with x (N x C x H x W or N x F), y")],
    name: Annotated[str | None, Form(max_length=200)] = None,
) -> Dataset:
    limit = settings.max_upload_mb * 2**20
    content = await file.read(limit + 1)
    if len(content) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"file: larger than {settings.max_upload_mb} MB",
        )
    dataset_id = uuid.uuid4().hex
    folder = settings.data_dir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dataset-{dataset_id}.npz"
    path.write_bytes(content)
    try:
        task = load_npz_task(path)
    except TaskError as error:
        path.unlink()
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"file: {error}"
        ) from error
    dataset = Dataset(
        id=dataset_id,
        owner_id=owner_id(owner),
        name=name or file.filename or dataset_id,
        path=str(path.resolve()),
        input_shape=list(task.input_shape),
        num_classes=task.num_classes,
        examples=len(task.train) + len(task.val) + len(task.test),
    )
    session.add(dataset)
    session.commit()
    return dataset


@router.get("", response_model=list[DatasetOut])
def list_datasets(session: SessionDep, owner: Owner) -> list[Dataset]:
    mine = Dataset.owner_id.is_(None) if owner is None else Dataset.owner_id == owner.id
    return list(session.scalars(select(Dataset).where(mine).order_by(Dataset.created_at.desc())))
