"""Exports of factorised and random-feature-head networks, and factorisation at export: the
analog bundle reads back into the same weights, ONNX runs like torch."""

import io
import json
import warnings
import zipfile

import numpy as np
import onnxruntime
import pytest
import torch

from search.model import build_model, factorised_layers
from search.space import ArchConfig
from service.exports import Factorising, export, trained_models
from simulator import HardwareConfig, load_bundle, read_bundle, to_analog

HW = HardwareConfig.preset("pcm", tile_rows=64, tile_cols=64)
SHAPE, CLASSES = (1, 8, 8), 10
DENSE = ArchConfig(
    out_channel0=8, M=2, R=(1, 1), B=(1, 2), convblock=("A", "C"), widenfact=(1.0, 2.0)
)
LOW_RANK = DENSE.model_copy(update={"rank_wide": 0.25, "rank_classifier": 0.5})
HEAD = DENSE.model_copy(update={"head_features": 48, "rank_wide": 0.5})


class Shape:
    input_shape, num_classes = SHAPE, CLASSES


def _weights(cfg: ArchConfig) -> bytes:
    analog = to_analog(build_model(cfg, Shape(), seed=0), HW)
    buffer = io.BytesIO()
    torch.save(analog.state_dict(), buffer)
    return buffer.getvalue()


def _onnx_matches_torch(content: bytes, digital: torch.nn.Module) -> None:
    x = torch.randn(5, *SHAPE, generator=torch.Generator().manual_seed(0))
    (logits,) = onnxruntime.InferenceSession(content).run(None, {"input": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, digital(x).numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("cfg", [LOW_RANK, HEAD], ids=["factorised", "random-feature-head"])
def test_bundle_round_trip_and_onnx(cfg):
    weights = _weights(cfg)
    analog, digital = trained_models(cfg, SHAPE, CLASSES, HW, weights)
    bundle = export("analog", cfg, SHAPE, CLASSES, HW, weights).content
    manifest, hw, read = read_bundle(bundle)
    assert hw == HW
    rebuilt = load_bundle(to_analog(build_model(cfg, Shape()), HW), bundle)
    for name, module in analog.named_modules():
        if name in read:
            torch.testing.assert_close(dict(rebuilt.named_modules())[name].weight, module.weight)
    entries = {entry["name"]: entry for entry in manifest["layers"]}
    if cfg is LOW_RANK:
        factors = [e for e in entries.values() if "factor" in e]
        assert len(factors) == 2 * len(factorised_layers(cfg))
        assert {e["factor"]["part"] for e in factors} == {"reduce", "expand"}
        assert entries["7.expand"]["factor"] == {"of": "7", "part": "expand", "rank": 5}
    else:
        assert entries["7.0.projection"]["feature_map"]["features"] == 48
        assert entries["7.1"]["kind"] == "digital_linear"
        torch.testing.assert_close(read["7.1"]["weight"], analog[7][1].weight)
    x = torch.randn(3, *SHAPE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _onnx_matches_torch(export("onnx", cfg, SHAPE, CLASSES, HW, weights).content, digital)
        scripted = export("torchscript", cfg, SHAPE, CLASSES, HW, weights).content
        with torch.no_grad():
            torch.testing.assert_close(torch.jit.load(io.BytesIO(scripted))(x), digital(x))


def test_a_dense_network_factorised_at_export_by_the_analog_randomized_svd():
    weights = _weights(DENSE)
    factorising = Factorising(rank_wide=0.5, rank_classifier=0.5)
    document = json.loads(
        export("json", DENSE, SHAPE, CLASSES, HW, weights, factorising=factorising).content
    )
    target = ArchConfig.model_validate(document["architecture"])
    assert (target.rank_wide, target.rank_classifier) == (0.5, 0.5) and target.id == document["id"]
    layers = document["factorisation"]["layers"]
    assert set(layers) == set(factorised_layers(target))
    assert document["factorisation"]["method"] == "analog randomized SVD"
    for report in layers.values():  # the chip's error is at least the optimum's, and close to it
        assert report["optimal_error"] <= report["relative_error"] < report["optimal_error"] + 0.2
    bundle = export("analog", DENSE, SHAPE, CLASSES, HW, weights, factorising=factorising)
    assert bundle.filename == f"xbarnas-{target.id}-analog.zip"
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("manifest.json"))
    assert manifest["factorisation"]["layers"] == layers
    load_bundle(to_analog(build_model(target, Shape()), HW), bundle.content)  # its layout
    exact = Factorising(rank_wide=1.0, rank_classifier=0.5, on_chip=False)
    exact_doc = json.loads(
        export("json", DENSE, SHAPE, CLASSES, HW, weights, factorising=exact).content
    )
    assert exact_doc["factorisation"]["method"] == "randomized SVD"
    with pytest.raises(ValueError, match="rank_wide: the architecture's layers are already"):
        export("json", LOW_RANK, SHAPE, CLASSES, HW, _weights(LOW_RANK), factorising=factorising)
    with pytest.raises(ValueError, match="rank_classifier: a random-feature head"):
        export("json", HEAD, SHAPE, CLASSES, HW, _weights(HEAD), factorising=factorising)
