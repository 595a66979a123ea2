"""Monte Carlo evaluation of accuracy over drift time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from simulator.config import HardwareConfig
from simulator.convert import (
    analog_copy,
    analog_layers,
    calibrate_input_ranges,
    drift,
    program,
)
from simulator.layers import exact_weights

ONE_SECOND, ONE_HOUR, ONE_DAY, ONE_MONTH, ONE_YEAR = 1.0, 3600.0, 86400.0, 2592000.0, 31536000.0
DEFAULT_TIMES = (ONE_SECOND, ONE_HOUR, ONE_DAY, ONE_MONTH, ONE_YEAR)

Data = tuple[Tensor, Tensor] | Iterable[tuple[Tensor, Tensor]]

# Elements one layer's output may hold in a batched pass. On a CPU, tensors past a few MB are
# mapped fresh from the OS at every allocation and time goes to page faults, not arithmetic
# (bench/evaluate_speed.py: passes of 2048 images ran 4-5x slower on 28x28 inputs); a GPU wants
# large passes.
PASS_ELEMENTS = {"cpu": 3 * 2**19, "cuda": 2**26}


@torch.no_grad()
def examples_per_pass(model: nn.Module, example: Tensor) -> int:
    """How many examples (instances x inputs) one batched pass through ``model`` should carry
    on ``example``'s device: ``PASS_ELEMENTS`` over the largest layer output of one example,
    measured by one digital forward pass (``model`` is left as it was)."""
    sizes = [example[:1].numel()]

    def record(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(output, Tensor):
            sizes.append(output.numel())

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(record) for m in leaves]
    was_training = model.training
    try:
        with exact_weights(model):
            model.eval()(example[:1])
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    budget = PASS_ELEMENTS.get(example.device.type, PASS_ELEMENTS["cuda"])
    return max(1, budget // max(sizes))


@dataclass(frozen=True)
class EvaluationResult:
    """Accuracy per drift time: ``accuracies[i][s]`` is instance ``s`` at ``times[i]``."""

    times: tuple[float, ...]
    accuracies: tuple[tuple[float, ...], ...]

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(float(torch.tensor(a).mean()) for a in self.accuracies)

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(float(torch.tensor(a).std(unbiased=False)) for a in self.accuracies)

    def at(self, t: float) -> tuple[float, float]:
        """(mean, std) of the accuracy at drift time ``t`` (one of ``times``)."""
        i = self.times.index(t)
        return self.mean[i], self.std[i]

    def to_dict(self) -> dict:
        return {
            "times": list(self.times),
            "mean": list(self.mean),
            "std": list(self.std),
            "accuracies": [list(a) for a in self.accuracies],
        }


def _are_tensors(data: Data) -> bool:
    return isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], Tensor)


def batches(data: Data, batch_size: int | None) -> Iterator[tuple[Tensor, Tensor]]:
    if _are_tensors(data):
        x, y = data
        if len(x) != len(y):
            raise ValueError(f"data: {len(x)} inputs but {len(y)} labels")
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
    else:
        yield from data


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Data,
    hw: HardwareConfig,
    times: Iterable[float] = DEFAULT_TIMES,
    n_samples: int = 25,
    seed: int | None = 0,
    calibration_data: Iterable[Tensor] | None = None,
    batch_size: int | None = None,
) -> EvaluationResult:
    """Classification accuracy (mean, std over ``n_samples`` programmed chips) at each drift time.
    Tensor ``data`` is cut into batches of ``batch_size`` inputs (None: sized by
    :func:`examples_per_pass`).

    ``model`` is digital (converted with ``hw``) or already analog on ``hw``; it is not modified.
    ``data`` is ``(x, y)`` tensors or an iterable of such batches. Input ranges that are neither
    configured nor calibrated are calibrated on ``calibration_data`` (inputs), else on ``data``.
    All ``n_samples`` instances are programmed at once and evaluated in the same batched passes.
    The same ``seed`` gives the same result (None: fresh noise).
    """
    times = tuple(float(t) for t in times)
    if not times or min(times) < 0:
        raise ValueError("times: give at least one time, all >= 0")
    if n_samples < 1:
        raise ValueError("n_samples: must be at least 1")
    analog = analog_copy(model, hw)
    batch_size = batch_size or pass_size(analog, data, n_samples)
    calibrate_if_needed(analog, hw, calibration_data or (x for x, _ in batches(data, batch_size)))
    program(analog, seed, n_samples)
    accuracies = []
    for t in times:
        drift(analog, t, seed)  # streams of its own for each time, apart from programming
        accuracies.append(tuple(chip_accuracies(analog, data, batch_size).tolist()))
    return EvaluationResult(times, tuple(accuracies))


def calibrate_if_needed(model: nn.Module, hw: HardwareConfig, inputs: Iterable[Tensor]) -> None:
    """Calibrate the DAC ranges of an analog model on ``inputs`` (batches) unless ``hw`` fixes
    them or every layer is calibrated already."""
    if hw.input_range is None and not all(layer.calibrated for layer in analog_layers(model)):
        device = next(model.parameters()).device
        calibrate_input_ranges(model, (x.to(device) for x in inputs))


def pass_size(model: nn.Module, data: Data, n_samples: int) -> int | None:
    """Examples per batch of tensor ``data`` for ``n_samples`` chips at once (None: ``data`` is
    already an iterable of batches)."""
    if not _are_tensors(data):
        return None
    device = next(model.parameters()).device
    return max(1, examples_per_pass(model, data[0][:1].to(device)) // n_samples)


@torch.no_grad()
def chip_accuracies(model: nn.Module, data: Data, batch_size: int | None) -> Tensor:
    """Accuracy on ``data`` of each programmed instance of ``model`` as it is now (programmed and
    drifted; layers flagged ``exact`` compute exactly): a tensor ``[instances]``."""
    device = next(model.parameters()).device
    n_samples = max(layer.n_instances for layer in analog_layers(model))
    correct = torch.zeros(n_samples, device=device)
    total = 0
    for x, y in batches(data, batch_size):
        x, y = x.to(device), y.to(device)
        logits = model(x.repeat(n_samples, *([1] * (x.dim() - 1))))
        predictions = logits.view(n_samples, len(x), -1).argmax(-1)
        correct += (predictions == y).sum(1)
        total += len(y)
    if total == 0:
        raise ValueError("data: no examples to evaluate")
    return correct / total
