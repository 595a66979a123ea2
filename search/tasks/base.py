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
    """A classification task; inputs are prepared (scaled, normalized) once per split and
    device, then served in batches."""

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
    _prepared: dict[tuple[str, torch.device], tuple[Tensor, Tensor]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

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

    def prepared(
        self, split: str, device: torch.device | str | None = None
    ) -> tuple[Tensor, Tensor]:
        """A whole split as float network inputs and labels on ``device``, prepared on first use
        and then reused (moved once, through pinned memory to a GPU). Do not modify them."""
        data = self.split(split)
        key = (split, data.x.device if device is None else torch.device(device))
        if key not in self._prepared:
            x, y = _to_device(data.x, device), _to_device(data.y, device)
            self._prepared[key] = self.prepare(x), y
        return self._prepared[key]

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Prepared ``(x, y)`` batches of a split (the first ``limit`` examples, if given), cut
        from :meth:`prepared`: unshuffled batches are views of it (do not modify them), shuffled
        ones follow a permutation drawn on ``device`` from ``seed``."""
        x, y = self.prepared(split, device)
        n = len(y) if limit is None else min(limit, len(y))
        if not shuffle:
            for start in range(0, n, batch_size):
                yield x[start : start + batch_size], y[start : start + batch_size]
            return
        generator = torch.Generator(device=y.device).manual_seed(seed)
        order = torch.randperm(len(y), generator=generator, device=y.device)[:n]
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield x.index_select(0, index), y.index_select(0, index)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "metric": self.metric,
            "examples": {s: len(self.split(s)) for s in ("train", "val", "test")},
        }


def _to_device(tensor: Tensor, device: torch.device | str | None) -> Tensor:
    """``tensor`` on ``device``, copied asynchronously from pinned memory to a GPU."""
    if device is not None and torch.device(device).type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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
    train_x, val_x, test_x = (x.index_select(0, index) for index in (train, val, test))
    scaled = train_x.float() * scale
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp(min=1e-6)
    return Task(
        name=name,
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        train=Split(train_x, y[train]),
        val=Split(val_x, y[val]),
        test=Split(test_x, y[test]),
        scale=scale,
        mean=tuple(mean.tolist()),
        std=tuple(std.tolist()),
        class_names=class_names,
    )
