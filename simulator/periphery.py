"""Periphery of a tile: converter levels (symmetric, mid-tread DAC/ADC) and output noise."""

from __future__ import annotations

import random

import torch
from torch import Tensor


def levels(bits: int) -> int:
    """Positive levels of a signed converter of ``bits`` bits: 2^(bits-1) - 1 (127 for 8 bits)."""
    return max(2 ** (bits - 1) - 1, 1)


class GaussianPool:
    """Gaussian noise of a fixed std drawn in bulk, for fresh output noise at every forward pass.

    Drawing 10^5 normals costs about as much as a 512x512 matmul on a CPU, so the pool draws
    twice what one call needs (at least 2^20 values) and each call takes a window at a random
    offset: values within a call are independent; windows of different calls overlap, shifted.
    ``refresh`` redraws the pool (the layers do so at every programming or drift).
    """

    MIN_SIZE = 1 << 20

    def __init__(self, std: float) -> None:
        self.std = std
        self._values: Tensor | None = None
        self._offsets = random.Random()
        self._generator: torch.Generator | None = None

    def refresh(self, generator: torch.Generator | None) -> None:
        """Draw a new pool, from ``generator`` (None: torch's global generator), on next use."""
        self._values = None
        self._generator = generator

    def sample(self, shape: torch.Size, like: Tensor) -> Tensor:
        """A ``shape`` tensor of independent N(0, std^2) values on ``like``'s device and dtype."""
        need = shape.numel()
        values = self._values
        if (
            values is None
            or values.numel() < need
            or (values.device, values.dtype) != (like.device, like.dtype)
        ):
            size = max(2 * need, self.MIN_SIZE)
            values = torch.randn(size, generator=self._generator, device=like.device)
            self._values = values = values.mul_(self.std).to(like.dtype)
            self._offsets.seed(
                int(torch.randint(2**62, (1,), generator=self._generator, device=like.device))
            )
        start = self._offsets.randrange(values.numel() - need + 1)
        return values[start : start + need].view(shape)
