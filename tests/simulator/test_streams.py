"""Seed contract: every random purpose has its own stream; equal seeds never share noise."""

import itertools

import torch
from torch import nn

from simulator import HardwareConfig, drift, program, to_analog
from simulator.streams import (
    DRIFT_PARAMETERS,
    OUTPUT_NOISE,
    PROGRAMMING,
    READ,
    REFERENCE_READ,
    derive_seed,
    stream,
)

# Only the devices' noise: exact converters, no output noise, no compensation.
EXACT_PERIPHERY = {
    "out_noise": 0.0,
    "dac_bits": None,
    "adc_bits": None,
    "out_bound": None,
    "drift_compensation": False,
    "input_range": 1.0,
}


def _layer(size: int, **overrides) -> tuple[nn.Linear, nn.Module]:
    torch.manual_seed(0)
    linear = nn.Linear(size, size, bias=False)
    hw = HardwareConfig.preset("pcm", **{**EXACT_PERIPHERY, **overrides})
    return linear, to_analog(linear, hw).eval()


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def _output_error(seed: int, **scales) -> torch.Tensor:
    """Output minus exact output of a 512x512 PCM layer programmed and read (t=0) with ``seed``."""
    linear, analog = _layer(512, **scales)
    x = 2 * torch.rand(64, 512, generator=torch.Generator().manual_seed(1)) - 1
    program(analog, seed=seed)
    drift(analog, 0.0, seed=seed)
    with torch.no_grad():
        return (analog(x) - linear(x)).flatten()


def test_programming_and_read_errors_add_in_quadrature_with_equal_seeds():
    programming = _output_error(7, read_noise_scale=0.0)
    reading = _output_error(7, prog_noise_scale=0.0)
    both = _output_error(7)
    # one shared stream would make them add linearly: about twice the variance here
    ratio = both.var().item() / (programming.var().item() + reading.var().item())
    assert abs(ratio - 1) < 0.05
    assert abs(_correlation(programming, reading)) < 0.02


def test_reads_at_each_time_and_at_programming_draw_fresh_noise():
    """Read noise (conductances minus their noiseless read) of one seed at several reads."""
    _, noisy = _layer(128, drift_scale=0.0)
    _, quiet = _layer(128, drift_scale=0.0, read_noise_scale=0.0)
    program(noisy, seed=3)
    program(quiet, seed=3)  # the same programmed conductances
    noises = [noisy.matrix - quiet.matrix]  # the reference read at programming
    for t in (0.0, 1.0, 3600.0):
        drift(noisy, t, seed=3)
        drift(quiet, t, seed=3)
        noises.append(noisy.matrix - quiet.matrix)
    assert all(noise.std() > 0 for noise in noises)
    for a, b in itertools.combinations(noises, 2):
        assert abs(_correlation(a, b)) < 0.05


def test_same_seed_same_numbers_and_no_seed_fresh_ones():
    x = torch.rand(32, 64, generator=torch.Generator().manual_seed(2))

    def run(seed: int | None) -> torch.Tensor:
        _, analog = _layer(64, out_noise=0.04)
        program(analog, seed=seed, n_samples=2)
        drift(analog, 3600.0, seed=seed)
        with torch.no_grad():
            return analog(x.repeat(2, 1))

    assert torch.equal(run(5), run(5))
    assert not torch.equal(run(5), run(6))
    assert not torch.equal(run(None), run(None))


def test_purposes_draw_uncorrelated_numbers():
    keyed = [
        (PROGRAMMING,),
        (DRIFT_PARAMETERS,),
        (REFERENCE_READ,),
        (READ, 0.0),
        (READ, 1.0),
        (OUTPUT_NOISE, 0.0),
        (OUTPUT_NOISE, "programmed"),
    ]
    draws = torch.stack(
        [torch.randn(100_000, generator=stream(0, *key, device="cpu")) for key in keyed]
    )
    off_diagonal = torch.corrcoef(draws) - torch.eye(len(keyed))
    assert off_diagonal.abs().max() < 0.02  # 6 sigma of 100 000 independent pairs


def test_derived_seeds_depend_on_every_part_and_fit_64_bits():
    seeds = {
        derive_seed(0, READ, 1.0),
        derive_seed(1, READ, 1.0),
        derive_seed(0, READ, 2.0),
        derive_seed(0, READ, 1),  # typed keys: 1 is not 1.0
        derive_seed(0, OUTPUT_NOISE, 1.0),
        derive_seed(0, READ),
    }
    assert len(seeds) == 6
    assert all(0 <= seed < 2**64 for seed in seeds)
    assert derive_seed(0, READ, 1.0) == derive_seed(0, READ, 1.0)
