"""Does one network trained for the reference chip stand in for one trained for each chip?

Run: .venv/bin/python bench/stand_in.py [--task digits] [--archs 12] [--workers 2]
     [--chip rram:256x256 --chip pcm:128x128 --chip rram:128x128,adc_bits=6]
A grid of chips for the surrogate is cheap when each network is trained once (with the default
hardware-aware noise, on pcm 256x256 tiles) and measured on every chip, as collection does. For
``--archs`` architectures spread over depth and size, each chip's 1-day accuracy is measured
three ways at the cheap collection fidelity: the stand-in (trained on the reference chip),
trained for the chip itself (seed 0), and trained for it again (seed 1: the retest). Per chip it
prints Kendall tau overall and among the better half, and the mean |difference|, of stand-in
against per-chip training, beside the same between the two per-chip trainings: when the first
is as close as the second, the stand-in costs nothing in what the surrogate learns.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from search.collect import (
    local_executor,
    spread_sample,
    submit_verification,
    task_collection_budget,
)
from search.space import SearchSpace
from search.tasks import load_task
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.metrics import kendall_tau, kendall_tau_top

REFERENCE = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
CHIPS = ("rram:256x256", "pcm:128x128", "rram:128x128,adc_bits=6")


def agreement(a: list[float], b: list[float]) -> str:
    x, y = np.asarray(a), np.asarray(b)
    return f"{kendall_tau(x, y):6.3f} {kendall_tau_top(x, y):6.3f} {np.mean(np.abs(x - y)):7.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits")
    parser.add_argument("--archs", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-tiles", type=int, default=64)
    parser.add_argument("--chip", action="append")
    args = parser.parse_args()
    chips = [HardwareConfig.from_spec(spec) for spec in args.chip or CHIPS]
    task = load_task(args.task)
    budget = task_collection_budget(task.name)
    extractor = FeatureExtractor(task.input_shape, task.num_classes, REFERENCE)
    archs = spread_sample(
        SearchSpace.tiny(), args.archs, np.random.default_rng(3), extractor, args.max_tiles
    )
    seeded = [
        budget.model_copy(update={"train": budget.train.model_copy(update={"seed": s})})
        for s in (0, 1)
    ]
    start = time.perf_counter()
    with local_executor(args.workers) as executor:
        stand_in = [
            submit_verification(executor, cfg, args.task, None, REFERENCE, budget, chips)
            for cfg in archs
        ]
        own = {
            (i, s): [
                submit_verification(executor, cfg, args.task, None, chip, seeded[s])
                for cfg in archs
            ]
            for i, chip in enumerate(chips)
            for s in (0, 1)
        }
        measured = [[r["accuracy_1d"] for r in future.result()[1:]] for future in stand_in]
        per_chip = {
            key: [future.result()[0]["accuracy_1d"] for future in futures]
            for key, futures in own.items()
        }
    print(
        f"{task.name}, {len(archs)} architectures, fidelity {budget.fidelity.tag()}, "
        f"{time.perf_counter() - start:.0f} s"
    )
    print(f"{'chip':28s} {'stand-in vs own training':>24s}   {'retest of own training':>24s}")
    print(
        f"{'':28s} {'tau':>6s} {'half':>6s} {'|diff|':>7s}    {'tau':>6s} {'half':>6s} "
        f"{'|diff|':>7s}"
    )
    for i, spec in enumerate(args.chip or CHIPS):
        stand = [row[i] for row in measured]
        first, second = per_chip[(i, 0)], per_chip[(i, 1)]
        print(f"{spec:28s} {agreement(first, stand)}    {agreement(first, second)}")


if __name__ == "__main__":
    main()
