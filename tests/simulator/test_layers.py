"""Train/eval behaviour of analog layers, hardware-aware training noise, conversions, errors."""

import pytest
import torch
from torch import nn

from simulator import (
    AnalogConv2d,
    AnalogLinear,
    HardwareConfig,
    HWATraining,
    analog_layers,
    calibrate_input_ranges,
    program,
    to_analog,
)

PCM = HardwareConfig.preset("pcm", tile_rows=32, tile_cols=32)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 5))


def test_train_mode_without_hwa_is_the_digital_model_and_learns():
    model = _mlp()
    analog = to_analog(model, PCM).train()
    x, y = torch.randn(32, 40), torch.randint(0, 5, (32,))
    torch.testing.assert_close(analog(x), model(x))
    optimizer = torch.optim.SGD(analog.parameters(), lr=0.1)
    before = nn.functional.cross_entropy(analog(x), y).item()
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(analog(x), y).backward()
        optimizer.step()
    assert nn.functional.cross_entropy(analog(x), y).item() < before


def test_hwa_noise_in_train_mode_only():
    model = _mlp()
    analog = to_analog(model, HardwareConfig.preset("ideal"), HWATraining(weight_noise=0.1))
    x = torch.randn(16, 40)
    analog.train()
    first, second = analog(x), analog(x)
    assert not torch.allclose(first, second)
    # the injected noise has std 0.1 * max|W| of each tile
    layer = analog[0]
    weight = layer._training_weight()
    relative = (weight - layer.weight).std() / layer.weight.abs().max()
    assert abs(relative.item() / 0.1 - 1) < 0.1
    assert weight.requires_grad
    analog.eval()
    with torch.no_grad():
        torch.testing.assert_close(analog(x), model(x), atol=1e-5, rtol=1e-5)


def test_drop_connect_and_weight_clip():
    layer = to_analog(nn.Linear(100, 100), PCM, HWATraining(weight_noise=0, drop_connect=0.3))
    dropped = (layer._training_weight() == 0).float().mean().item()
    assert 0.25 < dropped < 0.35
    clipped = to_analog(nn.Linear(100, 100), PCM, HWATraining(weight_noise=0, weight_clip=1.0))
    with torch.no_grad():
        clipped.weight[0, 0] = 10.0
    std = clipped.weight.std().item()
    clipped.train()(torch.randn(2, 100))
    assert clipped.weight.abs().max().item() == pytest.approx(std, rel=1e-5)


def test_eval_after_program_uses_the_programmed_conductances():
    model = _mlp()
    analog = to_analog(model, PCM).eval()
    x = torch.randn(8, 40)
    calibrate_input_ranges(analog, [x])
    program(analog, seed=0)
    with torch.no_grad():
        first, second = analog(x), analog(x)
        digital = model(x)
    error = (first - digital).abs().mean() / digital.abs().mean()
    assert 0.005 < error.item() < 0.5  # noisy, yet the same function
    assert not torch.equal(first, second)  # fresh output noise at every pass


def test_changing_weights_after_programming_asks_for_reprogramming():
    analog = to_analog(_mlp(), PCM).eval()
    program(analog, seed=0)
    with torch.no_grad():
        analog[0].weight.mul_(2)
    with pytest.raises(RuntimeError, match="program"):
        analog(torch.randn(2, 40))


def test_batch_must_be_a_multiple_of_the_instances():
    analog = to_analog(_mlp(), PCM).eval()
    program(analog, seed=0, n_samples=3)
    assert analog(torch.randn(6, 40)).shape == (6, 5)
    with pytest.raises(ValueError, match="multiple of the 3 programmed instances"):
        analog(torch.randn(4, 40))


def test_calibration_sets_static_ranges_and_survives_state_dict():
    analog = to_analog(_mlp(), PCM).eval()
    x = torch.randn(64, 40)
    calibrate_input_ranges(analog, [x[:32], x[32:]])
    first = analog[0]
    assert first.calibrated
    expected = x.abs().amax()
    assert torch.max(first.input_range).item() == pytest.approx(expected.item())
    fresh = to_analog(_mlp(), PCM)
    assert not fresh[0].calibrated
    fresh.load_state_dict(analog.state_dict())
    assert fresh[0].calibrated and torch.equal(fresh[0].input_range, first.input_range)


def test_conversion_errors_name_the_problem():
    with pytest.raises(ValueError, match="groups"):
        to_analog(nn.Conv2d(4, 4, 3, groups=2), PCM)
    with pytest.raises(ValueError, match="padding_mode"):
        to_analog(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), PCM)
    with pytest.raises(ValueError, match="no analog layers"):
        program(nn.ReLU())


def test_layer_types_and_modes_are_kept():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)).eval()
    analog = to_analog(model, PCM)
    assert isinstance(analog[0], AnalogConv2d) and isinstance(analog[2], AnalogLinear)
    assert not analog[0].training
    assert len(list(analog_layers(analog))) == 2
    assert "tiles=1x1" in repr(analog[0])
