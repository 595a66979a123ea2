"""Low-rank factorised layers: tiles of both factors, exactness, analog randomized SVD."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from simulator import HardwareConfig, cost, program, to_analog
from simulator.factorised import (
    LowRankConv2d,
    LowRankLinear,
    factorise,
    factorise_model,
    rank_for,
    unfolding,
)

TILES = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
IDEAL = HardwareConfig.preset("ideal", tile_rows=64, tile_cols=64)


def test_both_factors_are_counted_and_fewer_tiles_than_dense_at_low_rank():
    dense = cost(nn.Conv2d(256, 256, 3, padding=1, bias=False), TILES, (256, 8, 8))
    low = cost(LowRankConv2d(256, 256, 3, rank=32, padding=1, bias=False), TILES, (256, 8, 8))
    assert dense.tiles == 9  # 2304 rows
    assert [layer.name for layer in low.layers] == ["reduce", "expand"]
    assert [layer.tiles for layer in low.layers] == [1, 2]  # 256 x 32, then 288 x 256
    assert low.tiles == 3 < dense.tiles
    assert low.params == 256 * 32 + 32 * 9 * 256 < dense.params
    linear = cost(LowRankLinear(1024, 512, rank=64), TILES)
    assert linear.tiles == 4 * 1 + 1 * 2 < cost(nn.Linear(1024, 512), TILES).tiles == 8


def test_rank_of_a_fraction():
    assert rank_for(0.25, 256, 256, 3) == 64  # min(in, out x 9) = 256
    assert rank_for(0.5, 64, 10) == 5  # a classifier: min(in, classes)
    assert rank_for(0.01, 8, 8) == 1  # at least one


@pytest.mark.parametrize(
    "layer",
    [nn.Linear(40, 24), nn.Conv2d(6, 10, 3, stride=2, padding=1), nn.Conv2d(12, 5, 1)],
    ids=["linear", "conv3x3-strided", "conv1x1"],
)
def test_full_rank_factors_reproduce_the_dense_layer_and_run_alike_on_the_ideal_device(layer):
    torch.manual_seed(0)
    x = (
        torch.randn(4, 40)
        if isinstance(layer, nn.Linear)
        else torch.randn(4, layer.in_channels, 7, 7)
    )
    factors = factorise(layer, min(unfolding(layer).shape))
    assert factors.relative_error < 1e-5 and factors.optimal_error < 1e-6
    with torch.no_grad():
        torch.testing.assert_close(factors.layer(x), layer(x), atol=1e-4, rtol=1e-4)
        analog = program(to_analog(factors.layer, IDEAL).eval(), seed=0)
        torch.testing.assert_close(analog(x), factors.layer(x), atol=1e-4, rtol=1e-4)


def _trained_layer() -> nn.Linear:
    """The first layer of a small network trained on digits (150 full-batch Adam steps)."""
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16, dtype=torch.float32), torch.tensor(y)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 10))
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return net[0]


def test_analog_randomized_svd_factors_a_trained_layer_with_a_checked_error():
    layer = _trained_layer()
    digital = factorise(layer, 16, seed=0)
    analog = factorise(layer, 16, HardwareConfig.preset("pcm"), seed=0)
    # the digital randomized SVD is within 2 % of the best rank-16 error (decaying spectrum)
    assert digital.optimal_error <= digital.relative_error <= 1.02 * digital.optimal_error
    # on the chip, programming and read noise add to it, within 25 % of the optimum
    assert digital.relative_error < analog.relative_error < 1.25 * analog.optimal_error
    rebuilt = analog.layer.expand.weight @ analog.layer.reduce.weight
    error = torch.linalg.matrix_norm(rebuilt - layer.weight) / torch.linalg.matrix_norm(
        layer.weight
    )
    assert error.item() == pytest.approx(analog.relative_error, rel=1e-4)
    torch.testing.assert_close(analog.layer.expand.bias, layer.bias)


def test_factorise_model_replaces_named_layers_in_place():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 25, 10)
    )
    done = factorise_model(model, {"0": 3, "3": 4})
    assert isinstance(model[0], LowRankConv2d) and isinstance(model[3], LowRankLinear)
    assert done["3"].rank == 4 and model(torch.zeros(2, 3, 5, 5)).shape == (2, 10)
    with pytest.raises(ValueError, match="ranks"):
        factorise_model(model, {"1": 2})
