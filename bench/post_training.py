"""Does post-training range optimisation (PT) replace hardware-aware training (HWA)?

Run: .venv/bin/python bench/post_training.py [--seeds 3] [--settings digits/pcm digits/rram ...]

For each setting (task/chip preset, 256x256 tiles) and seed, trains one small ResNet-like network
(search.verify's SMALL test architecture) without and with HWA noise, then measures on the held-out
test split, at 1 day after programming (25 chips): the digital accuracy; the network calibrated as
``verify`` does without PT (per-tile scales, DAC ranges = max of 512 training inputs); and after
``post_training_optimize`` on those 512 inputs. Prints mean +- std over seeds of the per-seed
Monte Carlo mean, the mean Monte Carlo std, and the seconds training and PT took.

Tasks: ``digits`` (scikit-learn 8x8 digits, 1 797 images) and ``cancer`` (scikit-learn's
Wisconsin breast cancer table, 569 x 30 standardized features, as an uploaded N x F data set
would be: a 1 x 1 x 30 input). No other data set is available offline.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from sklearn.datasets import load_breast_cancer

from search.model import build_model
from search.space import ArchConfig
from search.tasks import Task, load_task, make_task
from search.training import TrainConfig, accuracy, train
from simulator import (
    HardwareConfig,
    PostTraining,
    calibrate_input_ranges,
    default_device,
    evaluate,
    post_training_optimize,
)

ONE_DAY = 86400.0
ARCH = ArchConfig(
    out_channel0=8, M=2, R=(1, 1), B=(1, 1), convblock=("A", "A"), widenfact=(1.0, 2.0)
)
ROWS = ("digital", "no HWA", "no HWA + PT", "full HWA", "full HWA + PT")


def cancer() -> Task:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return make_task("cancer", x.astype("float32"), y, class_names=("malignant", "benign"))


def run_seed(task: Task, hw: HardwareConfig, seed: int) -> dict[str, float]:
    """1-day accuracies (Monte Carlo mean and std) of every row for one seed, and timings."""
    device = default_device()
    test = (task.prepare(task.test.x, device), task.test.y.to(device))
    calibration = torch.cat([x for x, _ in task.batches("train", 256, device=device, limit=512)])
    out: dict[str, float] = {}
    for label, hwa in (("no HWA", False), ("full HWA", True)):
        config = TrainConfig(epochs=30, seed=seed, **({} if hwa else {"hwa": None}))
        trained = train(build_model(ARCH, task, seed=seed), task, hw, config)
        out[f"{label} train s"] = trained.seconds
        if not hwa:
            out["digital"] = accuracy(trained.model, task, "test", device)
        calibrate_input_ranges(trained.model, calibration.split(256))
        start = time.perf_counter()
        optimised = post_training_optimize(trained.model, hw, calibration, PostTraining(), seed)
        out[f"{label} PT s"] = time.perf_counter() - start
        for name, model in ((label, trained.model), (f"{label} + PT", optimised)):
            result = evaluate(model, test, hw, times=(ONE_DAY,), n_samples=25, seed=seed)
            out[name], out[f"{name} mc std"] = result.at(ONE_DAY)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--settings", nargs="+", default=["digits/pcm", "cancer/pcm"])
    args = parser.parse_args()
    print(f"architecture {ARCH.id}, 256x256 tiles, 1-day accuracy on the test split, 25 chips,")
    print(f"{args.seeds} seeds: mean +- std over seeds (mean Monte Carlo std in brackets)")
    for setting in args.settings:
        task_name, preset = setting.split("/")
        task = cancer() if task_name == "cancer" else load_task(task_name)
        hw = HardwareConfig.preset(preset, tile_rows=256, tile_cols=256)
        runs = [run_seed(task, hw, seed) for seed in range(args.seeds)]
        print(f"\n{setting} ({len(task.test)} test examples)")
        for row in ROWS:
            values = [100 * run[row] for run in runs]
            spread = statistics.pstdev(values)
            chips = (
                ""
                if row == "digital"
                else f" ({statistics.mean(r[f'{row} mc std'] for r in runs) * 100:.2f})"
            )
            print(f"  {row:14s} {statistics.mean(values):6.2f} +- {spread:4.2f} %{chips}")
        gains = [
            100 * (run[f"{label} + PT"] - run[label])
            for run in runs
            for label in ("no HWA", "full HWA")
        ]
        print(f"  PT gain per run (points): {' '.join(f'{g:+.2f}' for g in gains)}")
        for label in ("no HWA", "full HWA"):
            train_s = statistics.mean(run[f"{label} train s"] for run in runs)
            pt_s = statistics.mean(run[f"{label} PT s"] for run in runs)
            print(f"  {label}: training {train_s:.1f} s, PT {pt_s:.1f} s (mean per seed)")


if __name__ == "__main__":
    main()
