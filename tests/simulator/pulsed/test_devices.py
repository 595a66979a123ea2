"""Pulsed device models: pulses, bounds, symmetry points, zero-shifting."""

import pytest
import torch
from pydantic import ValidationError

from simulator.pulsed import DeviceArray, PulsedConfig, PulsedDevice, PulsedTile


def _devices(**fields) -> DeviceArray:
    config = PulsedDevice(**{"kind": "soft_bounds", "dw_min": 0.01, **fields})
    return DeviceArray(config, (40, 30), torch.Generator().manual_seed(0))


def test_symmetry_point_measured_by_alternating_pulses_matches_closed_form():
    devices = _devices(asymmetry=-0.5, asymmetry_dtod=0.2, dw_min_ctoc=0.0)
    closed = devices.symmetry_point()
    assert closed.std() > 0.05  # the devices differ
    measured = devices.measure_symmetry_point(pairs=1500)
    # alternating pulses end within about one step of the fixed point
    assert (measured - closed).abs().max() < 0.01


def test_symmetry_point_with_cycle_to_cycle_noise_is_found_on_average():
    devices = _devices(asymmetry=-0.5, dw_min_ctoc=0.3)
    measured = devices.measure_symmetry_point(pairs=1500)
    error = measured - devices.symmetry_point()
    assert abs(error.mean()) < 0.01 and error.abs().mean() < 0.05


def test_soft_bounds_steps_shrink_towards_the_bounds():
    config = PulsedDevice(dw_min=0.01, dw_min_dtod=0, dw_min_ctoc=0, bounds_dtod=0)
    devices = DeviceArray(config, (3,), torch.Generator())
    devices.set_state(torch.tensor([-0.5, 0.0, 0.5]))
    one = torch.ones(3)
    devices.pulse(one, 0 * one, None)
    expected = torch.tensor([-0.5 + 0.015, 0.01, 0.505])  # exact up to O(dw^2)
    torch.testing.assert_close(devices.state, expected, atol=1e-4, rtol=0)
    devices.set_state(torch.tensor([2.0, -2.0, 0.0]))  # programming clips to the bounds
    torch.testing.assert_close(devices.state, torch.tensor([1.0, -1.0, 0.0]))
    devices.pulse(1000 * one, 0 * one, None)  # many pulses approach but never pass b_max
    assert (devices.state <= 1.0).all() and (devices.state > 0.99).all()


def test_linear_step_device_with_asymmetry_drifts_under_balanced_pulses():
    config = PulsedDevice(kind="linear_step", dw_min=0.01, asymmetry=0.1, dw_min_dtod=0)
    devices = DeviceArray(config, (100,), torch.Generator().manual_seed(1))
    devices.pulse(torch.full((100,), 10.0), torch.full((100,), 10.0), None)
    # each up step is 1.05 dw, each down step 0.95 dw: net +0.01 after 10 pairs (+- noise)
    assert abs(devices.state.mean().item() - 0.01) < 0.002


def test_zero_shift_references_sit_at_the_symmetry_points():
    config = PulsedConfig.model_validate(
        {
            "device": {"dw_min": 0.01, "asymmetry": -0.6, "dw_min_ctoc": 0.0},
            "zero_shift": True,
            "zero_shift_pulses": 3000,
        }
    )
    weight = torch.randn(8, 5) * 0.1
    tile = PulsedTile(weight, config, torch.Generator().manual_seed(0))
    assert (tile.reference - tile.devices.symmetry_point()).abs().max() < 0.01
    torch.testing.assert_close(tile.weight(), weight, atol=1e-6, rtol=1e-5)


def test_config_errors_name_the_field():
    with pytest.raises(ValidationError, match="zero_shift"):
        PulsedConfig.model_validate({"device": {"kind": "linear_step"}, "zero_shift": True})
    with pytest.raises(ValidationError, match="w_max"):
        PulsedDevice(kind="soft_bounds", w_max=None)
    with pytest.raises(ValueError, match="preset"):
        PulsedConfig.preset("pcm")
    with pytest.raises(ValueError, match="symmetry point"):
        DeviceArray(PulsedDevice(kind="linear_step"), (2,), torch.Generator()).symmetry_point()
