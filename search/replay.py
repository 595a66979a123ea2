"""Replay: recompute a verified figure from its record and say whether it agrees.

The network is trained again from scratch for the recorded chip with the recorded budget and
seeds, on data whose checksum must equal the record's, then measured on the recorded chip, with
as many torch threads as the original run (summation order, hence rounding, depends on them). A
figure agrees when the replayed mean accuracy lies within the Monte Carlo standard error of the
stored one (std over chips / sqrt(chips), at least one test example).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from search.fidelity import Fidelity, task_at
from search.record import data_checksum, xbarnas_version
from search.space import ArchConfig
from search.tasks import Task
from search.verify import Budget, VerificationResult, measure, train_candidate
from simulator import HardwareConfig
from simulator.version import device_model_version


class ReplayRefused(ValueError):
    """The record cannot be replayed with this data (a different checksum)."""


@dataclass(frozen=True)
class ReplayedFigure:
    time_seconds: float
    stored_mean: float
    replayed_mean: float
    standard_error: float  # of the stored mean, floored at one test example

    @property
    def difference(self) -> float:
        return self.replayed_mean - self.stored_mean

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= self.standard_error


@dataclass
class Replay:
    figures: list[ReplayedFigure]
    stored_digital: float
    replayed_digital: float
    seconds: float
    differences: list[str] = field(default_factory=list)  # code that changed since the record

    @property
    def agrees(self) -> bool:
        return all(figure.agrees for figure in self.figures)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "figures": [
                {**asdict(f), "difference": f.difference, "agrees": f.agrees} for f in self.figures
            ],
            "agrees": self.agrees,
        }


def replay(record: dict[str, Any], figures: dict[str, Any], task: Task) -> Replay:
    """Recompute the ``figures`` (``times``, ``accuracy_mean``, ``accuracy_std``,
    ``digital_accuracy``) of ``record`` on ``task`` (the whole task, as loaded)."""
    budget = Budget.model_validate(record["budget"]).model_copy(update={"analysis": None})
    at_fidelity = task_at(task, Fidelity.of_budget(record["budget"]), budget.train.seed)
    if data_checksum(at_fidelity) != record["data_checksum"]:
        raise ReplayRefused(
            f"data: the examples of task {task.name!r} at the record's fidelity differ from "
            "those the figure was measured on (data checksum)"
        )
    start = time.perf_counter()
    with torch_threads(record["torch_threads"]):
        trained = train_candidate(
            ArchConfig.model_validate(record["architecture"]),
            at_fidelity,
            HardwareConfig.model_validate(record["trained_on"]),
            budget,
        )
        result = measure(trained, HardwareConfig.model_validate(record["chip"]), budget)
    return Replay(
        _compare(figures, result, len(at_fidelity.test)),
        figures["digital_accuracy"],
        result.digital_accuracy,
        time.perf_counter() - start,
        code_differences(record),
    )


def _compare(
    figures: dict[str, Any], result: VerificationResult, test_examples: int
) -> list[ReplayedFigure]:
    chips = result.fidelity["mc_samples"]
    return [
        ReplayedFigure(
            t, mean, result.accuracy_at(t)[0], max(std / math.sqrt(chips), 1 / test_examples)
        )
        for t, mean, std in zip(
            figures["times"], figures["accuracy_mean"], figures["accuracy_std"], strict=True
        )
    ]


def code_differences(record: dict[str, Any]) -> list[str]:
    """What differs between the code that made the record and this one."""
    now = {
        "xbarnas_version": xbarnas_version(),
        "torch_version": torch.__version__,
        "device_model": device_model_version(HardwareConfig.model_validate(record["chip"])),
    }
    return [
        f"{name}: recorded {record[name]}, now {value}"
        for name, value in now.items()
        if record[name] != value
    ]


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch threads, as many as the recorded run had."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
