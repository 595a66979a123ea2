"""Uploaded data sets: an ``.npz`` file with arrays ``x`` (N x C x H x W or N x F) and ``y``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from search.tasks.base import Task, TaskError, make_task


def load(path: str | Path, name: str | None = None, seed: int = 0) -> Task:
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"npz: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise TaskError(f"npz: {path.name} lacks the array(s) {sorted(missing)}")
            x, y = archive["x"], archive["y"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise TaskError(f"npz: {path.name} is not a readable .npz file: {error}") from error
    if x.dtype == object or y.dtype == object:
        raise TaskError("npz: x and y must be numeric arrays")
    return make_task(name or path.stem, x, y, seed=seed)
