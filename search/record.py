"""The replay record of a verified figure: every input that produced it.

A record names the code (xbarnas, torch, the device model and a digest of the simulator), the
network (architecture), the data (task, a checksum of the exact examples at the fidelity, their
counts), how it was trained and measured (the whole budget, its fidelity, every seed) and on which
chips (the one it was measured on, the one it was trained for). :mod:`search.replay` recomputes
the figure from it.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch

from search.fidelity import HELD_OUT_SEED
from search.space import ArchConfig
from search.tasks import Task
from simulator import HardwareConfig, default_device
from simulator.version import device_model_version

RECORD_VERSION = 1


def xbarnas_version() -> str:
    try:
        return version("xbarnas")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def data_checksum(task: Task) -> str:
    """SHA-256 of a task's examples and labels, split by split, and of their normalisation: two
    tasks with equal checksums feed a network the same numbers."""
    digest = hashlib.sha256()
    digest.update(
        repr((task.input_shape, task.num_classes, task.scale, task.mean, task.std)).encode()
    )
    for name in ("train", "val", "test"):
        split = task.split(name)
        for tensor in (split.x, split.y):
            array = tensor.detach().cpu().contiguous()
            digest.update(f"{name}:{array.dtype}:{tuple(array.shape)}".encode())
            digest.update(array.numpy().tobytes())
    return digest.hexdigest()


def replay_record(
    cfg: ArchConfig,
    task: Task,
    hw: HardwareConfig,
    trained_on: HardwareConfig,
    budget: dict[str, Any],
    fidelity: dict[str, Any],
) -> dict[str, Any]:
    """The record of a figure measured on ``hw`` for a network of ``cfg`` trained for
    ``trained_on`` on ``task`` (at the budget's fidelity) with ``budget`` (as JSON)."""
    seed = budget["train"]["seed"]
    return {
        "record_version": RECORD_VERSION,
        "xbarnas_version": xbarnas_version(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "compute_device": default_device().type,
        "device_model": device_model_version(hw),
        "trained_on_device_model": device_model_version(trained_on),
        "architecture_id": cfg.id,
        "architecture": cfg.model_dump(mode="json"),
        "task": task.name,
        "data_checksum": data_checksum(task),
        "examples": {name: len(task.split(name)) for name in ("train", "val", "test")},
        "budget": budget,
        "fidelity": fidelity,
        "seeds": {
            "training": seed,
            "training_subset": seed,
            "held_out_subsets": HELD_OUT_SEED,
            "chips": seed,
        },
        "chip": hw.model_dump(mode="json"),
        "trained_on": trained_on.model_dump(mode="json"),
    }
