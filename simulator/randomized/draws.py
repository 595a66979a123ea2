"""Random matrices of the algorithms, each purpose from its own stream (see
:mod:`simulator.streams`): probes, sketching matrices and random-feature projections never share
numbers with each other or with the device noise, even under one seed."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from simulator.streams import stream

PROBES = "randomized-probes"  # test vectors streamed through a programmed matrix
SKETCH = "sketch-matrix"  # a random matrix to program (random-on-tiles arrangement)
FEATURE_WEIGHTS = "random-feature-weights"
FEATURE_PHASES = "random-feature-phases"


def gaussian(
    shape: tuple[int, ...],
    seed: int | None,
    purpose: str,
    device: torch.device | str,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Independent N(0, 1) entries."""
    generator = stream(seed, purpose, device=device)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


def rademacher(
    shape: tuple[int, ...],
    seed: int | None,
    purpose: str,
    device: torch.device | str,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Independent +-1 entries with equal probability."""
    generator = stream(seed, purpose, device=device)
    bits = torch.randint(2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(dtype)


def uniform_phases(
    shape: tuple[int, ...],
    seed: int | None,
    purpose: str,
    device: torch.device | str,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Independent phases uniform on [0, 2 pi)."""
    generator = stream(seed, purpose, device=device)
    return torch.rand(shape, generator=generator, device=device, dtype=dtype) * (2 * math.pi)
