"""Surrogate scoring throughput: architectures per second, features included.

Run: .venv/bin/python bench/surrogate_speed.py
Uses the shipped digits/pcm (256x256 tiles) surrogate. Scores 100 000 architectures from their
encodings (closed-form features + the boosters) and, as the baseline of the same run, scores a
few hundred the naive way (build each network, measure it with simulator.cost, predict one by one).
Target (issue 4): >= 100 000 architectures/s.
"""

from __future__ import annotations

import time

import numpy as np

from search.model import build_model
from search.space import SearchSpace
from search.surrogates import shipped_model
from search.tasks import load_task
from simulator import HardwareConfig, cost

N = 100_000


def main() -> None:
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    task = load_task("digits")
    surrogate = shipped_model("digits", hw)
    rng = np.random.default_rng(0)
    configs = [SearchSpace.tiny().sample(rng) for _ in range(N)]
    encodings = SearchSpace.encode_many(configs)
    surrogate.score(encodings[:1000])  # warm up
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        surrogate.score(encodings)
        rounds.append(time.perf_counter() - start)
    fast = N / min(rounds)
    naive_n = 300
    start = time.perf_counter()
    for cfg, encoding in zip(configs[:naive_n], encodings[:naive_n], strict=True):
        cost(build_model(cfg, task), hw, task.input_shape)
        surrogate.score(encoding[None])
    naive = naive_n / (time.perf_counter() - start)
    print(f"vectorized scoring: {fast:12,.0f} architectures/s (best of 5 x {N:,})")
    print(f"naive, one by one:  {naive:12,.0f} architectures/s (build + cost + predict)")
    print(f"ratio: {fast / naive:,.0f}x; target >= 100,000/s: {'met' if fast >= 1e5 else 'MISSED'}")


if __name__ == "__main__":
    main()
