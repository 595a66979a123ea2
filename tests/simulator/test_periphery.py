"""DAC and ADC: rounding error within half a step, clipping at the bounds; output noise."""

import torch
from torch import nn

from simulator import HardwareConfig, to_analog
from simulator.periphery import GaussianPool, levels


def _identity_layer(**hw_fields):
    """An exact 64x64 identity layer: its output is its input through the periphery."""
    linear = nn.Linear(64, 64, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(64))
    fields = dict(dac_bits=None, adc_bits=None, out_bound=None, out_noise=0.0) | hw_fields
    return to_analog(linear, HardwareConfig.preset("ideal", **fields)).eval()


def test_levels():
    assert levels(8) == 127 and levels(4) == 7 and levels(1) == 1


def test_dac_error_is_at_most_half_a_step_and_clips_at_the_range():
    layer = _identity_layer(dac_bits=4, input_range=2.0)
    step = 2.0 / levels(4)
    x = torch.linspace(-2.0, 2.0, 64 * 50).view(50, 64)
    with torch.no_grad():
        y = layer(x)
    assert (y - x).abs().max() <= step / 2 + 1e-6
    assert (y - x).abs().max() > step / 4  # it does quantize
    assert len(torch.unique(y)) <= 2 * levels(4) + 1
    with torch.no_grad():
        clipped = layer(torch.full((1, 64), 5.0))
    torch.testing.assert_close(clipped, torch.full((1, 64), 2.0))


def test_adc_error_is_at_most_half_a_step_and_clips_at_the_bound():
    # input range 1: a normalized output unit is 1 activation unit, the ADC bound is 3 of them
    layer = _identity_layer(adc_bits=5, out_bound=3.0, input_range=1.0)
    step = 3.0 / levels(5)
    x = torch.linspace(-1.0, 1.0, 64 * 40).view(40, 64)
    with torch.no_grad():
        y = layer(x)
    assert (y - x).abs().max() <= step / 2 + 1e-6
    assert (y - x).abs().max() > step / 4
    big = _identity_layer(adc_bits=5, out_bound=3.0, input_range=10.0)
    with torch.no_grad():
        out = big(torch.full((1, 64), -8.0))  # normalized -0.8, well inside the DAC range
    torch.testing.assert_close(out, torch.full((1, 64), -8.0), atol=10 * step / 2, rtol=0)
    saturating = _identity_layer(adc_bits=5, out_bound=0.5, input_range=1.0)
    with torch.no_grad():
        out = saturating(torch.full((1, 64), 0.9))
    torch.testing.assert_close(out, torch.full((1, 64), 0.5))


def test_output_noise_has_the_configured_std_and_is_fresh():
    layer = _identity_layer(out_noise=0.05, input_range=1.0)
    x = torch.zeros(200, 64)
    with torch.no_grad():
        first, second = layer(x), layer(x)
    assert abs(first.std().item() / 0.05 - 1) < 0.05
    assert not torch.equal(first, second)


def test_gaussian_pool_windows_are_independent_within_a_call():
    pool = GaussianPool(std=2.0)
    pool.refresh(torch.Generator().manual_seed(0))
    sample = pool.sample(torch.Size((300, 1000)), torch.empty(0))
    assert abs(sample.std().item() / 2.0 - 1) < 0.01
    neighbours = torch.stack([sample[:, :-1].flatten(), sample[:, 1:].flatten()])
    assert abs(torch.corrcoef(neighbours)[0, 1]) < 0.01
