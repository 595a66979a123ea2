"""Analog deployment bundle: what a chip needs to run a trained network.

Per analog layer: its shape, tile grid and the placement of every tile (which rows and columns of
the unrolled weight matrix it holds), the target conductances G+ and G- (uS) of every cell, the
weight-to-conductance scale per tile column (max|W| of the tile or column, or the range optimised
by :mod:`simulator.post_training`), the DAC input range per row tile, and the digital bias; plus
the hardware configuration. Written as a zip of ``manifest.json``, one ``.npz`` per
layer, ``hardware.json`` and a short ``README.md``. A factorised layer (:mod:`simulator.factorised`)
is its two analog layers, each marked with the layer it factorises; a digital layer of the network
(the readout of a random-feature head) travels as its weights. :func:`read_bundle` and
:func:`load_bundle` read a bundle back into weights and into a model of the same architecture.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import torch
from torch import nn

from simulator.config import HardwareConfig
from simulator.convert import hardware_of
from simulator.factorised import LowRankConv2d, LowRankLinear
from simulator.layers import AnalogLayer, DigitalLinear
from simulator.randomized.features import RandomFeatures

README = """# Analog deployment bundle (xbarnas)

manifest.json    the layers in execution order: name, kind, shape, tile grid, file; when the
                 verification measured them: reprogramming (when the mean accuracy, and its
                 lower band mean - 2 std over chips, fall tolerance_points below the 1-second
                 accuracy; the drift curve to 10 years), sensitivity (per layer, by name: the
                 accuracy drop when only it is analog, the gain when only it is exact) and
                 keep_digital (greedy: the layers to compute digitally, and what they recover)
