"""Tile counts and the cost model."""

import math

import pytest
import torch
from torch import nn

from simulator import HardwareConfig, cost, to_analog
from simulator.cost import ENERGY_PER_MAC_J, MVM_LATENCY_S


@pytest.mark.parametrize(("tile_rows", "tile_cols"), [(512, 512), (256, 256), (64, 32), (7, 5)])
def test_tile_count_of_unrolled_shapes(tile_rows, tile_cols):
    model = nn.Sequential(
        nn.Conv2d(16, 96, 3, padding=1),  # unrolled 144 x 96
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(96 * 4 * 4, 700),  # 1536 x 700
    )
    hw = HardwareConfig.preset("pcm", tile_rows=tile_rows, tile_cols=tile_cols)
    report = cost(model, hw, input_shape=(16, 4, 4))
    expected = [
        math.ceil(144 / tile_rows) * math.ceil(96 / tile_cols),
        math.ceil(1536 / tile_rows) * math.ceil(700 / tile_cols),
    ]
    assert [layer.tiles for layer in report.layers] == expected
    assert report.tiles == sum(expected)
    cells = 144 * 96 + 1536 * 700
    assert report.utilization == pytest.approx(cells / (sum(expected) * tile_rows * tile_cols))


def test_mvms_energy_latency_and_params():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(128, 10))
    hw = HardwareConfig.preset("pcm")
    report = cost(model, hw, input_shape=(3, 8, 8))
    conv, linear = report.layers
    assert (conv.rows, conv.cols, conv.mvms) == (27, 8, 16)  # 4x4 output positions
    assert (linear.rows, linear.cols, linear.mvms) == (128, 10, 1)
    assert report.mvms == 17
    assert report.params == sum(p.numel() for p in model.parameters()) == report.analog_params
    macs = 27 * 8 * 16 + 128 * 10
    assert report.energy_nj == pytest.approx(macs * ENERGY_PER_MAC_J * 1e9)
    assert report.latency_us == pytest.approx(17 * MVM_LATENCY_S * 1e6)
    assert pytest.approx(133e-9, rel=0.01) == MVM_LATENCY_S  # HERMES: 256x256 MVM in ~133 ns
    assert report.dac_conversions == 27 * 16 + 128 and report.adc_conversions == 8 * 16 + 10


def test_analog_model_costs_the_same_and_keeps_its_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 3))
    hw = HardwareConfig.preset("pcm", tile_rows=32, tile_cols=32)
    analog = to_analog(model, hw).eval()
    assert cost(analog, hw, (1, 8, 8)) == cost(model, hw, (1, 8, 8))
    assert not analog.training and not analog[0].exact


def test_convolutions_need_an_input_shape():
    with pytest.raises(ValueError, match="input_shape"):
        cost(nn.Conv2d(1, 2, 3), HardwareConfig())
    assert cost(nn.Linear(4, 2), HardwareConfig()).mvms == 1
