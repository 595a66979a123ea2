"""Post-training optimisation of column conductance ranges and DAC input ranges.

After Lammie et al., "Improving the accuracy of analog-based in-memory computing accelerators
post-training" (ISCAS 2024, arXiv 2401.09859). The trained weights stay frozen; what changes is
how they are put on the chip:

- each tile column gets its own weight range (the weight programmed at g_max), starting at the
  column's largest |weight|, so that small columns use the whole conductance range; the digital
  periphery multiplies the column's output back by its range;
- each row tile gets its own DAC input range, starting at a quantile of its calibration inputs.

Both are then fine-tuned (in log space, with Adam) on a few hundred unlabelled calibration inputs
with the analog model in the loop: every step programs fresh chips (programming noise), reads them
at the target time (drift, read noise, drift compensation) and runs the crossbar (DAC and ADC
rounding with straight-through gradients, output noise). A range below a column's largest weight
saturates those weights at g_max, a DAC range below the largest input clips it; the optimiser
trades that against noise and quantization. The loss is the KL divergence from the digital
network's predictions to the chip's (distillation): it needs no labels, cannot overfit them, and is
zero on exact hardware, where nothing changes. The optimised ranges are kept only if they lower
the calibration loss on fixed noise draws below that of the model as given, so it never rises.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from simulator.config import HardwareConfig
from simulator.convert import analog_copy, analog_layers, calibrate_input_ranges, drift, program
from simulator.evaluate import examples_per_pass
from simulator.layers import AnalogLayer, exact_weights
from simulator.streams import derive_seed, stream


class PostTraining(BaseModel):
    """How to optimise the ranges of a trained analog model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    t_seconds: float = Field(86400.0, ge=0, description="Drift time the ranges are tuned for.")
    columns: bool = Field(True, description="Optimise a weight range per tile column.")
    inputs: bool = Field(True, description="Optimise the DAC input range of each row tile.")
    quantile: float = Field(
        0.9999, gt=0, le=1, description="Initial DAC range: this quantile of |tile inputs|."
    )
    steps: int = Field(30, ge=0, le=100_000, description="Gradient steps.")
    n_draws: int = Field(2, ge=1, le=256, description="Programmed chips per step and loss.")
    batch_size: int = Field(32, ge=1, le=65536, description="Calibration inputs per step.")
    lr: float = Field(0.05, gt=0, le=10, description="Adam step on the log of the ranges.")


Ranges = list[tuple[Tensor, Tensor]]  # (weight_range, input_range) of each analog layer


def post_training_optimize(
    model: nn.Module,
    hw: HardwareConfig,
    calibration_data: Tensor,
    config: PostTraining | None = None,
    seed: int = 0,
) -> nn.Module:
    """An analog copy of ``model`` (digital, or already analog on ``hw``) with optimised column
    weight ranges and DAC input ranges, in eval mode and not programmed.

    ``calibration_data``: prepared network inputs (a few hundred training examples). ``model`` and
    its weights are left untouched; the result is deterministic under ``seed``. DAC ranges fixed by
    ``hw.input_range`` are kept.
    """
    config = config or PostTraining()
    if len(calibration_data) == 0:
        raise ValueError("calibration_data: no examples")
    analog = _analog_copy(model, hw)
    layers = list(analog_layers(analog))
    x = calibration_data.to(next(analog.parameters()).device)
    with torch.no_grad(), exact_weights(analog):
        data = x, F.log_softmax(analog(x), dim=-1)  # the digital network's predictions
    tune_inputs = config.inputs and hw.input_range is None
    if hw.input_range is None and not all(layer.calibrated for layer in layers):
        calibrate_input_ranges(analog, x.split(256))

    loss_seed = derive_seed(seed, "post-training/loss")  # fixed draws, none shared with steps

    def loss() -> float:
        return calibration_loss(analog, data, config.t_seconds, config.n_draws, loss_seed)

    best_loss, best = loss(), _ranges(layers)  # the model as given
    if tune_inputs:
        calibrate_input_ranges(analog, x.split(256), config.quantile)
    if config.columns:
        for layer in layers:
            layer.weight_range = layer.grid.weight_scale(layer._weight_blocks(), per_column=True)
    if tune_inputs or config.columns:
        _descend(analog, layers, data, config, tune_inputs, seed)
        if loss() < best_loss:
            best = _ranges(layers)
    for layer, (weight_range, input_range) in zip(layers, best, strict=True):
        layer.weight_range, layer.input_range = weight_range, input_range
        layer.forget_programming()
    return analog