hardware.json    the chip configuration the network was verified on
layers/NAME.npz  per layer:
  g_plus, g_minus  [rows, cols] target conductances in uS (rows = unrolled inputs, C*kh*kw for a
                   convolution in PyTorch's order; cols = outputs); program each pair with them
  weight_scale     [row_tiles, cols] the weight mapped to g_max in each tile column: max|W| of the
                   tile (or column), or its post-training optimised range (manifest:
                   optimised_ranges), beyond which weights saturate at g_max:
                   W = (g_plus - g_minus) / g_max * weight_scale[row tile of the row]
  input_range      [row_tiles] DAC full scale of each row tile, in activation units (NaN: none)
  bias             [cols] added digitally after the row tiles' partial sums (absent: no bias)
  tiles            [row_tiles * col_tiles, 4] row_start, row_end, col_start, col_end of each tile
Factorised layers: two entries, "factor": {"of": the dense layer, "part": "reduce" (first,
1x1 for a convolution) or "expand", "rank"}. A random-feature projection has "feature_map":
{"kernel", "features", "scale"}: features = scale * relu(projection) (arc-cosine) or scale *
cos(projection) (rbf, its phases as the bias). A digital layer ("kind": "digital_linear") holds
weight [out, in] and bias [out]: compute it digitally.
"""


@torch.no_grad()
def deployment_bundle(
    model: nn.Module, hw: HardwareConfig | None = None, notes: dict[str, Any] | None = None
) -> bytes:
    """The zip bundle of an analog model (converted with ``to_analog``, ideally calibrated);
    ``notes`` (JSON-ready) go into the manifest beside the layers (e.g. the measured
    reprogramming interval and layer sensitivity)."""
    model_hw = hardware_of(model)
    if model_hw is None:
        raise ValueError("model: convert it with to_analog before building a bundle")
    if hw is not None and hw != model_hw:
        raise ValueError("hw: the model was converted for another hardware configuration")
    parents = _parents(model)
    manifest = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        layers = [
            (name, module)
            for name, module in model.named_modules()
            if isinstance(module, (AnalogLayer, DigitalLinear))
        ]
        for index, (name, layer) in enumerate(layers):
            name = name or "model"
            path = f"layers/{index:03d}_{name.replace('.', '_')}.npz"
            if isinstance(layer, DigitalLinear):
                _write(bundle, path, _digital_arrays(layer))
                manifest.append(
                    {
                        "name": name,
                        "kind": "digital_linear",
                        "weight_shape": list(layer.weight.shape),
                        "file": path,
                    }
                )
                continue
            grid = layer.grid
            normalized, w_scale = layer._normalized_weights()
            normalized = normalized.flatten(0, 1)[: grid.rows]
            tiles = [
                (
                    r * model_hw.tile_rows,
                    min((r + 1) * model_hw.tile_rows, grid.rows),
                    c * model_hw.tile_cols,
                    min((c + 1) * model_hw.tile_cols, grid.cols),
                )
                for r in range(grid.n_row_tiles)
                for c in range(grid.n_col_tiles)
            ]
            arrays = {
                "g_plus": (normalized.clamp(min=0) * model_hw.g_max).cpu().numpy(),
                "g_minus": ((-normalized).clamp(min=0) * model_hw.g_max).cpu().numpy(),
                "weight_scale": w_scale.cpu().numpy(),
                "input_range": layer.input_range.cpu().numpy(),
                "tiles": np.asarray(tiles, dtype=np.int64),
            }
            if layer.bias is not None:
                arrays["bias"] = layer.bias.detach().cpu().numpy()
            _write(bundle, path, arrays)
            manifest.append(
                {
                    "name": name,
                    "kind": "conv2d" if layer.weight.dim() == 4 else "linear",
                    "weight_shape": list(layer.weight.shape),
                    **(
                        {
                            "stride": list(layer.stride),
                            "padding": list(layer.padding),
                            "dilation": list(layer.dilation),
                        }
                        if layer.weight.dim() == 4
                        else {}
                    ),
                    "rows": grid.rows,
                    "cols": grid.cols,
                    "row_tiles": grid.n_row_tiles,
                    "col_tiles": grid.n_col_tiles,
                    "calibrated": layer.calibrated,
                    "optimised_ranges": bool(torch.isfinite(layer.weight_range).all()),
                    "file": path,
                    **_role(name, layer, parents),
                }
            )
        document = {"layers": manifest, **(notes or {})}
        bundle.writestr("manifest.json", json.dumps(document, indent=1))
        bundle.writestr("hardware.json", model_hw.model_dump_json(indent=1))
        bundle.writestr("README.md", README)
    return buffer.getvalue()


def _write(bundle: zipfile.ZipFile, path: str, arrays: dict[str, np.ndarray]) -> None:
    data = io.BytesIO()
    np.savez(data, **arrays)
    bundle.writestr(path, data.getvalue())


def _digital_arrays(layer: nn.Linear) -> dict[str, np.ndarray]:
    arrays = {"weight": layer.weight.detach().cpu().numpy()}
    if layer.bias is not None:
        arrays["bias"] = layer.bias.detach().cpu().numpy()
    return arrays


def _parents(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """Each module's name -> (its parent's name, the parent)."""
    return {
        f"{name}.{child}" if name else child: (name, parent)
        for name, parent in model.named_modules()
        for child, _ in parent.named_children()
    }


def _role(name: str, layer: AnalogLayer, parents: dict[str, tuple[str, nn.Module]]) -> dict:
    """What a layer is part of: a factorised layer (``factor``) or random features
    (``feature_map``); empty for a plain layer."""
    parent_name, parent = parents.get(name, ("", None))
    if isinstance(parent, (LowRankLinear, LowRankConv2d)):
        part = name.rpartition(".")[2]
        rank = parent.reduce.weight.shape[0]
        return {"factor": {"of": parent_name, "part": part, "rank": int(rank)}}
    if isinstance(parent, RandomFeatures):
        return {
            "feature_map": {
                "kernel": parent.kernel_name,
                "features": parent.n_features,
                "scale": parent.scale,
            }
        }
    return {}


def read_bundle(content: bytes) -> tuple[dict[str, Any], HardwareConfig, dict[str, dict]]:
    """A bundle's manifest, hardware and per-layer weights (name -> ``weight`` in the layer's
    shape and ``bias`` or None, float32 tensors): the weights the target conductances encode,
    W = (G+ - G-) / g_max x the tile column's scale, and the digital layers' own."""
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        document = json.loads(bundle.read("manifest.json"))
        hw = HardwareConfig.model_validate_json(bundle.read("hardware.json"))
        weights = {}
        for entry in document["layers"]:
            arrays = np.load(io.BytesIO(bundle.read(entry["file"])))
            if entry["kind"] == "digital_linear":
                weight = arrays["weight"]
            else:
                row_tile = np.arange(entry["rows"]) // hw.tile_rows
                matrix = (arrays["g_plus"] - arrays["g_minus"]) / hw.g_max
                weight = (matrix * arrays["weight_scale"][row_tile]).T
            bias = arrays["bias"] if "bias" in arrays.files else None
            weights[entry["name"]] = {
                "weight": torch.from_numpy(np.ascontiguousarray(weight))
                .float()
                .reshape(entry["weight_shape"]),
                "bias": None if bias is None else torch.from_numpy(bias).float(),
            }
    return document, hw, weights


@torch.no_grad()
def load_bundle(model: nn.Module, content: bytes) -> nn.Module:
    """``model`` (digital or analog, of the bundle's architecture) with the bundle's weights
    and biases in its layers of the same names; returns it."""
    _, _, weights = read_bundle(content)
    modules = dict(model.named_modules())
    for name, arrays in weights.items():
        module = modules.get("" if name == "model" else name)
        if module is None or tuple(module.weight.shape) != tuple(arrays["weight"].shape):
            raise ValueError(f"model: no layer {name!r} of shape {tuple(arrays['weight'].shape)}")
        module.weight.copy_(arrays["weight"])
        if arrays["bias"] is not None:
            module.bias.copy_(arrays["bias"])
    return model
