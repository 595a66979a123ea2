"""Layer sensitivity: which analog layers lose the accuracy, and which to keep digital.

The chips are programmed once (``n_samples`` instances, batched) and read once at the drift time;
every configuration is then one batched pass over the data with some layers computing exactly
(:attr:`~simulator.layers.AnalogLayer.exact`). All configurations thus see the same programmed
chips (paired comparisons: the differences carry far less Monte Carlo noise than the accuracies),
and the all-analog accuracy is the one :func:`~simulator.evaluate.evaluate` gives with the same
seed at that time.

For each analog layer: the accuracy drop when only that layer is analog (the rest exact), and the
gain when only that layer is exact (the rest analog). Then a greedy suggestion of which layers to
keep digital: each step adds the layer whose exact computation recovers the most accuracy, given
those already chosen, up to ``max_digital`` layers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from simulator.config import HardwareConfig
from simulator.convert import analog_copy, analog_layers, drift, program
from simulator.evaluate import (
    ONE_DAY,
    Data,
    batches,
    calibrate_if_needed,
    chip_accuracies,
    pass_size,
)
from simulator.layers import AnalogLayer


@dataclass(frozen=True)
class LayerSensitivity:
    """One analog layer's share of the accuracy lost on the chip (accuracies as fractions)."""

    name: str
    only_analog_drop: float  # exact accuracy - accuracy when only this layer is analog
    only_analog_drop_se: float  # its Monte Carlo standard error over the chips
    only_exact_gain: float  # accuracy when only this layer is exact - all-analog accuracy
    only_exact_gain_se: float  # paired over the chips


@dataclass(frozen=True)
class DigitalChoice:
    """Layers kept digital (exact) and the accuracy the chip then reaches."""

    layers: tuple[str, ...]
    accuracy: float
    # share of the loss (exact - all analog) won back: 1 = all of it (1 when there is no loss);
    # above 1 when a small loss is within the Monte Carlo noise of the gain
    recovered: float


@dataclass(frozen=True)
class SensitivityReport:
    t_seconds: float
    n_samples: int
    exact_accuracy: float  # every layer exact: the digital network
    analog_accuracy: float  # every layer analog: the chip
    layers: tuple[LayerSensitivity, ...]  # in module order
    keep_digital: tuple[DigitalChoice, ...]  # greedy steps: 1, 2, ... layers kept digital
    seconds: float

    @property
    def most_sensitive(self) -> LayerSensitivity:
        """The layer whose exact computation recovers the most accuracy."""
        return max(self.layers, key=lambda layer: layer.only_exact_gain)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def layer_sensitivity(
    model: nn.Module,
    data: Data,
    hw: HardwareConfig,
    t_seconds: float = ONE_DAY,
    n_samples: int = 25,
    seed: int | None = 0,
    max_digital: int = 2,
    calibration_data: Iterable[Tensor] | None = None,
    batch_size: int | None = None,
) -> SensitivityReport:
    """Per-layer accuracy drop (only it analog) and gain (only it exact) ``t_seconds`` after
    programming ``n_samples`` chips, and the greedy choice of up to ``max_digital`` layers to keep
    digital. ``model`` (digital, or analog on ``hw``) is not modified; uncalibrated input ranges
    are calibrated as :func:`~simulator.evaluate.evaluate` does."""
    if n_samples < 1:
        raise ValueError("n_samples: must be at least 1")
    if max_digital < 0:
        raise ValueError("max_digital: must be >= 0")
    start = time.perf_counter()
    analog = analog_copy(model, hw)
    batch_size = batch_size or pass_size(analog, data, n_samples)
    calibrate_if_needed(analog, hw, calibration_data or (x for x, _ in batches(data, batch_size)))
    layers = list(analog_layers(analog))
    program(analog, seed, n_samples)
    drift(analog, t_seconds, seed)
    measured: dict[frozenset[int], Tensor] = {}

    def accuracies(exact: frozenset[int]) -> Tensor:
        """Per-chip accuracy with the layers of ``exact`` computing exactly."""
        if exact not in measured:
            for i, layer in enumerate(layers):
                layer.exact = i in exact
            measured[exact] = chip_accuracies(analog, data, batch_size).double()
            for layer in layers:
                layer.exact = False
        return measured[exact]

    everything = frozenset(range(len(layers)))
    analog_chips = accuracies(frozenset())  # first: the same reads as evaluate's at t_seconds
    exact = float(accuracies(everything).mean())
    names = _names(analog, layers)
    sensitivities = []
    for i, name in enumerate(names):
        only_analog = accuracies(everything - {i})
        gain = accuracies(frozenset({i})) - analog_chips
        sensitivities.append(
            LayerSensitivity(
                name,
                exact - float(only_analog.mean()),
                _standard_error(only_analog),
                float(gain.mean()),
                _standard_error(gain),
            )
        )
    analog_accuracy = float(analog_chips.mean())
    choices = _greedy(accuracies, names, min(max_digital, len(layers)), analog_accuracy, exact)
    return SensitivityReport(
        float(t_seconds),
        n_samples,
        exact,
        analog_accuracy,
        tuple(sensitivities),
        tuple(choices),
        time.perf_counter() - start,
    )


def _greedy(accuracies, names: list[str], steps: int, analog: float, exact: float):
    """Each step keeps digital the layer that, with those chosen before, gives the best mean
    accuracy."""
    chosen: frozenset[int] = frozenset()
    choices = []
    for _ in range(steps):
        best = max(
            (i for i in range(len(names)) if i not in chosen),
            key=lambda i: (float(accuracies(chosen | {i}).mean()), -i),
        )
        chosen = chosen | {best}
        accuracy = float(accuracies(chosen).mean())
        loss = exact - analog
        recovered = (accuracy - analog) / loss if loss > 0 else 1.0
        choices.append(DigitalChoice(tuple(names[i] for i in sorted(chosen)), accuracy, recovered))
    return choices


def _standard_error(values: Tensor) -> float:
    """Standard error of the mean of per-chip values (0 for one chip)."""
    if len(values) < 2:
        return 0.0
    return float(values.std(unbiased=True)) / math.sqrt(len(values))


def _names(model: nn.Module, layers: list[AnalogLayer]) -> list[str]:
    """The layers' module names (as in the analog deployment bundle)."""
    names = {module: name for name, module in model.named_modules()}
    return [names[layer] or "model" for layer in layers]
