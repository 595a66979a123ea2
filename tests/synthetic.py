"""Synthetic surrogate data for tests: accuracies that are a known function of architecture
size (and of the chip, where a test needs chips to differ)."""

from __future__ import annotations

import numpy as np

from search.space import SearchSpace
from simulator import HardwareConfig
from surrogate.context import Context, TaskProfile
from surrogate.models import (
    BoundSurrogate,
    Group,
    Surrogate,
    SurrogateParams,
    feature_names,
    features,
)

HW = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
FAST = SurrogateParams(n_estimators=60, ensemble=2)


def profile(task: str = "digits", shape=(1, 8, 8), probe: float = 0.8) -> TaskProfile:
    return TaskProfile(task, tuple(shape), 10, 1000, 2, probe, "synthetic")


def context(hw: HardwareConfig = HW, **task) -> Context:
    return Context(profile(**task), hw)


def accuracy(ctx: Context, encodings: np.ndarray, noise_penalty: float = 0.0) -> np.ndarray:
    """Grows with size and saturates; ``noise_penalty`` per log10 parameter lowers the largest
    networks on a noisy chip, so that chips order architectures differently."""
    size = features(ctx, encodings)[:, feature_names(ctx).index("log_params")]
    return 1 - np.exp(-(size - 2)) - noise_penalty * size


def group(
    n: int, seed: int, ctx: Context | None = None, space: SearchSpace | None = None, **target
) -> Group:
    ctx = ctx or context()
    rng = np.random.default_rng(seed)
    encodings = SearchSpace.encode_many(
        [(space or SearchSpace.tiny()).sample(rng) for _ in range(n)]
    )
    value = accuracy(ctx, encodings, **target)
    targets = {"accuracy_1d": value, "avm": 0.01 * value, "spread_1d": 0.001 * value}
    return Group(ctx, encodings, targets)


def bound(n: int = 200, seed: int = 0, ctx: Context | None = None) -> BoundSurrogate:
    """A surrogate fitted on ``n`` synthetic architectures of one context, bound to it."""
    ctx = ctx or context()
    return Surrogate(FAST).fit([group(n, seed, ctx)]).bind(ctx)