@torch.no_grad()
def calibration_loss(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    t_seconds: float,
    n_draws: int,
    seed: int,
    batch_size: int | None = None,
) -> float:
    """Mean KL divergence from the targets (log-probabilities) of ``data = (inputs, targets)`` to
    a calibrated analog model's predictions, over ``n_draws`` chips programmed with ``seed`` and
    read ``t_seconds`` later (the model is left programmed with them). ``batch_size`` inputs per
    pass (None: sized by :func:`~simulator.evaluate.examples_per_pass`)."""
    x, targets = data
    batch_size = batch_size or max(1, examples_per_pass(model, x[:1]) // n_draws)
    program(model, seed, n_draws)
    drift(model, t_seconds, seed)
    total = 0.0
    for xb, tb in zip(x.split(batch_size), targets.split(batch_size), strict=True):
        total += float(_divergence(model, xb, tb, n_draws)) * len(xb)
    return total / len(x)


def _divergence(model: nn.Module, x: Tensor, targets: Tensor, n_draws: int) -> Tensor:
    """KL(targets || model) per example, averaged over the examples and the ``n_draws`` chips."""
    logits = model(x.repeat(n_draws, *([1] * (x.dim() - 1))))
    expected = targets.repeat(n_draws, 1)
    return F.kl_div(F.log_softmax(logits, -1), expected, reduction="batchmean", log_target=True)


def _descend(
    analog: nn.Module,
    layers: list[AnalogLayer],
    data: tuple[Tensor, Tensor],
    config: PostTraining,
    tune_inputs: bool,
    seed: int,
) -> None:
    """Adam on the log of the ranges, fresh noise draws and calibration examples every step."""
    x, targets = data
    weight_base = [layer.weight_range.clone() for layer in layers]
    input_base = [layer.input_range.clone() for layer in layers]
    weight_logs = [torch.zeros_like(r, requires_grad=config.columns) for r in weight_base]
    input_logs = [torch.zeros_like(r, requires_grad=tune_inputs) for r in input_base]
    trained = [t for t in weight_logs + input_logs if t.requires_grad]
    optimizer = torch.optim.Adam(trained, lr=config.lr, eps=1e-6)
    examples = stream(seed, "post-training/examples", device=x.device)
    frozen = [p for p in analog.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        for step in range(config.steps):
            for layer, w_base, w_log, x_base, x_log in zip(
                layers, weight_base, weight_logs, input_base, input_logs, strict=True
            ):
                layer.weight_range = w_base * w_log.exp()
                layer.input_range = x_base * x_log.exp()
            step_seed = derive_seed(seed, "post-training/step", step)  # fresh chips every step
            program(analog, step_seed, config.n_draws)
            drift(analog, config.t_seconds, step_seed)
            index = torch.randint(len(x), (config.batch_size,), generator=examples, device=x.device)
            loss = _divergence(analog, x[index], targets[index], config.n_draws)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    with torch.no_grad():
        for layer, w_base, w_log, x_base, x_log in zip(
            layers, weight_base, weight_logs, input_base, input_logs, strict=True
        ):
            layer.weight_range = w_base * w_log.exp()
            layer.input_range = x_base * x_log.exp()
            layer.forget_programming()


def _ranges(layers: list[AnalogLayer]) -> Ranges:
    return [(layer.weight_range.detach().clone(), layer.input_range.clone()) for layer in layers]


def _analog_copy(model: nn.Module, hw: HardwareConfig) -> nn.Module:
    analog = analog_copy(model, hw)
    for layer in analog_layers(analog):
        layer.forget_programming()
    return analog
