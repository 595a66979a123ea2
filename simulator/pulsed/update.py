"""Stochastic rounding and the stochastic pulse update (Gokmen & Vlasov, 2016).

The update ``-lr * d x^T`` of a whole tile is realised as coincidences of pulse trains: in each of
``BL`` time slots, row ``i`` fires with probability ``C m |x_i|`` and column ``j`` with probability
``C / m |d_j|`` (``C = sqrt(lr / (BL dw_min))``); where a row and a column pulse coincide the device
gets one pulse, up or down by the sign of ``-x_i d_j``. The expected count is
``BL C^2 |x_i d_j| = lr |x_i d_j| / dw_min`` pulses of ``dw_min``: the expected update is exactly
``-lr d x^T`` (as long as no probability exceeds 1). Update management picks ``m`` so that the
largest row and column probabilities are equal; bit-length management shortens the trains to the
pulses the largest update needs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from simulator.pulsed.config import PulseUpdate


def stochastic_round(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Round down or up at random, up with probability ``x - floor(x)``: unbiased."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return torch.floor(x + noise)


def pulse_counts(
    x: Tensor,
    d: Tensor,
    lr: float,
    dw_min: float,
    update: PulseUpdate,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Up and down pulse counts ``[cols, rows]`` of the update ``-lr * sum_n d_n x_n^T``.

    ``x``: ``[N, rows]`` inputs, ``d``: ``[N, cols]`` errors, one update pair per row of both
    (examples, time steps, or convolution patches). ``lr`` and ``dw_min`` are in device units.
    All pairs' trains are laid end to end and the coincidences counted by two matrix products.
    """
    x_max = x.abs().amax(1)
    d_max = d.abs().amax(1)
    bl = update.bl
    if update.bl_management:
        needed = float((x_max * d_max).max()) * lr / dw_min
        bl = min(bl, max(1, math.ceil(needed)))
    gain = math.sqrt(lr / (bl * dw_min))
    row_gain = col_gain = torch.full_like(x_max, gain)
    if update.update_management:
        both = (x_max > 0) & (d_max > 0)
        balance = torch.where(both, (d_max / x_max.where(both, 1.0)).sqrt(), 1.0)
        row_gain, col_gain = gain * balance, gain / balance
    rows = _trains(x, row_gain, bl, generator)
    cols = _trains(d, col_gain, bl, generator)
    net = cols.t() @ rows  # sum of sign(d_j x_i) over coincidences
    total = cols.abs().t() @ rows.abs()
    return (total - net) / 2, (total + net) / 2


def _trains(values: Tensor, gain: Tensor, bl: int, generator: torch.Generator | None) -> Tensor:
    """Signed pulse trains ``[N * bl, width]`` (values in -1, 0, 1) of ``values`` ``[N, width]``."""
    probability = (values.abs() * gain[:, None]).clamp_(max=1.0)
    draws = torch.rand(
        (values.shape[0], bl, values.shape[1]),
        generator=generator,
        device=values.device,
        dtype=values.dtype,
    )
    fired = draws < probability[:, None, :]
    return (fired * values.sign()[:, None, :]).flatten(0, 1)
