"""Pulsed Linear, Conv2d and LSTM layers, the pulsed optimizer, export to digital layers."""

import copy

import pytest
import torch
from torch import nn

from simulator.pulsed import (
    EXACT_IO,
    PulsedConfig,
    PulsedConv2d,
    PulsedLSTM,
    PulsedSGD,
    pulsed_layers,
    to_digital,
    to_pulsed,
)

EXACT = PulsedConfig.preset("ideal")


def _data(n: int = 240) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 20, generator=generator)
    y = (x[:, :3].argmax(1) + (x[:, 3] > 1).long()) % 3
    return x, y


def _losses(model: nn.Module, optimizer: torch.optim.Optimizer, epochs: int) -> list[float]:
    x, y = _data()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, len(x), 10):
            loss = nn.functional.cross_entropy(model(x[start : start + 10]), y[start : start + 10])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total += loss.item()
        losses.append(total / (len(x) / 10))
    return losses


def test_ideal_device_with_exact_periphery_follows_sgd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 3))
    digital = copy.deepcopy(model)
    config = PulsedConfig.preset("ideal").model_copy(update={"weight_omega": 1.0})
    pulsed = to_pulsed(model, config, seed=0)
    sgd = _losses(digital, torch.optim.SGD(digital.parameters(), lr=0.1), 8)
    analog = _losses(pulsed, PulsedSGD(pulsed, lr=0.1), 8)
    assert sgd[-1] < 0.6 * sgd[0]  # it learns
    for a, b in zip(analog, sgd, strict=True):
        assert abs(a - b) < 0.05 * b


def test_asymmetric_soft_bounds_hurt_and_zero_shifting_helps():
    finals = {}
    for name in ("ideal", "rram", "rram_zero_shift"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 3))
        config = PulsedConfig.preset(name, zero_shift_pulses=2000)
        pulsed = to_pulsed(model, config, seed=0)
        finals[name] = _losses(pulsed, PulsedSGD(pulsed, lr=0.3), 6)[-1]
    assert finals["ideal"] < finals["rram_zero_shift"] < finals["rram"]


def test_conv2d_matches_torch_and_records_one_pair_per_output_position():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    pulsed = to_pulsed(conv, EXACT, seed=0)
    x = torch.randn(2, 3, 7, 7, requires_grad=True)
    reference_x = x.detach().clone().requires_grad_()
    y = pulsed(x)
    expected = conv(reference_x)
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=1e-4)
    grad = torch.randn_like(y)
    y.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x.grad, reference_x.grad, atol=1e-5, rtol=1e-4)
    ((patches, errors),) = pulsed.tile._pending
    assert patches.shape == (2 * 4 * 4, 3 * 9 + 1) and errors.shape == (2 * 4 * 4, 4)
    # the expected pulse update is the SGD step: weight += -lr * grad
    torch.testing.assert_close(errors.t() @ patches[:, :-1], conv.weight.grad.flatten(1))


def test_conv2d_trains_by_pulses():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    pulsed = to_pulsed(model, PulsedConfig.preset("soft_bounds"), seed=0)
    assert isinstance(pulsed[0], PulsedConv2d)
    x = torch.randn(32, 1, 4, 4)
    y = (x[:, 0, :2].sum((1, 2)) > 0).long()
    optimizer = PulsedSGD(pulsed, lr=0.1)
    before = nn.functional.cross_entropy(pulsed(x), y).item()
    for _ in range(15):
        nn.functional.cross_entropy(pulsed(x), y).backward()
        optimizer.step()
        optimizer.zero_grad()
    assert nn.functional.cross_entropy(pulsed(x), y).item() < 0.8 * before


def test_lstm_matches_torch_and_trains_through_time():
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 6, batch_first=True)
    pulsed = to_pulsed(lstm, EXACT, seed=0)
    assert isinstance(pulsed, PulsedLSTM)
    x = torch.randn(4, 7, 5)
    out, (h, c) = pulsed(x)
    expected, (h_ref, c_ref) = lstm(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close((h, c), (h_ref, c_ref), atol=1e-5, rtol=1e-4)
    out.sum().backward()
    assert len(pulsed.tile._pending) == 7  # one update pair batch per time step
    before = pulsed.tile.weight().clone()
    PulsedSGD(pulsed, lr=0.1).step()
    assert not pulsed.tile._pending and not torch.equal(before, pulsed.tile.weight())


def test_to_digital_holds_the_device_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 3))
    pulsed = to_pulsed(model, PulsedConfig.preset("rram_zero_shift", zero_shift_pulses=200))
    digital = to_digital(pulsed)
    assert [type(m) for m in digital] == [nn.Linear, nn.ReLU, nn.Linear]
    # the initial weights are programmed exactly (inside the bounds)
    torch.testing.assert_close(digital[0].weight, model[0].weight, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(digital[2].bias, model[2].bias, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="LSTM"):
        to_digital(to_pulsed(nn.LSTM(2, 2, batch_first=True), EXACT))


def test_forward_periphery_quantizes_and_adds_noise():
    torch.manual_seed(0)
    layer = nn.Linear(64, 32)
    config = PulsedConfig.preset("linear_step", weight_omega=0.5)  # 7-bit DAC, 9-bit ADC
    pulsed = to_pulsed(layer, config).eval()
    x = torch.randn(256, 64)
    with torch.no_grad():
        exact, first, second = layer(x), pulsed(x), pulsed(x)
    assert not torch.equal(first, second)  # fresh output noise at each read
    assert 0.005 < (first - exact).abs().mean() / exact.abs().mean() < 0.1


def test_exact_io_and_seeded_runs_are_reproducible():
    assert EXACT.forward == EXACT_IO
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 8), nn.Tanh(), nn.Linear(8, 3))
        pulsed = to_pulsed(model, PulsedConfig.preset("rram"), seed=5)
        _losses(pulsed, PulsedSGD(pulsed, lr=0.1), 1)
        runs.append([layer.tile.weight() for layer in pulsed_layers(pulsed)])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="pulsed layers"):
        PulsedSGD(nn.Linear(2, 2), lr=0.1)
