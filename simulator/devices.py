"""Statistical device models: programming noise, drift and read noise of one conductance.

Each model works on whole tensors of target conductances (uS) at once. ``program`` draws what is
fixed at programming time (the programmed conductance and a per-device drift parameter, each from
its own generator); ``read`` gives the conductance read ``t`` seconds after programming, with fresh
read noise.

Sources: PCM follows IBM aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019; Joshi
et al., Nat. Commun. 2020); RRAM follows aihwkit's ``ReRamWan2022NoiseModel`` (Wan et al., Nature
2022).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from simulator.config import HardwareConfig


def _normal(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def _polynomial(u: Tensor, coefficients: tuple[float, ...]) -> Tensor:
    """sum_i c_i u^i, coefficients in ascending order."""
    result = torch.zeros_like(u)
    for c in reversed(coefficients):
        result = result * u + c
    return result


class DeviceModel(Protocol):
    """The statistics of one device technology."""

    VERSION: str  # names the statistics; changes when they do
    g_max: float

    def program(
        self,
        g_target: Tensor,
        programming: torch.Generator | None,
        parameters: torch.Generator | None,
    ) -> tuple[Tensor, Tensor | None]:
        """Programmed conductances (noise from ``programming``) and a per-device drift parameter
        kept for ``read`` (drawn from ``parameters``)."""

    def read(
        self,
        g_target: Tensor,
        g_prog: Tensor,
        param: Tensor | None,
        t: float,
        generator: torch.Generator | None,
    ) -> Tensor:
        """Conductances read ``t`` seconds after programming (fresh read noise)."""


class IdealDevice:
    """Exact conductances: no programming noise, no drift, no read noise."""

    VERSION = "ideal/1"

    def __init__(self, g_max: float) -> None:
        self.g_max = g_max

    def program(self, g_target, programming, parameters):
        return g_target.clone(), None

    def read(self, g_target, g_prog, param, t, generator):
        return g_prog


@dataclass
class ScaledDevice:
    """A device with the conductance range and the multipliers of its noise sources."""

    g_max: float
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0


class PCMDevice(ScaledDevice):
    """Phase-change memory: conductance-dependent programming noise, power-law drift, 1/f noise."""

    VERSION = "pcm-aihwkit-pcmlike/1"  # bump when the statistics below change

    PROG_COEFFICIENTS = (0.26348, 1.9650, -1.1731)  # uS at g_max = 25 uS, in u = g_target / g_max
    G_MAX_REFERENCE = 25.0
    T0 = 20.0  # s, first read after programming
    T_READ = 250e-9  # s, read duration of the 1/f fit
    Q_FLOOR = 1e-3 ** (1 / 0.65)  # u below which the 1/f noise amplitude stops growing

    def programming_std(self, g_target: Tensor) -> Tensor:
        """sigma_prog(u) = (0.26348 + 1.9650 u - 1.1731 u^2) * g_max / 25, in uS."""
        u = g_target / self.g_max
        return _polynomial(u, self.PROG_COEFFICIENTS) * (self.g_max / self.G_MAX_REFERENCE)

    def drift_statistics(self, g_target: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std of the drift exponent nu for each target conductance."""
        log_g = torch.log((g_target / self.g_max).abs().clamp(min=1e-7))
        mu = (-0.0155 * log_g + 0.0244).clamp(0.049, 0.1)
        sigma = (-0.0125 * log_g - 0.0059).clamp(0.008, 0.045)
        return mu, sigma

    def program(self, g_target, programming, parameters):
        noise = (
            self.prog_noise_scale * self.programming_std(g_target) * _normal(g_target, programming)
        )
        g_prog = (g_target + noise).clamp(min=0.0)
        mu, sigma = self.drift_statistics(g_target)
        nu = (mu + sigma * _normal(g_target, parameters)).abs() * self.drift_scale
        return g_prog, nu

    def read(self, g_target, g_prog, param, t, generator):
        t_total = t + self.T0
        g_drift = g_prog * (t_total / self.T0) ** (-param) if t > 0 else g_prog
        # max(u^0.65, 1e-3) written as max(u, 1e-3^(1/0.65))^0.65: a finite gradient at u = 0
        q_s = (0.0088 / (g_prog / self.g_max).clamp(min=self.Q_FLOOR).pow(0.65)).clamp(max=0.2)
        growth = math.sqrt(math.log((t_total + self.T_READ) / (2 * self.T_READ)))
        sigma = self.read_noise_scale * q_s * growth * g_drift.abs()
        return (g_drift + sigma * _normal(g_prog, generator)).clamp(min=0.0)


