"""Exports of a verified architecture, checked by loading them back (ONNX with onnxruntime)."""

import io
import json
import warnings
import zipfile

import numpy as np
import onnxruntime
import pytest
import torch

from search.space import ArchConfig
from search.tasks import load_task
from search.training import TrainConfig
from search.verify import Budget, verify
from service.exports import FORMATS, export, trained_models
from simulator import HardwareConfig

HW = HardwareConfig.preset("pcm", tile_rows=64, tile_cols=32)  # several tiles per layer
CFG = ArchConfig(
    out_channel0=8, M=2, R=(1, 1), B=(2, 1), convblock=("B", "A"), widenfact=(1.0, 2.0)
)


@pytest.fixture(scope="module")
def verified():
    task = load_task("digits")
    budget = Budget(train=TrainConfig(epochs=2), mc_samples=2, times=(1.0, 86400.0, 2592000.0))
    result = verify(CFG, task, HW, budget)
    x = task.prepare(task.test.x[:16])
    return result, x


def _export(fmt, verified):
    result, _ = verified
    return export(fmt, CFG, (1, 8, 8), 10, HW, result.weights)


def test_onnx_runs_in_onnxruntime_like_torch(verified):
    _, x = verified
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        exported = _export("onnx", verified)
    assert exported.filename == f"xbarnas-{CFG.id}.onnx"
    session = onnxruntime.InferenceSession(exported.content)
    (logits,) = session.run(None, {"input": x.numpy()})
    _, digital = trained_models(CFG, (1, 8, 8), 10, HW, verified[0].weights)
    with torch.no_grad():
        expected = digital(x).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_torchscript_and_state_dict(verified):
    _, x = verified
    _, digital = trained_models(CFG, (1, 8, 8), 10, HW, verified[0].weights)
    scripted = torch.jit.load(io.BytesIO(_export("torchscript", verified).content))
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), digital(x))
    state = torch.load(io.BytesIO(_export("state_dict", verified).content))
    assert state.keys() == digital.state_dict().keys()
    document = json.loads(_export("json", verified).content)
    assert ArchConfig.model_validate(document["architecture"]) == CFG


def test_analog_bundle_holds_what_a_chip_needs(verified):
    exported = _export("analog", verified)
    assert exported.filename.endswith("-analog.zip")
    bundle = zipfile.ZipFile(io.BytesIO(exported.content))
    manifest = json.loads(bundle.read("manifest.json"))
    assert json.loads(bundle.read("hardware.json"))["tile_rows"] == 64
    assert "g_plus" in bundle.read("README.md").decode()
    analog, _ = trained_models(CFG, (1, 8, 8), 10, HW, verified[0].weights)
    weights = [m.weight for m in analog.modules() if hasattr(m, "grid")]
    assert len(manifest["layers"]) == len(weights)
    for entry, weight in zip(manifest["layers"], weights, strict=True):
        arrays = np.load(io.BytesIO(bundle.read(entry["file"])))
        g_plus, g_minus = arrays["g_plus"], arrays["g_minus"]
        assert g_plus.shape == (entry["rows"], entry["cols"])
        assert g_plus.min() >= 0 and g_plus.max() <= HW.g_max + 1e-4 and g_minus.min() >= 0
        assert len(arrays["tiles"]) == entry["row_tiles"] * entry["col_tiles"]
        assert entry["calibrated"] and np.isfinite(arrays["input_range"]).all()
        assert entry["optimised_ranges"]  # verify optimises the ranges by default
        row_tile = np.arange(entry["rows"]) // HW.tile_rows
        scale = arrays["weight_scale"][row_tile]
        rebuilt = (g_plus - g_minus) / HW.g_max * scale
        expected = weight.detach().reshape(entry["cols"], entry["rows"]).T.numpy()
        # weights beyond their column's optimised range saturate at g_max
        np.testing.assert_allclose(rebuilt, np.clip(expected, -scale, scale), atol=1e-6)


def test_unknown_format_is_refused(verified):
    assert set(FORMATS) == {"onnx", "torchscript", "state_dict", "json", "analog"}
    with pytest.raises(ValueError, match="format"):
        _export("tflite", verified)
