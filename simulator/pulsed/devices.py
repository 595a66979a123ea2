"""A tile's pulsed devices: per-device parameters drawn once, pulses applied to all at once."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from simulator.pulsed.config import PulsedDevice


class DeviceArray:
    """The devices of one tile (any shape), their drawn parameters and their states.

    Parameters per device: bounds ``b_max > 0 > b_min`` and the steps ``dw_up``, ``dw_down`` of one
    up and one down pulse. Every operation acts on all devices at once (tensor operations).
    """

    def __init__(
        self,
        config: PulsedDevice,
        shape: tuple[int, ...],
        generator: torch.Generator,
        device: torch.device | None = None,
    ) -> None:
        self.config = config

        def spread(mean: float, std: float) -> Tensor:
            noise = torch.randn(shape, generator=generator, device=device)
            return mean + std * noise

        dw = config.dw_min * spread(1.0, config.dw_min_dtod).clamp(min=0.1)
        asymmetry = spread(config.asymmetry, config.asymmetry_dtod).clamp(-1.9, 1.9)
        self.dw_up = dw * (1 + asymmetry / 2)
        self.dw_down = dw * (1 - asymmetry / 2)
        bounds = config.bounds_dtod
        w_max = math.inf if config.w_max is None else config.w_max
        w_min = -math.inf if config.w_min is None else config.w_min
        self.b_max = w_max * spread(1.0, bounds).clamp(min=0.1)
        self.b_min = w_min * spread(1.0, bounds).clamp(min=0.1)
        self.state = torch.zeros(shape, device=device)

    def set_state(self, values: Tensor) -> None:
        """Program the states directly (initial weights), clipped to each device's bounds."""
        self.state = torch.minimum(torch.maximum(values.float(), self.b_min), self.b_max)

    def symmetry_point(self) -> Tensor:
        """Closed form of the state where an up and a down pulse cancel (soft bounds only):
        ``w* = (dw+ - dw-) / (dw+/b_max - dw-/b_min)``."""
        if self.config.kind != "soft_bounds":
            raise ValueError("device: only soft-bounds devices have a symmetry point")
        return (self.dw_up - self.dw_down) / (self.dw_up / self.b_max - self.dw_down / self.b_min)

    def measure_symmetry_point(
        self, pairs: int, generator: torch.Generator | None = None, chunk: int = 256
    ) -> Tensor:
        """Apply ``pairs`` alternating single up and down pulses to every device, as on hardware,
        and return the mean of the last up and down state (the devices stay where they are).

        Cycle-to-cycle noise is drawn for ``chunk`` pairs at a time.
        """
        w = self.state
        after_up = w
        for start in range(0, pairs, chunk):
            shape = (min(chunk, pairs - start), 2, *w.shape)
            noise = 1 + self.config.dw_min_ctoc * _normal(w.new_empty(shape), generator)
            for up_noise, down_noise in noise:
                after_up = self._single_pulse(w, self.dw_up * up_noise, self.b_max)
                w = self._single_pulse(after_up, -self.dw_down * down_noise, self.b_min)
        self.state = w
        return (after_up + w) / 2

    def _single_pulse(self, w: Tensor, step: Tensor, bound: Tensor) -> Tensor:
        """One pulse of signed ``step`` per device toward ``bound`` (soft bounds scale it)."""
        if self.config.kind == "soft_bounds":
            step = step * (1 - w / bound)
        return torch.minimum(torch.maximum(w + step, self.b_min), self.b_max)

    def pulse(self, n_up: Tensor, n_down: Tensor, generator: torch.Generator | None) -> None:
        """Apply ``n_up`` up and ``n_down`` down pulses (counts per device), interleaved.

        Soft bounds: the pulses are spread evenly over the update, so the state follows
        ``dw/ds = a - c w`` with ``a = dw+ n_up - dw- n_down`` and ``c = dw+ n_up / b_max -
        dw- n_down / b_min`` over ``s`` in [0, 1]: ``w1 = w0 + (a - c w0) (1 - e^-c) / c``.
        This is exact for one pulse up to O(dw^2) and never overshoots a bound. Cycle-to-cycle
        noise multiplies each pulse's step by ``1 + ctoc * xi``: the sum over ``n`` pulses adds a
        Gaussian of std ``ctoc * sqrt(n)`` times the step at the state before the update.
        """
        config = self.config
        w0 = self.state
        if config.kind == "soft_bounds":
            up_factor, down_factor = 1 - w0 / self.b_max, 1 - w0 / self.b_min
            drive = self.dw_up * n_up - self.dw_down * n_down
            rate = self.dw_up * n_up / self.b_max - self.dw_down * n_down / self.b_min
            rate = rate.clamp(min=torch.finfo(w0.dtype).tiny)
            w = w0 + (drive - rate * w0) * (-torch.expm1(-rate) / rate)
        else:
            up_factor = down_factor = 1.0
            w = w0 + self.dw_up * n_up - self.dw_down * n_down
        if config.dw_min_ctoc > 0:
            up_noise = self.dw_up * up_factor * n_up.sqrt() * _normal(w0, generator)
            down_noise = self.dw_down * down_factor * n_down.sqrt() * _normal(w0, generator)
            w = w + config.dw_min_ctoc * (up_noise - down_noise)
        self.state = torch.minimum(torch.maximum(w, self.b_min), self.b_max)

    def to(self, device: torch.device) -> DeviceArray:
        """Move every tensor to ``device`` (in place); returns self."""
        for name in ("dw_up", "dw_down", "b_max", "b_min", "state"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def _normal(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
