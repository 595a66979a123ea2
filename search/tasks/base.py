"""A task: data with fixed seeded splits, input shape, classes, metric."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)


def data_dir(path: str | Path | None = None) -> Path:
    """Where data sets live: ``path``, else ``XBARNAS_DATA_DIR``, else ``./data``."""
    return Path(path or os.environ.get("XBARNAS_DATA_DIR", "./data"))


class TaskError(ValueError):
    """A data set that cannot become a task (missing, malformed, inconsistent)."""


@dataclass(frozen=True)
class Split:
    """Examples ``x`` (N x C x H x W, stored compactly, e.g. uint8) and integer labels ``y``."""

    x: Tensor
    y: Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Task:
    """A classification task; inputs are prepared (scaled, normalized) batch by batch."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    train: Split
    val: Split
    test: Split
    scale: float = 1.0  # raw value * scale, then normalized per channel
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())
    class_names: tuple[str, ...] = ()
    metric: str = "accuracy"

    def split(self, name: str) -> Split:
        if name not in ("train", "val", "test"):
            raise ValueError(f"split: {name!r} is not one of train, val, test")
        return getattr(self, name)

    def prepare(self, x: Tensor, device: torch.device | str | None = None) -> Tensor:
        """Raw examples -> float network inputs on ``device``."""
        x = x.to(device=device, dtype=torch.float32) * self.scale
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Prepared ``(x, y)`` batches of a split (the first ``limit`` examples, if given)."""
        data = self.split(split)
        n = len(data) if limit is None else min(limit, len(data))
        order = (
            torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
            if shuffle
            else torch.arange(n)
        )
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield self.prepare(data.x[index], device), data.y[index].to(device)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "metric": self.metric,
            "examples": {s: len(self.split(s)) for s in ("train", "val", "test")},
        }


def as_examples(x: np.ndarray | Tensor, name: str = "x") -> Tensor:
    """Validate N x C x H x W or N x F examples (N x F becomes N x 1 x 1 x F)."""
    x = torch.as_tensor(np.asarray(x)) if not isinstance(x, Tensor) else x
    if x.dim() == 2:
        x = x[:, None, None, :]
    if x.dim() != 4:
        raise TaskError(f"{name}: expected N x C x H x W or N x F, got shape {tuple(x.shape)}")
    if x.is_complex() or x.dtype == torch.bool:
        raise TaskError(f"{name}: expected real numbers, got {x.dtype}")
    if not x.dtype.is_floating_point and x.dtype != torch.uint8:
        x = x.float()
    if x.dtype.is_floating_point and not torch.isfinite(x).all():
        raise TaskError(f"{name}: contains NaN or infinite values")
    return x


def as_labels(y: np.ndarray | Tensor, n: int, name: str = "y") -> Tensor:
    """Validate N integer class labels 0..K-1."""
    y = torch.as_tensor(np.asarray(y)) if not isinstance(y, Tensor) else y
    if y.dim() != 1:
        raise TaskError(f"{name}: expected a vector of N labels, got shape {tuple(y.shape)}")
    if len(y) != n:
        raise TaskError(f"{name}: {len(y)} labels for {n} examples")
    if y.dtype.is_floating_point:
        if not torch.equal(y, y.round()):
            raise TaskError(f"{name}: labels must be integers")
    elif y.dtype == torch.bool or y.is_complex():
        raise TaskError(f"{name}: labels must be integers, got {y.dtype}")
    y = y.long()
    if len(y) and y.min() < 0:
        raise TaskError(f"{name}: labels must be >= 0")
    return y


def split_indices(
    n: int, fractions: tuple[float, ...] = DEFAULT_FRACTIONS, seed: int = 0
) -> list[Tensor]:
    """A seeded random partition of range(n) into parts of the given fractions."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    bounds = np.cumsum([0, *fractions])
    bounds = np.round(bounds / bounds[-1] * n).astype(int)
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


def make_task(
    name: str,
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    *,
    scale: float = 1.0,
    class_names: tuple[str, ...] = (),
    seed: int = 0,
    splits: tuple[Tensor, Tensor, Tensor] | None = None,
    num_classes: int | None = None,
) -> Task:
    """A task from all examples, split 70/15/15 with ``seed`` unless ``splits`` (indices) given.

    ``num_classes`` defaults to the largest label + 1.
    """
    x = as_examples(x)
    y = as_labels(y, len(x))
    largest = int(y.max()) if len(y) else -1
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise TaskError(f"y: label {largest} is not below the {num_classes} classes")
    if num_classes < 2:
        raise TaskError("y: a classification task needs at least 2 classes")
    if class_names and len(class_names) != num_classes:
        raise TaskError(f"y: {num_classes} classes but {len(class_names)} class names")
    if len(x) < 3:
        raise TaskError(f"x: {len(x)} examples are too few to split into train/val/test")
    train, val, test = splits if splits is not None else split_indices(len(x), seed=seed)
    if min(len(train), len(val), len(test)) == 0:
        raise TaskError("x: too few examples for non-empty train, val and test splits")
    train_x = x[train].float() * scale
    mean = train_x.mean(dim=(0, 2, 3))
    std = train_x.std(dim=(0, 2, 3)).clamp(min=1e-6)
    return Task(
        name=name,
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        train=Split(x[train], y[train]),
        val=Split(x[val], y[val]),
        test=Split(x[test], y[test]),
        scale=scale,
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        class_names=class_names,
    )
