"""Model-level operations: convert to analog, calibrate, program, drift."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn

from simulator.config import HardwareConfig, HWATraining
from simulator.layers import AnalogConv2d, AnalogLayer, AnalogLinear
from simulator.streams import RandomStreams

_CONVERTERS = {nn.Linear: AnalogLinear, nn.Conv2d: AnalogConv2d}


def to_analog(model: nn.Module, hw: HardwareConfig, hwa: HWATraining | None = None) -> nn.Module:
    """A copy of ``model`` whose ``Linear`` and ``Conv2d`` modules run on crossbar tiles.

    ``hwa`` adds hardware-aware training noise to the analog layers in train mode.
    Other modules are copied untouched; train/eval mode is kept.
    """
    if isinstance(model, AnalogLayer):
        raise ValueError("model: already analog")
    converted = copy.deepcopy(model)
    if type(converted) in _CONVERTERS:
        return _convert(converted, hw, hwa)
    for parent in converted.modules():
        for name, child in parent.named_children():
            if type(child) in _CONVERTERS:
                setattr(parent, name, _convert(child, hw, hwa))
    return converted


def _convert(module: nn.Module, hw: HardwareConfig, hwa: HWATraining | None) -> AnalogLayer:
    analog = _CONVERTERS[type(module)].from_digital(module, hw, hwa)
    return analog.train(module.training)


def analog_layers(model: nn.Module) -> Iterator[AnalogLayer]:
    """The analog layers of a model, in module order."""
    return (m for m in model.modules() if isinstance(m, AnalogLayer))


def hardware_of(model: nn.Module) -> HardwareConfig | None:
    """The hardware configuration a converted model runs on (None for a digital model)."""
    configs = {layer.hw for layer in analog_layers(model)}
    if len(configs) > 1:
        raise ValueError("model: its analog layers use different hardware configurations")
    return next(iter(configs), None)


def analog_copy(model: nn.Module, hw: HardwareConfig) -> nn.Module:
    """An analog copy of ``model`` for ``hw``, in eval mode: converted when digital, copied when
    already analog (then it must have been converted for ``hw``); ``model`` is left as it is."""
    existing = hardware_of(model)
    if existing is None:
        return to_analog(model, hw).eval()
    if existing != hw:
        raise ValueError("hw: the model was converted for another hardware configuration")
    return copy.deepcopy(model).eval()


def _streams(model: nn.Module, seed: int | None) -> RandomStreams:
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    return RandomStreams(seed, device)


def _require_layers(model: nn.Module, what: str) -> list[AnalogLayer]:
    layers = list(analog_layers(model))
    if not layers:
        raise ValueError(f"{what}: the model has no analog layers; convert it with to_analog")
    return layers


def program(model: nn.Module, seed: int | None = None, n_samples: int = 1) -> nn.Module:
    """Program the weights onto the tiles: programming noise and drift exponents, drawn once.

    ``n_samples`` independent instances are programmed at once (Monte Carlo); a forward pass then
    takes ``n_samples`` equal groups of examples, one per instance. Each random purpose draws from
    its own stream derived from ``seed`` (see :mod:`simulator.streams`): ``drift`` may be given
    the same seed without sharing any noise. Returns the model.
    """
    if n_samples < 1:
        raise ValueError("n_samples: must be at least 1")
    streams = _streams(model, seed)
    for layer in _require_layers(model, "program"):
        layer.program(n_samples, streams)
    return model


def drift(model: nn.Module, t_seconds: float, seed: int | None = None) -> nn.Module:
    """Set the conductances to their state ``t_seconds`` after programming (fresh read noise).

    ``t_seconds=0`` is just after programming. With drift compensation on, each tile's outputs are
    rescaled by its identity readout at programming over the readout now. The read and output
    noise come from streams derived from ``seed`` and ``t_seconds``: independent of the noise of
    ``program`` and of reads at other times, even with an equal seed. Returns the model.
    """
    if t_seconds < 0:
        raise ValueError("t_seconds: must be >= 0")
    streams = _streams(model, seed)
    for layer in _require_layers(model, "drift"):
        layer.read(float(t_seconds) + 0.0, streams)  # + 0.0: -0.0 reads as 0.0
    return model


@torch.no_grad()
def calibrate_input_ranges(
    model: nn.Module, inputs: Iterable[Tensor], quantile: float = 1.0
) -> nn.Module:
    """Set each tile's DAC range to the largest |input| it sees over ``inputs`` (batches), or,
    with ``quantile`` < 1, to the largest per-batch ``quantile`` of its |inputs|: at least that
    fraction of every batch's inputs then lies within the range.

    The inputs flow through the exact float weights (as in the digital model); the model's mode is
    restored afterwards.
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile: must be in (0, 1], got {quantile}")
    layers = _require_layers(model, "calibrate_input_ranges")
    was_training = model.training
    model.eval()
    for layer in layers:
        layer.input_range = torch.full_like(layer.input_range, float("nan"))
        layer.calibration_quantile = quantile
        layer.calibrating = True
    try:
        for x in inputs:
            model(x)
    finally:
        for layer in layers:
            layer.calibrating = False
            layer._check_calibrated()
        model.train(was_training)
    for layer in layers:
        if not layer.calibrated:
            raise ValueError("inputs: no calibration data reached every analog layer")
    return model


def to_digital(model: nn.Module) -> nn.Module:
    """A copy of an analog model with plain ``nn.Linear``/``nn.Conv2d`` holding its float weights
    (what ONNX or TorchScript exports of the trained network carry)."""
    digital = copy.deepcopy(model)
    if isinstance(digital, AnalogLayer):
        return _digital_layer(digital)
    for parent in digital.modules():
        for name, child in parent.named_children():
            if isinstance(child, AnalogLayer):
                setattr(parent, name, _digital_layer(child))
    return digital


def _digital_layer(layer: AnalogLayer) -> nn.Module:
    weight = layer.weight.detach()
    bias = layer.bias is not None
    if isinstance(layer, AnalogConv2d):
        module: nn.Module = nn.Conv2d(
            weight.shape[1],
            weight.shape[0],
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            bias=bias,
        )
    else:
        module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias)
    module = module.to(weight.device)
    with torch.no_grad():
        module.weight.copy_(weight)
        if bias:
            module.bias.copy_(layer.bias.detach())
    return module.train(layer.training)
