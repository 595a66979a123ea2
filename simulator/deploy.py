"""Analog deployment bundle: what a chip needs to run a trained network.

Per analog layer: its shape, tile grid and the placement of every tile (which rows and columns of
the unrolled weight matrix it holds), the target conductances G+ and G- (uS) of every cell, the
weight-to-conductance scale per tile column (max|W| of the tile or column, or the range optimised
by :mod:`simulator.post_training`), the DAC input range per row tile, and the digital bias; plus
the hardware configuration. Written as a zip of ``manifest.json``, one ``.npz`` per
layer, ``hardware.json`` and a short ``README.md``.
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
from simulator.convert import analog_layers, hardware_of

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
    names = {module: name for name, module in model.named_modules()}
    manifest = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for index, layer in enumerate(analog_layers(model)):
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
            name = names[layer] or "model"
            path = f"layers/{index:03d}_{name.replace('.', '_')}.npz"
            data = io.BytesIO()
            np.savez(data, **arrays)
            bundle.writestr(path, data.getvalue())
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
                }
            )
        document = {"layers": manifest, **(notes or {})}
        bundle.writestr("manifest.json", json.dumps(document, indent=1))
        bundle.writestr("hardware.json", model_hw.model_dump_json(indent=1))
        bundle.writestr("README.md", README)
    return buffer.getvalue()
