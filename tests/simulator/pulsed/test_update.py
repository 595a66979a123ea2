"""Stochastic pulse update and stochastic rounding: unbiased, vectorized, seeded."""

import pytest
import torch

from simulator.pulsed import PulseUpdate, pulse_counts, stochastic_round


@pytest.mark.parametrize(
    ("update", "x_scale", "d_scale", "lr"),
    [
        (PulseUpdate(), 1.0, 0.1, 0.02),
        (PulseUpdate(update_management=False, bl_management=False), 0.4, 0.4, 0.01),
        (PulseUpdate(bl=7, bl_management=False), 1.0, 0.03, 0.02),
    ],
)
def test_mean_of_stochastic_updates_is_minus_lr_x_d(update, x_scale, d_scale, lr):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 12, generator=generator) * x_scale  # three pairs (e.g. a mini-batch)
    d = torch.randn(3, 8, generator=generator) * d_scale
    dw_min, draws = 0.001, 4000
    steps = []
    for _ in range(draws):
        n_up, n_down = pulse_counts(x, d, lr, dw_min, update, generator)
        steps.append(dw_min * (n_up - n_down))
    steps = torch.stack(steps)
    expected = -lr * d.t() @ x
    error = steps.mean(0) - expected
    standard_error = steps.std(0) / draws**0.5
    assert (error.abs() < 4.5 * standard_error + 1e-9).all()
    # a pair's pulses only go one way: counts are whole numbers, never negative
    assert torch.equal(n_up, n_up.round()) and (n_up >= 0).all() and (n_down >= 0).all()


def test_update_management_balances_the_probabilities():
    # tiny errors, large inputs: without management the rows' probabilities saturate at 1
    x, d = torch.full((1, 50), 4.0), torch.full((1, 50), 0.002)
    generator = torch.Generator().manual_seed(0)
    managed = pulse_counts(x, d, 0.05, 0.001, PulseUpdate(bl=31), generator)
    plain = PulseUpdate(bl=31, update_management=False, bl_management=False)
    unmanaged = pulse_counts(x, d, 0.05, 0.001, plain, generator)
    expected = 0.05 * 4.0 * 0.002 / 0.001  # 0.4 pulses per device
    assert abs(managed[1].mean().item() - expected) < 0.05
    assert unmanaged[1].mean().item() < expected / 2  # the update is truncated


def test_too_large_updates_are_truncated_at_one_pulse_per_slot():
    x, d = torch.ones(1, 4), -torch.ones(1, 3)
    n_up, n_down = pulse_counts(x, d, 1.0, 0.001, PulseUpdate(bl=31), None)
    assert torch.equal(n_up, torch.full((3, 4), 31.0)) and not n_down.any()


def test_pulse_counts_are_reproducible_under_a_seed():
    x, d = torch.randn(4, 6), torch.randn(4, 5)
    runs = [
        pulse_counts(x, d, 0.01, 0.001, PulseUpdate(), torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])


def test_stochastic_rounding_is_unbiased():
    generator = torch.Generator().manual_seed(0)
    x = torch.linspace(-3, 3, 25)
    draws = stochastic_round(x.expand(20000, -1), generator)
    assert torch.equal(draws, draws.round())
    assert ((draws == x.floor()) | (draws == x.ceil())).all()
    standard_error = draws.std(0) / 20000**0.5
    assert ((draws.mean(0) - x).abs() <= 4.5 * standard_error + 1e-6).all()
    assert (torch.round(x) - x).abs().max() > 0.1  # deterministic rounding is biased here
