"""A pulsed tile: devices and references, forward/backward through the periphery, pulse updates.

The weight of a tile is ``w_scale * (devices - reference)``, a ``[out, in]`` matrix (a bias is one
more input column fed with 1). The forward pass reads the tile with the forward periphery, the
backward pass reads its transpose with the backward periphery, and the update applies stochastic
pulse trains to the devices (never writing a weight).
"""

from __future__ import annotations

import torch
from torch import Tensor

from simulator.periphery import levels
from simulator.pulsed.config import PeripheryIO, PulsedConfig
from simulator.pulsed.devices import DeviceArray
from simulator.pulsed.update import pulse_counts, stochastic_round


class PulsedTile:
    """One crossbar array of pulsed devices holding a ``[out, in]`` weight matrix."""

    def __init__(self, weight: Tensor, config: PulsedConfig, generator: torch.Generator) -> None:
        self.config = config
        self.generator = generator
        weight = weight.detach().float()
        self.devices = DeviceArray(config.device, tuple(weight.shape), generator, weight.device)
        self.reference = torch.zeros_like(weight)
        if config.zero_shift:
            pairs = round(config.zero_shift_pulses / 2)
            self.reference = self.devices.measure_symmetry_point(pairs, generator)
        self.w_scale = float(weight.abs().max().clamp(min=1e-6)) / config.weight_omega
        self.devices.set_state(self.reference + weight / self.w_scale)
        self._pending: list[tuple[Tensor, Tensor]] = []

    def weight(self) -> Tensor:
        """The weight matrix the devices hold now, in network units."""
        return self.w_scale * (self.devices.state - self.reference)

    def forward(self, x: Tensor) -> Tensor:
        """``x @ W^T`` read through the forward periphery: ``[N, in]`` -> ``[N, out]``."""
        matrix = self.devices.state - self.reference
        return self.w_scale * self._read(x, matrix.t(), self.config.forward)

    def backward(self, d: Tensor) -> Tensor:
        """``d @ W`` read through the backward periphery: ``[N, out]`` -> ``[N, in]``."""
        matrix = self.devices.state - self.reference
        return self.w_scale * self._read(d, matrix, self.config.backward)

    def record(self, x: Tensor, d: Tensor) -> None:
        """Keep one batch of update pairs (inputs ``[N, in]``, errors ``[N, out]``)."""
        self._pending.append((x.detach(), d.detach()))

    def discard(self) -> None:
        """Forget the recorded update pairs."""
        self._pending.clear()

    @torch.no_grad()
    def update(self, lr: float) -> None:
        """Apply ``-lr * sum d x^T`` over the recorded pairs as pulses, then forget them."""
        if not self._pending:
            return
        x = torch.cat([x for x, _ in self._pending])
        d = torch.cat([d for _, d in self._pending])
        self._pending.clear()
        device = self.config.device
        n_up, n_down = pulse_counts(
            x, d, lr / self.w_scale, device.dw_min, self.config.update, self.generator
        )
        self.devices.pulse(n_up, n_down, self.generator)

    def _read(self, x: Tensor, matrix: Tensor, io: PeripheryIO) -> Tensor:
        """``x @ matrix`` (device units) with noise management, DAC, output noise and ADC."""
        scale = x.abs().amax(-1, keepdim=True).clamp(min=torch.finfo(x.dtype).tiny)
        x = x / scale
        if io.inp_bits is not None:
            steps = levels(io.inp_bits)
            x = x * steps
            if io.inp_rounding == "deterministic":
                x = torch.round(x)
            else:
                x = stochastic_round(x, self.generator)
            x = x / steps
        y = x @ matrix
        if io.out_noise > 0:
            noise = torch.randn(y.shape, generator=self.generator, device=y.device)
            y = y + io.out_noise * noise
        if io.out_bound is not None:
            y = y.clamp(-io.out_bound, io.out_bound)
            if io.out_bits is not None:
                step = io.out_bound / levels(io.out_bits)
                y = torch.round(y / step) * step
        return y * scale
