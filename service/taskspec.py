"""Resolve a job's task name to what ``search.tasks.load_task`` loads."""

from __future__ import annotations

from sqlalchemy.orm import Session

from search.tasks import NPZ_PREFIX
from service.models import Dataset
from service.schemas import DATASET_TASK


def task_spec(session: Session, task: str, owner_key_id: int | None) -> str:
    """What ``search.tasks.load_task`` loads for a job's task: built-in names as they are, an
    uploaded data set (``dataset-ID``, visible to this owner) as ``npz:PATH``."""
    match = DATASET_TASK.fullmatch(task)
    if match is None:
        return task
    dataset = session.get(Dataset, task.removeprefix("dataset-"))
    if dataset is None or dataset.owner_id != owner_key_id:
        raise LookupError(f"task: no uploaded data set {task!r}")
    return NPZ_PREFIX + dataset.path
