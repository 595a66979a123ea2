"""Device statistics: programming noise, drift exponents, compensation, read noise, RRAM spread."""

import math

import pytest
import torch
from torch import nn

from simulator import HardwareConfig, analog_layers, drift, program, to_analog
from simulator.devices import PCMDevice, RRAMDevice
from simulator.streams import DRIFT_PARAMETERS, PROGRAMMING, RandomStreams

G_MAX = 25.0


def _program(device, target: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    streams = RandomStreams(seed, target.device)
    return device.program(target, streams(PROGRAMMING), streams(DRIFT_PARAMETERS))


def _layer_with_targets(u: float, hw: HardwareConfig, rows: int = 256, cols: int = 256):
    """An analog layer whose positive devices all target u * g_max (one weight per tile at 1)."""
    linear = nn.Linear(rows, cols, bias=False)
    with torch.no_grad():
        linear.weight.fill_(u)
        linear.weight[0, 0] = 1.0  # the tile maximum maps to g_max
    return next(analog_layers(to_analog(linear, hw).eval()))


@pytest.mark.parametrize("u", [0.1, 0.3, 0.6, 0.9])
def test_programming_noise_matches_sigma_prog(u):
    hw = HardwareConfig.preset("pcm", read_noise_scale=0.0)
    layer = _layer_with_targets(u, hw)
    program(layer, seed=0, n_samples=4)
    target = u * G_MAX
    mask = (layer.g_target[0] - target).abs() < 1e-4
    errors = (layer.g_prog[:, 0] - layer.g_target[0])[:, mask]
    expected = 0.26348 + 1.9650 * u - 1.1731 * u**2
    assert errors.numel() > 200_000
    assert abs(errors.std().item() / expected - 1) < 0.05
    assert abs(errors.mean().item()) < 0.05 * expected


def test_programming_noise_scales_with_g_max_and_scale():
    device = PCMDevice(g_max=50.0, prog_noise_scale=2.0, read_noise_scale=1, drift_scale=1)
    target = torch.full((200_000,), 25.0)
    g, _ = _program(device, target, 1)
    expected = 2.0 * (0.26348 + 1.9650 * 0.5 - 1.1731 * 0.25) * 50 / 25
    assert abs((g - target).std().item() / expected - 1) < 0.05


def _folded_normal_moments(mu: float, sigma: float) -> tuple[float, float]:
    phi = 0.5 * (1 + math.erf(-mu / (sigma * math.sqrt(2))))
    mean = sigma * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sigma**2)) + mu * (1 - 2 * phi)
    return mean, math.sqrt(mu**2 + sigma**2 - mean**2)


@pytest.mark.parametrize("u", [0.02, 0.2, 1.0])
def test_drift_log_decay_follows_nu_statistics(u):
    hw = HardwareConfig.preset("pcm", read_noise_scale=0.0, drift_compensation=False)
    layer = _layer_with_targets(u, hw)
    program(layer, seed=2, n_samples=2)
    g_prog = layer.g_prog[:, 0].clone()
    t = 86400.0
    g_t = layer.device_model.read(layer.g_target, layer.g_prog, layer.device_param, t, None)[:, 0]
    mask = ((layer.g_target[0] - u * G_MAX).abs() < 1e-4) & (g_prog > 0.5).all(0)
    nu = -torch.log(g_t[:, mask] / g_prog[:, mask]) / math.log((t + 20) / 20)
    log_g = math.log(u)
    mu = min(max(-0.0155 * log_g + 0.0244, 0.049), 0.1)
    sigma = min(max(-0.0125 * log_g - 0.0059, 0.008), 0.045)
    mean, std = _folded_normal_moments(mu, sigma)
    assert abs(nu.mean().item() / mean - 1) < 0.02
    assert abs(nu.std().item() / std - 1) < 0.05


def _output_scale(layer, x, t: float, seed: int) -> float:
    drift(layer, t, seed=seed)
    with torch.no_grad():
        return layer(x).abs().mean().item()


def test_drift_compensation_restores_the_output_scale():
    torch.manual_seed(3)
    x = 0.04 * torch.rand(64, 256)  # outputs ~5, inside the ADC bound of 10
    without = _layer_with_targets(
        1.0, HardwareConfig.preset("pcm", drift_compensation=False, input_range=1.0)
    )
    program(without, seed=4)
    at_start = _output_scale(without, x, 0.0, seed=5)
    ratio = _output_scale(without, x, 86400.0, seed=6) / at_start
    # every device at g_max: nu ~ |N(0.049, 0.008)|; E[(t/t0)^-nu] over one day
    log_t = math.log((86400 + 20) / 20)
    expected = math.exp(-0.049 * log_t + 0.5 * (0.008 * log_t) ** 2)
    assert abs(ratio / expected - 1) < 0.03

    with_compensation = _layer_with_targets(1.0, HardwareConfig.preset("pcm", input_range=1.0))
    program(with_compensation, seed=4)
    at_start = _output_scale(with_compensation, x, 0.0, seed=5)
    assert abs(_output_scale(with_compensation, x, 86400.0, seed=6) / at_start - 1) < 0.03


def test_read_noise_is_fresh_at_every_read_even_at_time_zero():
    layer = _layer_with_targets(0.5, HardwareConfig.preset("pcm"))
    program(layer, seed=0)
    first = layer.matrix.clone()
    drift(layer, 0.0, seed=1)
    second = layer.matrix.clone()
    drift(layer, 0.0, seed=2)
    assert not torch.equal(first, second) and not torch.equal(second, layer.matrix)
    quiet = _layer_with_targets(0.5, HardwareConfig.preset("pcm", read_noise_scale=0.0))
    program(quiet, seed=0)
    before = quiet.matrix.clone()
    drift(quiet, 0.0, seed=1)
    torch.testing.assert_close(quiet.matrix, before)


@pytest.mark.parametrize(("u", "t"), [(0.5, 0.0), (0.5, 86400.0), (0.2, 86400.0), (0.8, 172800.0)])
def test_rram_spread_matches_wan_2022(u, t):
    device = RRAMDevice(g_max=40.0, prog_noise_scale=1, read_noise_scale=0, drift_scale=1)
    target = torch.full((400_000,), u * 40.0)
    g_prog, param = _program(device, target, 7)
    g = device.read(target, g_prog, param, t, None)
    coefficients = dict(device.SPREAD_COEFFICIENTS)[max(t, 1.0)]
    expected = sum(c * u**i for i, c in enumerate(coefficients))
    assert abs((g - target).std().item() / expected - 1) < 0.05
    assert abs((g - target).mean().item()) < 0.05 * expected  # no power-law decay


def test_rram_state_evolves_consistently():
    """A device that relaxed upward by one day keeps doing so at two days."""
    device = RRAMDevice(g_max=40.0, prog_noise_scale=1, read_noise_scale=0, drift_scale=1)
    target = torch.full((100_000,), 20.0)
    g_prog, param = _program(device, target, 8)
    one_day = device.read(target, g_prog, param, 86400.0, None) - g_prog
    two_days = device.read(target, g_prog, param, 172800.0, None) - g_prog
    assert torch.corrcoef(torch.stack([one_day, two_days]))[0, 1] > 0.99