class RRAMDevice(ScaledDevice):
    """Resistive RAM after Wan et al. (Nature 2022), as fitted in aihwkit.

    The spread of conductances around their target grows after programming (relaxation) and is
    measured at 1 s, 1 day and 2 days (4th-order polynomials in u, uS at g_max = 40 uS). Between
    those times we interpolate the std linearly in log-time; beyond 2 days it is held at its 2-day
    value (no data). Each device keeps one relaxation direction drawn at programming, so its state
    evolves consistently with time: its variance at t is exactly the fitted spread. Read noise: 1 %
    of g_max (aihwkit's suggested short-term noise).
    """

    SPREAD_COEFFICIENTS = (  # (seconds after programming, ascending coefficients)
        (1.0, (0.348, 16.030, -43.853, 45.393, -16.815)),
        (86400.0, (0.701, 22.086, -50.773, 47.095, -16.458)),
        (172800.0, (0.782, 20.274, -43.507, 37.062, -11.934)),
    )
    VERSION = "rram-wan2022/1"  # bump when the statistics below change
    G_MAX_REFERENCE = 40.0
    READ_NOISE = 0.01  # fraction of g_max

    def spread(self, g_target: Tensor, t: float) -> Tensor:
        """Std (uS) of the conductance around its target, t seconds after programming."""
        u = g_target / self.g_max
        first, last = self.SPREAD_COEFFICIENTS[0][0], self.SPREAD_COEFFICIENTS[-1][0]
        t = min(max(t, first), last)
        for (t_a, c_a), (t_b, c_b) in itertools.pairwise(self.SPREAD_COEFFICIENTS):
            if t <= t_b:
                w = math.log(t / t_a) / math.log(t_b / t_a)
                std = (1 - w) * _polynomial(u, c_a).clamp(min=0) + w * _polynomial(u, c_b).clamp(
                    min=0
                )
                return std * (self.g_max / self.G_MAX_REFERENCE)
        raise AssertionError("unreachable: t is clipped to the measured times")

    def program(self, g_target, programming, parameters):
        sigma = self.prog_noise_scale * self.spread(g_target, 0.0)
        g_prog = (g_target + sigma * _normal(g_target, programming)).clamp(min=0.0)
        return g_prog, _normal(g_target, parameters)  # per-device direction of relaxation

    def read(self, g_target, g_prog, param, t, generator):
        first = self.spread(g_target, 0.0)
        growth = self.spread(g_target, t) ** 2 - first**2
        relaxation = torch.sqrt(growth.clamp(min=torch.finfo(growth.dtype).tiny))  # finite grad
        g = g_prog + self.drift_scale * relaxation * param
        read_std = self.read_noise_scale * self.READ_NOISE * self.g_max
        return (g + read_std * _normal(g_prog, generator)).clamp(min=0.0)


def device_model(hw: HardwareConfig) -> DeviceModel:
    """The device model a hardware configuration asks for."""
    if hw.device == "ideal":
        return IdealDevice(hw.g_max)
    cls = PCMDevice if hw.device == "pcm" else RRAMDevice
    return cls(hw.g_max, hw.prog_noise_scale, hw.read_noise_scale, hw.drift_scale)
