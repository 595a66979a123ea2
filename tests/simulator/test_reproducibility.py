"""Same seed -> same draw; different seed -> different draw."""

import torch
from torch import nn

from simulator import HardwareConfig, calibrate_input_ranges, drift, program, to_analog


def _analog_model(device: str):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    analog = to_analog(model, HardwareConfig.preset(device, tile_rows=16, tile_cols=16)).eval()
    x = torch.randn(8, 1, 8, 8)
    calibrate_input_ranges(analog, [x])
    return analog, x


def _run(analog, x, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    program(analog, seed=seed, n_samples=2)
    drift(analog, 3600.0, seed=seed + 1)
    with torch.no_grad():
        return analog[0].g_prog.clone(), analog(x.repeat(2, 1, 1, 1))


def test_same_seed_same_draw():
    for device in ("pcm", "rram"):
        analog, x = _analog_model(device)
        g1, y1 = _run(analog, x, seed=11)
        g2, y2 = _run(analog, x, seed=11)
        assert torch.equal(g1, g2) and torch.equal(y1, y2)


def test_different_seed_different_draw():
    for device in ("pcm", "rram"):
        analog, x = _analog_model(device)
        g1, y1 = _run(analog, x, seed=11)
        g2, y2 = _run(analog, x, seed=12)
        assert not torch.equal(g1, g2) and not torch.equal(y1, y2)


def test_instances_are_independent_draws():
    analog, _ = _analog_model("pcm")
    program(analog, seed=3, n_samples=2)
    first, second = analog[0].g_prog
    assert not torch.equal(first, second)
