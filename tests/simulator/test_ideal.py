"""Ideal device + ideal periphery reproduce the digital model."""

import pytest
import torch
from torch import nn

from simulator import AnalogLinear, HardwareConfig, analog_layers, program, to_analog


def _check(model: nn.Module, x: torch.Tensor, hw: HardwareConfig, n_samples: int = 1):
    model.eval()
    analog = to_analog(model, hw).eval()
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(analog(x), expected, atol=1e-5, rtol=1e-5)
        program(analog, seed=0, n_samples=n_samples)
        out = analog(x.repeat(n_samples, *([1] * (x.dim() - 1))))
        torch.testing.assert_close(
            out, expected.repeat(n_samples, *([1] * (expected.dim() - 1))), atol=1e-5, rtol=1e-5
        )
    return analog


@pytest.mark.parametrize("tiles", [(512, 512), (7, 5), (16, 3)])
def test_linear(tiles):
    torch.manual_seed(0)
    model = nn.Linear(40, 13)
    hw = HardwareConfig.preset("ideal", tile_rows=tiles[0], tile_cols=tiles[1])
    analog = _check(model, torch.randn(6, 40), hw, n_samples=3)
    layer = next(analog_layers(analog))
    assert layer.grid.n_tiles == -(-40 // tiles[0]) * -(-13 // tiles[1])


def test_linear_on_sequences():
    torch.manual_seed(1)
    _check(nn.Linear(8, 4, bias=False), torch.randn(3, 5, 8), HardwareConfig.preset("ideal"))


@pytest.mark.parametrize(
    "conv",
    [
        dict(in_channels=3, out_channels=8, kernel_size=3, padding=1),
        dict(in_channels=3, out_channels=8, kernel_size=3, stride=2, padding=1),
        dict(in_channels=4, out_channels=6, kernel_size=(3, 5), stride=(2, 1), padding=(0, 2)),
        dict(in_channels=2, out_channels=5, kernel_size=3, dilation=2, padding="same"),
        dict(in_channels=3, out_channels=7, kernel_size=1, bias=False),
    ],
)
@pytest.mark.parametrize("tiles", [(512, 512), (10, 4)])
def test_conv2d(conv, tiles):
    torch.manual_seed(2)
    hw = HardwareConfig.preset("ideal", tile_rows=tiles[0], tile_cols=tiles[1])
    _check(nn.Conv2d(**conv), torch.randn(4, conv["in_channels"], 9, 11), hw, n_samples=2)


def test_whole_network_with_other_modules_untouched():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    model(torch.randn(16, 1, 8, 8))  # give BN running statistics
    hw = HardwareConfig.preset("ideal", tile_rows=32, tile_cols=4)
    analog = _check(model, torch.randn(5, 1, 8, 8), hw, n_samples=4)
    assert isinstance(analog[1], nn.BatchNorm2d) and isinstance(analog[7], AnalogLinear)
    assert len(list(analog_layers(analog))) == 3
    assert isinstance(model[0], nn.Conv2d)  # the original is not modified


def test_column_scaling_maps_each_column_to_the_full_range():
    torch.manual_seed(4)
    model = nn.Linear(16, 4, bias=False)
    with torch.no_grad():
        model.weight[0] *= 100  # one column (output) with much larger weights
    x = torch.randn(3, 16)
    for column_scaling in (False, True):
        hw = HardwareConfig.preset("ideal", column_scaling=column_scaling)
        analog = _check(model, x, hw)
        layer = next(analog_layers(analog))
        program(analog, seed=0)
        per_column_max = layer.g_target.amax(dim=(0, 1, 2))  # [cols]
        if column_scaling:
            torch.testing.assert_close(per_column_max, torch.full((4,), hw.g_max))
        else:
            assert per_column_max[1:].max() < 0.1 * hw.g_max
