"""Downloads of a verified architecture: ONNX, TorchScript, state_dict, JSON, analog bundle."""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from search.factorising import factorise_trained
from search.model import trained_analog
from search.reprogramming import reprogramming_intervals
from search.space import ArchConfig
from simulator import HardwareConfig, deployment_bundle, to_digital

FORMATS = ("onnx", "torchscript", "state_dict", "json", "analog")


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str
    media_type: str


@dataclass(frozen=True)
class Factorising:
    """Factorise the trained network at export: rank fractions of the widest layers and the
    classifier (1: keep dense), factors by the randomized SVD on the chip or exact."""

    rank_wide: float = 1.0
    rank_classifier: float = 1.0
    on_chip: bool = True
    seed: int = 0


@dataclass(frozen=True)
class _Shape:
    input_shape: tuple[int, ...]
    num_classes: int


def trained_models(
    cfg: ArchConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    hw: HardwareConfig,
    weights: bytes,
) -> tuple[nn.Module, nn.Module]:
    """The verified network rebuilt from its stored weights: (analog, digital), in eval mode."""
    analog = trained_analog(cfg, _Shape(tuple(input_shape), num_classes), hw, weights)
    return analog, to_digital(analog).eval()


def analysis_notes(verified: dict[str, Any] | None) -> dict[str, Any]:
    """The analysis of a verification for an analog bundle's manifest: the drift curve to 10
    years with the reprogramming intervals at the default tolerance, and the layers'
    sensitivity with the layers to keep digital (empty for verifications without them)."""
    verified = verified or {}
    notes: dict[str, Any] = {}
    grid = verified.get("drift")
    if grid:
        intervals = reprogramming_intervals(grid["times"], grid["mean"], grid["std"])
        notes["reprogramming"] = {
            **intervals.to_dict(),
            "drift": {name: grid[name] for name in ("times", "mean", "std")},
        }
    sensitivity = verified.get("sensitivity")
    if sensitivity:
        notes["sensitivity"] = {k: v for k, v in sensitivity.items() if k != "keep_digital"}
        notes["keep_digital"] = sensitivity["keep_digital"]
    return notes


def export(
    fmt: str,
    cfg: ArchConfig,
    input_shape: tuple[int, ...],
    num_classes: int,
    hw: HardwareConfig,
    weights: bytes,
    notes: dict[str, Any] | None = None,
    factorising: Factorising | None = None,
) -> Export:
    """One download of a trained architecture; ``fmt`` is one of ``FORMATS``; ``notes`` go
    into an analog bundle's manifest. With ``factorising``, the trained network's widest layers
    and classifier are factorised first (the factors by the randomized SVD on ``hw``'s tiles):
    the download is the factorised network, and the factorisation's errors go with the JSON
    description and the bundle's manifest."""
    if fmt not in FORMATS:
        raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    notes = notes or {}
    if factorising is not None:
        analog, _ = trained_models(cfg, input_shape, num_classes, hw, weights)
        factorised = factorise_trained(
            cfg,
            analog,
            hw,
            factorising.rank_wide,
            factorising.rank_classifier,
            factorising.on_chip,
            factorising.seed,
        )
        cfg, analog = factorised.cfg, factorised.model
        notes = {**notes, **factorised.notes()}
    stem = f"xbarnas-{cfg.id}"
    if fmt == "json":
        document = {
            "architecture": cfg.model_dump(mode="json"),
            "id": cfg.id,
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "hardware": hw.model_dump(mode="json"),
            **{k: v for k, v in notes.items() if k == "factorisation"},
        }
        return Export(json.dumps(document, indent=1).encode(), f"{stem}.json", "application/json")
    if factorising is None:
        analog, _ = trained_models(cfg, input_shape, num_classes, hw, weights)
    digital = to_digital(analog).eval()
    example = torch.zeros(1, *input_shape)
    buffer = io.BytesIO()
    # torch deprecates TorchScript and its TorchScript-based ONNX exporter; both formats are
    # still what deployment tools read, so they are produced on purpose, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _serialize(fmt, stem, analog, digital, example, hw, buffer, notes)


def _serialize(
    fmt: str,
    stem: str,
    analog: nn.Module,
    digital: nn.Module,
    example: torch.Tensor,
    hw: HardwareConfig,
    buffer: io.BytesIO,
    notes: dict[str, Any] | None,
) -> Export:
    if fmt == "analog":
        bundle = deployment_bundle(analog, hw, notes)
        return Export(bundle, f"{stem}-analog.zip", "application/zip")
    if fmt == "state_dict":
        torch.save(digital.state_dict(), buffer)
        return Export(buffer.getvalue(), f"{stem}.pt", "application/octet-stream")
    if fmt == "torchscript":
        torch.jit.save(torch.jit.trace(digital, example), buffer)
        return Export(buffer.getvalue(), f"{stem}.torchscript.pt", "application/octet-stream")
    torch.onnx.export(
        digital,
        (example,),
        buffer,
        dynamo=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )
    return Export(buffer.getvalue(), f"{stem}.onnx", "application/octet-stream")
