"""Visual wake words (person / no person) from an image-folder layout, resized.

``root`` holds one sub-folder per class (MLPerf Tiny's ``vw_coco2014_96``: ``non_person`` and
``person``) of image files; classes are the sub-folder names in sorted order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from search.tasks.base import Task, TaskError, data_dir, make_task

FOLDER = "vw_coco2014_96"
EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def load(root: str | Path | None = None, resolution: int = 96, seed: int = 0) -> Task:
    folder = Path(root) if root is not None else data_dir() / FOLDER
    if not folder.is_dir():
        raise TaskError(f"vww: {folder} does not exist")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise TaskError(f"vww: {folder} needs one sub-folder per class (e.g. person, non_person)")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in EXTENSIONS)
        if not files:
            raise TaskError(f"vww: {folder / name} holds no images")
        for path in files:
            try:
                with Image.open(path) as image:
                    rgb = image.convert("RGB").resize((resolution, resolution), Image.BILINEAR)
            except (UnidentifiedImageError, OSError) as error:
                raise TaskError(f"vww: {path} is not a readable image: {error}") from error
            images.append(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))
            labels.append(label)
    return make_task(
        "vww",
        np.stack(images),
        np.asarray(labels),
        scale=1 / 255,
        class_names=tuple(classes),
        seed=seed,
    )
