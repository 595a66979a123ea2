"""Monte Carlo evaluation over drift time."""

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from simulator import DEFAULT_TIMES, HardwareConfig, evaluate, to_analog


@pytest.fixture(scope="module")
def digits_model():
    """A small MLP trained for a few seconds on scikit-learn's digits, and held-out data."""
    torch.manual_seed(0)
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32) / 16.0
    y = torch.tensor(y)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[:1400]), y[:1400]).backward()
        optimizer.step()
    return model.eval(), (x[1400:], y[1400:])


def _accuracy(model, data) -> float:
    x, y = data
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_ideal_hardware_gives_the_digital_accuracy(digits_model):
    model, test = digits_model
    result = evaluate(model, test, HardwareConfig.preset("ideal"), n_samples=3)
    assert result.times == DEFAULT_TIMES
    digital = _accuracy(model, test)
    assert digital > 0.9
    for mean, std in zip(result.mean, result.std, strict=True):
        assert mean == pytest.approx(digital, abs=1e-6) and std == 0.0


def test_pcm_accuracy_spreads_and_decays(digits_model):
    model, test = digits_model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = evaluate(model, test, HardwareConfig.preset("pcm"), n_samples=8, seed=1)
    assert len(result.accuracies) == 5 and all(len(a) == 8 for a in result.accuracies)
    assert all(std > 0 for std in result.std)
    uncompensated = evaluate(
        model, test, HardwareConfig.preset("pcm", drift_compensation=False), n_samples=8, seed=1
    )
    # without compensation the outputs shrink with drift and the ADC resolution is lost
    assert uncompensated.at(31536000.0)[0] < result.at(1.0)[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_same_seed_same_result_and_batching_does_not_matter(digits_model):
    model, test = digits_model
    hw = HardwareConfig.preset("ideal")
    a = evaluate(model, test, hw, times=(1.0,), n_samples=2, batch_size=50)
    b = evaluate(model, test, hw, times=(1.0,), n_samples=2, batch_size=397)
    assert a == b
    pcm = HardwareConfig.preset("pcm")
    assert evaluate(model, test, pcm, times=(3600.0,), n_samples=4, seed=5) == evaluate(
        model, test, pcm, times=(3600.0,), n_samples=4, seed=5
    )


def test_accepts_an_analog_model_and_a_loader(digits_model):
    model, (x, y) = digits_model
    hw = HardwareConfig.preset("ideal")
    analog = to_analog(model, hw)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    result = evaluate(analog, loader, hw, times=(0.0, 60.0), n_samples=2)
    assert result.mean[0] == pytest.approx(_accuracy(model, (x, y)), abs=1e-6)
    with pytest.raises(ValueError, match="hw"):
        evaluate(analog, loader, HardwareConfig.preset("pcm"))


def test_bad_arguments():
    model = nn.Linear(2, 2)
    data = (torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="n_samples"):
        evaluate(model, data, HardwareConfig(), n_samples=0)
    with pytest.raises(ValueError, match="times"):
        evaluate(model, data, HardwareConfig(), times=(-1.0,))
    with pytest.raises(ValueError, match="data"):
        evaluate(model, (torch.zeros(3, 2), torch.zeros(2, dtype=torch.long)), HardwareConfig())
