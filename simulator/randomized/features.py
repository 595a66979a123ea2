"""Random-feature maps whose random projection lives on crossbar tiles.

Random Fourier features (Rahimi & Recht, NIPS 2007) for the RBF kernel and arc-cosine features
(Cho & Saul, NIPS 2009) for the order-1 arc-cosine (ReLU) kernel. The projection W is drawn once
and programmed; programming noise and drift only change which random W the chip holds, so the
features stay random features of (nearly) the same kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from simulator.config import HardwareConfig
from simulator.device import default_device
from simulator.layers import AnalogLinear
from simulator.randomized.accounting import AlgorithmCost, ProductCounts, matmul_flops
from simulator.randomized.draws import FEATURE_PHASES, FEATURE_WEIGHTS, gaussian, uniform_phases

KERNELS = ("rbf", "arccos")


class RandomFeatures(nn.Module):
    """``x`` ``[B, d]`` -> features ``[B, D]`` whose inner products approximate a kernel:

    - ``"rbf"``: k(x, y) = exp(-gamma ||x - y||^2); z(x) = sqrt(2/D) cos(W x + b),
      W ~ N(0, 2 gamma), b ~ U[0, 2 pi);
    - ``"arccos"``: k(x, y) = ||x|| ||y|| (sin t + (pi - t) cos t) / pi, t the angle between x and
      y; z(x) = sqrt(2/D) relu(W x), W ~ N(0, 1).

    W and b are drawn from ``seed``. The projection is an :class:`AnalogLinear` on ``hw``'s tiles
    (bias b added digitally; an exact ``nn.Linear`` when ``hw`` is None): ``program``, ``drift``,
    ``calibrate_input_ranges`` and ``cost`` work on this module as on a converted model, and after
    ``program(features, seed, S)`` a batch is S equal groups, group s through chip s. A fixed
    layer: nothing requires gradients, and the projection runs on the tiles also in train mode,
    so that a readout trained on these features sees the analog ones.
    """

    def __init__(
        self,
        in_features: int,
        n_features: int,
        hw: HardwareConfig | None = None,
        kernel: str = "rbf",
        gamma: float = 1.0,
        seed: int | None = 0,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel: must be one of {KERNELS}, got {kernel!r}")
        if in_features < 1:
            raise ValueError(f"in_features: must be at least 1, got {in_features}")
        if n_features < 1:
            raise ValueError(f"n_features: must be at least 1, got {n_features}")
        if gamma <= 0:
            raise ValueError(f"gamma: must be > 0, got {gamma}")
        device = default_device() if device is None else torch.device(device)
        self.kernel_name, self.gamma = kernel, gamma
        self.scale = math.sqrt(2 / n_features)
        std = math.sqrt(2 * gamma) if kernel == "rbf" else 1.0
        weight = gaussian((n_features, in_features), seed, FEATURE_WEIGHTS, device, torch.float32)
        phases = uniform_phases((n_features,), seed, FEATURE_PHASES, device)
        linear = nn.Linear(in_features, n_features, bias=kernel == "rbf", device=device)
        with torch.no_grad():
            linear.weight.copy_(weight * std)
            if linear.bias is not None:
                linear.bias.copy_(phases)
        self.projection = linear if hw is None else AnalogLinear.from_digital(linear, hw)
        self.requires_grad_(False)
        self.projection.eval()

    @property
    def n_features(self) -> int:
        return self.projection.weight.shape[0]

    def train(self, mode: bool = True) -> RandomFeatures:
        super().train(mode)
        self.projection.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        projected = self.projection(x)
        mapped = torch.cos(projected) if self.kernel_name == "rbf" else torch.relu(projected)
        return mapped * self.scale

    def kernel(self, x: Tensor, y: Tensor) -> Tensor:
        """The exact kernel matrix ``[len(x), len(y)]`` these features approximate."""
        x, y = x.double(), y.double()
        if self.kernel_name == "rbf":
            return torch.exp(-self.gamma * torch.cdist(x, y).square())
        norms = x.norm(dim=-1)[:, None] * y.norm(dim=-1)[None, :]
        cosine = (x @ y.T / norms.clamp(min=torch.finfo(x.dtype).tiny)).clamp(-1.0, 1.0)
        angle = torch.arccos(cosine)
        return norms * (torch.sin(angle) + (math.pi - angle) * cosine) / math.pi


@dataclass(frozen=True)
class KernelApproximation:
    """``errors["kernel_relative_frobenius"]`` ``[S]``: ||Z Z^T - K||_F / ||K||_F per chip, and
    the cost of mapping the examples on one chip."""

    errors: dict[str, Tensor]
    cost: AlgorithmCost


@torch.no_grad()
def kernel_approximation(features: RandomFeatures, x: Tensor) -> KernelApproximation:
    """How well the features of ``x`` ``[B, d]`` reproduce the exact kernel, on each chip."""
    projection = features.projection
    instances = projection.n_instances if isinstance(projection, AnalogLinear) else 1
    z = features(x.repeat(instances, 1)).view(instances, len(x), -1).double()
    exact = features.kernel(x, x)
    error = torch.linalg.matrix_norm(z @ z.mT - exact) / torch.linalg.matrix_norm(exact)
    counts, tiles = ProductCounts(), 0
    d, n_features = x.shape[1], features.n_features
    if isinstance(projection, AnalogLinear):
        counts.add_analog(projection.grid, len(x))
        tiles = projection.grid.n_tiles
    else:
        counts.digital_flops = matmul_flops(len(x), d, n_features)
    elementwise = 3 if features.kernel_name == "rbf" else 2  # (+ b), nonlinearity, scale
    cost = AlgorithmCost.of(counts, tiles, elementwise * len(x) * n_features)
    return KernelApproximation({"kernel_relative_frobenius": error}, cost)
