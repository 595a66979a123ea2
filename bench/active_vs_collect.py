"""A job on a chip the surrogate has never seen: the active loop against collect-then-search.

Run: .venv/bin/python bench/active_vs_collect.py [--held-out-chip rram:128x128,adc_bits=6]
     [--seeds 3] [--rows 24] [--workers 2] [--no-collect]
The README's digits job (400 trials, top-2 of the accuracy/tiles front verified with 8 epochs
and 8 chips, <= 64 tiles), per seed:
- on the shipped chip (pcm 256x256, whose rows the shipped model has): the reference times;
- on the held-out chip with the active loop (``--rows`` cheap rows in rounds of 4, the first
  search's top-2 verified at once);
- on the held-out chip as before the pooled model: collect spread-out rows of that chip alone
  until their verification time equals the loop's, fit a surrogate on them, search, verify.
Prints per seed and as mean ± std: seconds to the first verified candidate, total seconds,
cheap-verification seconds, and the best verified 1-day accuracy of each arm; then the ratio of
first-candidate times (held-out over shipped) and the paired difference loop - collect.
Every arm starts from a fresh database (the shipped rows only).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from search.active import LoopBudget, LoopState
from search.collect import (
    local_executor,
    result_row,
    spread_sample,
    submit_verification,
    task_collection_budget,
)
from search.driver import Constraints, Measurements, SearchConfig
from search.job import JobHooks, run_job
from search.pipeline import search_and_verify
from search.space import SearchSpace
from search.surrogates import SurrogateSource
from search.tasks import load_task
from search.training import TrainConfig
from search.verify import Budget, VerificationResult
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.fitting import fit_pooled, group
from surrogate.store import SampleStore

SHIPPED_CHIP = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
SPACE = SearchSpace.tiny()


class Clock:
    """Seconds since the arm started, to its first verified candidate and in all."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None

    def verified(self, *_) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.start

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start


def fresh_source(folder: Path, name: str) -> SurrogateSource:
    store = SampleStore.open(f"sqlite:///{folder / f'{name}.sqlite'}")
    return SurrogateSource(store, folder / f"{name}-models")


def job_arm(chip, seed, rows, folder, executor, name) -> dict:
    """The job through ``run_job``: the loop where the chip is unknown."""
    task = load_task("digits")
    source = fresh_source(folder, name)
    clock = Clock()
    loop_seconds: list[float] = []
    result, _ = run_job(
        "digits",
        task,
        chip,
        SPACE,
        config(seed),
        budget(seed),
        2,
        LoopBudget(task_collection_budget("digits"), rows, 4),
        source,
        executor,
        f"job:{name}",
        JobHooks(on_verified=clock.verified, on_round=lambda r: loop_seconds.append(r.seconds)),
        LoopState(),
    )
    best = result.best()
    return {
        "first": clock.first,
        "total": clock.total,
        "cheap": sum(loop_seconds),
        "accuracy": best.result.accuracy_1d if best else float("nan"),
    }


def collect_arm(chip, seed, seconds, folder, executor, name) -> dict:
    """Collect-then-search: rows of the chip alone until their verification time is spent."""
    task = load_task("digits")
    source = fresh_source(folder, name)
    cheap = task_collection_budget("digits")
    clock = Clock()
    extractor = FeatureExtractor(task.input_shape, task.num_classes, chip)
    order = spread_sample(SPACE, 80, np.random.default_rng(seed), extractor, 64)
    spent, rows, futures = 0.0, [], []
    for cfg in order:  # a worker's worth ahead, stopped once the time is spent
        futures.append(submit_verification(executor, cfg, "digits", None, chip, cheap))
        if len(futures) < 2:
            continue
        (done,) = futures.pop(0).result()
        result = VerificationResult.from_dict(done)
        rows.append(result_row(result, cheap))
        spent += result.train_seconds + result.eval_seconds
        if spent >= seconds:
            break
    for future in futures:
        future.cancel()
    context = source.context(task, chip, cheap.fidelity)
    alone = fit_pooled([], group(context, rows)).bind(context)
    verified = search_and_verify(
        "digits",
        chip,
        SPACE,
        alone,
        config(seed),
        budget(seed),
        2,
        executor,
        journal=None,
        on_verified=clock.verified,
        measurements=Measurements.of_rows(rows),
    )
    best = verified.best()
    return {
        "first": clock.first,
        "total": clock.total,
        "cheap": spent,
        "rows": len(rows),
        "accuracy": best.result.accuracy_1d if best else float("nan"),
    }


def config(seed: int) -> SearchConfig:
    return SearchConfig(trials=400, seed=seed, constraints=Constraints(max_tiles=64))


def budget(seed: int) -> Budget:
    return Budget(train=TrainConfig(epochs=8, seed=seed), mc_samples=8)


def mean_std(values: list[float], digits: int = 1) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out-chip", default="rram:128x128,adc_bits=6")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-collect", action="store_true", help="The shipped chip and the loop only."
    )
    args = parser.parse_args()
    held_out = HardwareConfig.from_spec(args.held_out_chip)
    runs = []
    with tempfile.TemporaryDirectory() as name, local_executor(args.workers) as executor:
        folder = Path(name)
        for seed in range(args.seeds):
            shipped = job_arm(SHIPPED_CHIP, seed, args.rows, folder, executor, f"shipped{seed}")
            loop = job_arm(held_out, seed, args.rows, folder, executor, f"loop{seed}")
            run = {"shipped chip": shipped, "loop": loop}
            if not args.no_collect:
                run["collect"] = collect_arm(
                    held_out, seed, loop["cheap"], folder, executor, f"collect{seed}"
                )
            runs.append(run)
            print(f"seed {seed}")
            for label, arm in run.items():
                rows = f", {arm['rows']} rows" if "rows" in arm else ""
                print(
                    f"  {label:13s} first verified {arm['first']:6.1f} s, total "
                    f"{arm['total']:6.1f} s, cheap verification {arm['cheap']:6.1f} s{rows}, "
                    f"best acc_1d {arm['accuracy']:.4f}",
                    flush=True,
                )
    print(f"\n{args.held_out_chip} vs the shipped chip, {args.seeds} seeds (mean ± std)")
    for label in runs[0]:
        arms = [run[label] for run in runs]
        print(
            f"  {label:13s} first verified {mean_std([a['first'] for a in arms])} s, "
            f"total {mean_std([a['total'] for a in arms])} s, best acc_1d "
            f"{mean_std([a['accuracy'] for a in arms], 4)}"
        )
    ratios = [run["loop"]["first"] / run["shipped chip"]["first"] for run in runs]
    print(f"  first verified, held-out / shipped: {mean_std(ratios, 2)}x (target <= 2)")
    if args.no_collect:
        return
    differences = [run["loop"]["accuracy"] - run["collect"]["accuracy"] for run in runs]
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else 0
    print(
        f"  best acc_1d, loop - collect-then-search: {statistics.mean(differences):+.4f} "
        f"± {error:.4f} (standard error; target >= 0)"
    )


if __name__ == "__main__":
    main()
