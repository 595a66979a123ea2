"""CIFAR-10 from the standard python-pickle batches (downloaded when absent)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from search.tasks.base import Task, TaskError, data_dir, make_task, split_indices
from search.tasks.download import download_and_extract

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
VAL_FRACTION = 0.1  # of the 50 000 training images


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as file:
            batch = pickle.load(file, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, TypeError, EOFError) as error:
        raise TaskError(f"cifar10: {path} is not a CIFAR-10 python batch: {error}") from error
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise TaskError(f"cifar10: {path} has data {data.shape} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def load(
    root: str | Path | None = None,
    download: bool = True,
    url: str = URL,
    md5: str | None = MD5,
    seed: int = 0,
) -> Task:
    """CIFAR-10 under ``root`` (default: the data directory); the test batch is the test split."""
    base = data_dir(root)
    folder = base / FOLDER
    if not folder.is_dir():
        if not download:
            raise TaskError(f"cifar10: {folder} does not exist (download disabled)")
        download_and_extract(url, base, md5)
        if not folder.is_dir():
            raise TaskError(f"cifar10: the archive from {url} holds no {FOLDER} folder")
    train = [_read_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = _read_batch(folder / "test_batch")
    x = np.concatenate([b[0] for b in train] + [test_x])
    y = np.concatenate([b[1] for b in train] + [test_y])
    n_train = len(x) - len(test_x)
    train_index, val_index = split_indices(n_train, (1 - VAL_FRACTION, VAL_FRACTION), seed)
    test_index = torch.arange(n_train, len(x))
    return make_task(
        "cifar10",
        x,
        y,
        scale=1 / 255,
        class_names=CLASSES,
        num_classes=len(CLASSES),
        splits=(train_index, val_index, test_index),
    )
