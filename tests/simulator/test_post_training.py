"""Post-training optimisation of column weight ranges and DAC input ranges."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from simulator import (
    HardwareConfig,
    PostTraining,
    calibrate_input_ranges,
    calibration_loss,
    deployment_bundle,
    drift,
    post_training_optimize,
    program,
    to_analog,
)

PCM = HardwareConfig.preset("pcm", tile_rows=16, tile_cols=8)
IDEAL = HardwareConfig.preset("ideal", tile_rows=16, tile_cols=8)
FAST = PostTraining(steps=15, n_draws=2, batch_size=32)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 12), nn.ReLU(),
        nn.Linear(12, 5),
    )  # fmt: skip


def _data(model: nn.Module, n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """Calibration inputs and the digital model's log-probabilities on them."""
    x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return x, model(x).log_softmax(-1)


def _logits(analog: nn.Module, x: torch.Tensor, seed: int = 5) -> torch.Tensor:
    program(analog, seed=seed)
    drift(analog, 86400.0, seed=seed + 1)
    with torch.no_grad():
        return analog(x)


@pytest.mark.parametrize("quantile", [0.5, 0.9, 1.0])
def test_calibrated_ranges_cover_the_quantile_of_every_tile(quantile):
    analog = to_analog(_model(), PCM).eval()
    batches = [torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    calibrate_input_ranges(analog, batches, quantile=quantile)
    conv, linear = analog[0], analog[3]
    assert linear.grid.n_row_tiles == 9  # 144 rows in tiles of 16
    for batch in batches:
        hidden = _model()[:3](batch)
        tiles = [
            (conv.input_range[0], batch.abs()),  # one row tile: all 9 rows of the kernel
            *(
                (linear.input_range[r], hidden[:, 16 * r : 16 * (r + 1)].abs())
                for r in range(linear.grid.n_row_tiles)
            ),
        ]
        for tile_range, values in tiles:
            assert (values <= tile_range).float().mean() >= quantile
    whole = to_analog(_model(), PCM).eval()
    calibrate_input_ranges(whole, batches)
    assert torch.equal(whole[0].input_range[0], torch.cat(batches).abs().max())
    with pytest.raises(ValueError, match="quantile"):
        calibrate_input_ranges(whole, batches, quantile=0)


def test_on_the_ideal_device_nothing_changes_measurably():
    model = _model()
    x, _ = _data(model)
    analog = to_analog(model, IDEAL).eval()
    calibrate_input_ranges(analog, [x])
    optimised = post_training_optimize(analog, IDEAL, x, FAST)
    torch.testing.assert_close(_logits(optimised, x), _logits(analog, x), rtol=1e-4, atol=1e-5)


def test_calibration_loss_does_not_rise_and_falls_on_fresh_chips():
    model = _model()
    x, y = _data(model)
    config = PostTraining(steps=30, n_draws=2, batch_size=32)
    analog = to_analog(model, PCM).eval()
    calibrate_input_ranges(analog, [x])
    optimised = post_training_optimize(analog, PCM, x, config, seed=3)
    selection = (x, y), config.t_seconds, config.n_draws, 3 + 1  # the draws it selects on
    assert calibration_loss(optimised, *selection) <= calibration_loss(analog, *selection)
    fresh = (x, y), config.t_seconds, 8, 99
    assert calibration_loss(optimised, *fresh) < calibration_loss(analog, *fresh)


def test_weights_untouched_model_unprogrammed_and_deterministic():
    model = _model()
    x, _ = _data(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = post_training_optimize(model, PCM, x, FAST, seed=7)
    b = post_training_optimize(model, PCM, x, FAST, seed=7)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert torch.equal(a[0].weight, model[0].weight) and torch.equal(a[5].bias, model[5].bias)
    assert not a.training and not any(layer.programmed for layer in (a[0], a[3], a[5]))
    assert torch.isfinite(a[3].weight_range).all() and torch.isfinite(a[3].input_range).all()
    assert not a[3].weight_range.requires_grad and not a[3].input_range.requires_grad
    assert all(p.requires_grad for p in a.parameters())
    c = post_training_optimize(model, PCM, x, FAST, seed=8)
    assert not torch.equal(c[3].weight_range, a[3].weight_range)


def test_optimised_ranges_survive_state_dict_and_reach_the_bundle():
    model = _model()
    x, _ = _data(model)
    optimised = post_training_optimize(model, PCM, x, FAST)
    buffer = io.BytesIO()
    torch.save(optimised.state_dict(), buffer)
    rebuilt = to_analog(_model(), PCM).eval()
    rebuilt.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    torch.testing.assert_close(_logits(rebuilt, x), _logits(optimised, x))
    with zipfile.ZipFile(io.BytesIO(deployment_bundle(rebuilt, PCM))) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))["layers"]
        for entry, layer in zip(manifest, (optimised[0], optimised[3], optimised[5]), strict=True):
            arrays = np.load(io.BytesIO(bundle.read(entry["file"])))
            assert entry["optimised_ranges"]
            np.testing.assert_array_equal(arrays["weight_scale"], layer.weight_range.numpy())
            np.testing.assert_array_equal(arrays["input_range"], layer.input_range.numpy())
            assert arrays["g_plus"].max() <= PCM.g_max and arrays["g_minus"].max() <= PCM.g_max


def test_weights_saved_before_ranges_existed_still_load():
    analog = to_analog(_model(), PCM).eval()
    state = {k: v for k, v in analog.state_dict().items() if not k.endswith("weight_range")}
    fresh = to_analog(_model(), PCM).eval()
    fresh.load_state_dict(state)
    assert torch.isnan(fresh[3].weight_range).all()


def test_bad_calibration_data_is_refused():
    model = _model()
    x, _ = _data(model)
    with pytest.raises(ValueError, match="calibration_data"):
        post_training_optimize(model, PCM, x[:0], FAST)
    with pytest.raises(ValueError, match="hw"):
        post_training_optimize(to_analog(model, IDEAL), PCM, x, FAST)
