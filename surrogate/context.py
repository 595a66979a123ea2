"""What a surrogate predicts for: a task at a fidelity (its profile) on a chip.

A pooled surrogate learns from rows of many contexts: the chip enters as its parameters
(:func:`surrogate.features.chip_features`), the task as the numbers of its
:class:`TaskProfile`, so that a task or chip it has never seen starts from what it learnt of the
others instead of from nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simulator import HardwareConfig

TASK_NAMES = (
    "input_channels",
    "input_pixels",
    "classes",
    "log10_train_examples",
    "epochs",
    "probe_accuracy",
)


@dataclass(frozen=True)
class TaskProfile:
    """A task at a verification fidelity, as a surrogate sees it: its shape, how much it trains
    on, and how hard it is (``probe_accuracy``: the accuracy a fixed small reference network
    reaches at this fidelity)."""

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    train_examples: int
    epochs: int
    probe_accuracy: float
    fidelity: str  # the fidelity's tag: rows of one fidelity form one context

    def features(self) -> np.ndarray:
        """The profile's numbers, in ``TASK_NAMES`` order."""
        channels, height, width = self.input_shape
        return np.asarray(
            [
                channels,
                height * width,
                self.num_classes,
                np.log10(self.train_examples),
                self.epochs,
                self.probe_accuracy,
            ],
            dtype=np.float64,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskProfile:
        return cls(**{**data, "input_shape": tuple(data["input_shape"])})


@dataclass(frozen=True)
class Context:
    """A task profile on a chip: one group of comparable rows."""

    task: TaskProfile
    hw: HardwareConfig

    @property
    def key(self) -> str:
        return f"{self.task.name}/{self.task.fidelity}@{self.hw.config_hash()}"
