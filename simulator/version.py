"""Which device model produced a figure: the model's own version and a digest of the simulator code.

A replay compares both with its own: a different digest says the simulator changed since (its
figures may then differ for that reason, not because of the inputs).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from simulator.config import HardwareConfig
from simulator.devices import device_model

# What computes an inference figure: devices, mapping and periphery, programming and drift,
# post-training ranges, Monte Carlo evaluation and random streams.
PHYSICS = (
    "config.py",
    "convert.py",
    "devices.py",
    "evaluate.py",
    "layers.py",
    "periphery.py",
    "post_training.py",
    "streams.py",
    "tiles.py",
)


@cache
def simulator_digest() -> str:
    """A short SHA-256 of the simulator's physics sources (those of ``PHYSICS``)."""
    digest = hashlib.sha256()
    for name in PHYSICS:
        digest.update(name.encode())
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:16]


def device_model_version(hw: HardwareConfig) -> str:
    """The device model of ``hw`` and the simulator code, e.g. ``pcm-aihwkit-pcmlike/1+3f2a...``."""
    return f"{device_model(hw).VERSION}+{simulator_digest()}"
