"""Verification fidelity: how much data, training and programmed chips a verified figure cost.

A fidelity trains on a seeded, class-balanced subset of the training split (``train_examples``)
for ``epochs`` epochs, may screen on a fixed class-balanced subset of the validation and test
splits (``test_examples``: cheap ranking of many architectures for the surrogate; the final
verification of a job measures on the whole test split), and programs ``mc_samples`` chips per
drift time. Figures of different fidelities are not comparable: surrogate rows of one fidelity
are never fitted together with rows of another (see :func:`search.pipeline.fidelity_rows`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from search.tasks import Split, Task

# Seed of the held-out subsets: every verification at a fidelity measures on the same images,
# whatever its training seed, so that its figures differ by architecture, not by test sample.
HELD_OUT_SEED = 0


class Fidelity(BaseModel):
    """What one verified figure was measured with (``None`` examples: the whole split)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train_examples: int | None = Field(None, ge=1, description="Training subset; None: all.")
    test_examples: int | None = Field(
        None, ge=1, description="Validation and test subsets; None: all."
    )
    epochs: int = Field(ge=1, description="Training epochs (at most; early stopping may end it).")
    mc_samples: int = Field(ge=1, description="Programmed chips per drift time.")

    @classmethod
    def of_budget(cls, budget: dict[str, Any]) -> Fidelity:
        """The fidelity of a stored budget (a ``Budget`` as JSON, from any version)."""
        return cls(
            train_examples=budget.get("train_examples"),
            test_examples=budget.get("test_examples"),
            epochs=budget["train"]["epochs"],
            mc_samples=budget["mc_samples"],
        )

    def tag(self) -> str:
        """A short file-name-safe name, e.g. ``train2000-testall-e2-mc4``."""
        train = self.train_examples or "all"
        test = self.test_examples or "all"
        return f"train{train}-test{test}-e{self.epochs}-mc{self.mc_samples}"


def balanced_subset(labels: Tensor, n: int, seed: int) -> Tensor:
    """Sorted indices of ``n`` examples (all, if fewer), as equal per class as the classes
    allow: a class with too few examples gives all it has, the others share the rest; what
    does not divide evenly goes one each to classes in a seeded order. Deterministic in
    ``seed``; different seeds draw different examples."""
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    labels = np.asarray(torch.as_tensor(labels).cpu())
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    taken = np.zeros_like(counts)
    remaining = min(n, len(labels))
    while remaining:
        open_ = np.flatnonzero(taken < counts)
        share = remaining // len(open_)
        if share == 0:  # fewer left than open classes: one each, in a seeded order
            taken[rng.permutation(open_)[:remaining]] += 1
            break
        grant = np.minimum(share, counts[open_] - taken[open_])
        taken[open_] += grant
        remaining -= int(grant.sum())
    chosen = [
        rng.permutation(np.flatnonzero(labels == label))[:k]
        for label, k in zip(classes, taken, strict=True)
    ]
    return torch.from_numpy(np.sort(np.concatenate([*chosen, np.zeros(0, np.int64)])))


def _subset(split: Split, n: int | None, seed: int) -> Split:
    if n is None or n >= len(split):
        return split
    index = balanced_subset(split.y, n, seed)
    return Split(split.x[index], split.y[index])


def task_at(task: Task, fidelity: Fidelity, seed: int) -> Task:
    """``task`` restricted to the fidelity's subsets (training subset drawn with ``seed``), with
    the normalisation of the full training split, so every fidelity sees identically scaled
    inputs. The task itself when the fidelity takes whole splits (its prepared inputs are
    reused)."""
    splits = {
        "train": _subset(task.train, fidelity.train_examples, seed),
        "val": _subset(task.val, fidelity.test_examples, HELD_OUT_SEED),
        "test": _subset(task.test, fidelity.test_examples, HELD_OUT_SEED),
    }
    if all(split is task.split(name) for name, split in splits.items()):
        return task
    return dataclasses.replace(task, **splits)
