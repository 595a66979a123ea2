"""ResNet-8 on digits under the pcm preset, with and without hardware-aware training.

Run: .venv/bin/python bench/verify_baseline.py [--seeds 3] [--task digits]
Prints, per training mode, the digital and pcm accuracy (1 s, 1 day, 1 month; mean over seeds of
the Monte Carlo mean, and the mean Monte Carlo std) and the time ``verify`` takes.
"""

from __future__ import annotations

import argparse
import statistics
import time

from search.baselines import RESNET8
from search.tasks import load_task
from search.training import TrainConfig
from search.verify import Budget, verify
from simulator import HardwareConfig

TIMES = {"1 s": 1.0, "1 day": 86400.0, "1 month": 2592000.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--task", default="digits")
    args = parser.parse_args()
    task = load_task(args.task)
    hw = HardwareConfig.preset("pcm")
    print(
        f"ResNet-8 ({RESNET8.id}) on {args.task}, pcm preset, 25 chips per time, {args.seeds} seeds"
    )
    print(
        f"{'training':12s} {'digital':>8s} "
        + " ".join(f"{k:>14s}" for k in TIMES)
        + f" {'verify (s)':>11s}"
    )
    for label, hwa in (("HWA", True), ("no HWA", False)):
        runs = []
        for seed in range(args.seeds):
            train = TrainConfig(seed=seed, **({} if hwa else {"hwa": None}))
            start = time.perf_counter()
            result = verify(RESNET8, task, hw, Budget(train=train))
            runs.append((result, time.perf_counter() - start))
        digital = statistics.mean(r.digital_accuracy for r, _ in runs)
        cells = []
        for t in TIMES.values():
            mean = statistics.mean(r.accuracy_at(t)[0] for r, _ in runs)
            std = statistics.mean(r.accuracy_at(t)[1] for r, _ in runs)
            cells.append(f"{100 * mean:6.2f}+-{100 * std:4.2f}%")
        seconds = statistics.mean(s for _, s in runs)
        print(
            f"{label:12s} {100 * digital:7.2f}% "
            + " ".join(f"{c:>14s}" for c in cells)
            + f" {seconds:11.1f}"
        )


if __name__ == "__main__":
    main()
