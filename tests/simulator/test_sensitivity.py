"""Layer sensitivity: a deliberately fragile layer comes out on top, and the shares add up."""

import copy

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from simulator import HardwareConfig, evaluate
from simulator.sensitivity import layer_sensitivity

HW = HardwareConfig.preset("pcm", tile_rows=64, tile_cols=64)
ONE_DAY = 86400.0


@pytest.fixture(scope="module")
def digits_mlp():
    """A three-layer MLP trained for a second on scikit-learn's digits, and held-out data."""
    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16.0
    y = torch.tensor(y)
    model = nn.Sequential(
        nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 48), nn.ReLU(), nn.Linear(48, 10)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[:1400]), y[:1400]).backward()
        optimizer.step()
    return model.eval(), x, (x[1400:], y[1400:])


def _fragile(model: nn.Sequential, x: torch.Tensor, factor: float) -> nn.Sequential:
    """The same function, but the middle layer's weights span a huge range: a column fed by a
    hidden unit that never fires gets weights ``factor`` times the largest, so every other
    weight lands on a sliver of the conductance range."""
    fragile = copy.deepcopy(model)
    with torch.no_grad():
        silent = (torch.relu(fragile[0](x)).amax(0) == 0).nonzero()
        assert len(silent), "the fixture needs a hidden unit that never fires"
        fragile[2].weight[:, silent[0]] = factor * fragile[2].weight.abs().max()
    return fragile


def test_the_fragile_layer_comes_out_on_top_and_the_shares_add_up(digits_mlp):
    model, x, test = digits_mlp
    fragile = _fragile(model, x, factor=10.0)
    with torch.no_grad():
        assert torch.equal(fragile(test[0]).argmax(1), model(test[0]).argmax(1))
    report = layer_sensitivity(fragile, test, HW, ONE_DAY, n_samples=8, seed=0, max_digital=2)
    names = [layer.name for layer in report.layers]
    assert names == ["0", "2", "4"]  # module names, as in the analog bundle
    top = report.layers[1]
    assert report.most_sensitive is top
    assert top.only_analog_drop == max(layer.only_analog_drop for layer in report.layers)
    assert top.only_analog_drop > 5 * top.only_analog_drop_se > 0
    assert top.only_exact_gain > 5 * top.only_exact_gain_se > 0
    loss = report.exact_accuracy - report.analog_accuracy
    assert loss > 0.05
    # one layer's noise mostly adds to the others': its drops sum to about the whole loss
    assert 0.7 * loss <= sum(layer.only_analog_drop for layer in report.layers) <= 1.3 * loss
    assert top.only_exact_gain > 0.7 * loss  # computing it exactly wins back most of the loss
    first, second = report.keep_digital
    assert first.layers == ("2",)
    assert first.accuracy == pytest.approx(report.analog_accuracy + top.only_exact_gain)
    assert 0.7 < first.recovered <= second.recovered + 1e-9
    assert len(second.layers) == 2 and "2" in second.layers


def test_it_measures_the_chips_that_evaluate_measures(digits_mlp):
    model, _, test = digits_mlp
    report = layer_sensitivity(model, test, HW, ONE_DAY, n_samples=4, seed=3, max_digital=1)
    (one_day,) = evaluate(model, test, HW, times=(ONE_DAY,), n_samples=4, seed=3).mean
    assert report.analog_accuracy == pytest.approx(one_day, abs=1e-6)
    with torch.no_grad():
        digital = (model(test[0]).argmax(1) == test[1]).double().mean().item()
    assert report.exact_accuracy == pytest.approx(digital, abs=1e-6)
    # a sound network: no layer stands out the way the fragile one does
    assert max(layer.only_analog_drop for layer in report.layers) < 0.05


def test_ideal_hardware_loses_nothing(digits_mlp):
    model, _, test = digits_mlp
    report = layer_sensitivity(model, test, HardwareConfig.preset("ideal"), n_samples=2)
    assert report.exact_accuracy == pytest.approx(report.analog_accuracy, abs=1e-9)
    assert all(abs(layer.only_analog_drop) < 1e-9 for layer in report.layers)
    assert [choice.recovered for choice in report.keep_digital] == [1.0, 1.0]


def test_bad_arguments_name_themselves(digits_mlp):
    model, _, test = digits_mlp
    with pytest.raises(ValueError, match="n_samples"):
        layer_sensitivity(model, test, HW, n_samples=0)
    with pytest.raises(ValueError, match="max_digital"):
        layer_sensitivity(model, test, HW, max_digital=-1)
