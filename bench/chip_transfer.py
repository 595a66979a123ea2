"""How the pooled surrogate ranks a chip or a task it has (almost) no rows of.

Run: .venv/bin/python bench/chip_transfer.py --data FOLDER_OR_FILE [--data ...]
     [--held-out-chip rram:128x128,adc_bits=6] [--task digits] [--seeds 3]
     [--transfer-task fashion-mnist]
Rows: JSON lines as `xbarnas surrogate collect --export` writes them (e.g. the shipped
surrogate/data, or a collection over a grid of chips). For each seed, a quarter of the target
context's architectures is held out of every fit (on no chip, in no task); on them the table
prints Kendall tau overall and among the better half of:
- the pooled model of every other context, with 0 rows of the target;
- the same with 16, 32 (and 150) rows of the target, weighted as in-domain;
- a surrogate of the target alone, fitted on 150 of its rows, or all it has if fewer
  (today's collect-then-search);
- parameter count.
First for the held-out chip (digits rows of the other chips pooled), then, with
--transfer-task, for that task on the shipped chip: pooled from the other task only (task
transfer), and from the other task plus the transfer task's other chips (chip transfer).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np

from search.surrogates import SHIPPED_PROFILES, ProfileBook, by_context, groups_of
from simulator import HardwareConfig
from surrogate.fitting import fit_pooled, subset, without
from surrogate.metrics import kendall_tau, kendall_tau_top
from surrogate.models import Group, feature_names, features
from surrogate.store import read_rows

SHIPPED_CHIP = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
IN_DOMAIN = (0, 16, 32, 150)
ALONE = 150


def scores(model, target: Group, index: np.ndarray) -> dict[str, float]:
    truth = target.targets["accuracy_1d"][index]
    predicted = model(target.encodings[index])
    return {"tau": kendall_tau(truth, predicted), "half": kendall_tau_top(truth, predicted)}


def parameter_count(target: Group) -> Callable[[np.ndarray], np.ndarray]:
    """log10(parameters) of architectures, as a trivial predictor of the target's order."""
    column = feature_names(target.context).index("log_params")
    return lambda encodings: features(target.context, encodings)[:, column]


def table(groups: list[Group], target: Group, pool: Callable[[Group], bool], seeds: int) -> None:
    """Print the rows of the table for ``target`` with the groups ``pool`` keeps pooled."""
    results: dict[str, list[dict[str, float]]] = {}
    log_params = parameter_count(target)
    n = len(target.encodings)
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(n)
        test, rest = order[: n // 4], order[n // 4 :]
        held_out = {tuple(e) for e in target.encodings[test]}
        pooled = [without(g, held_out) for g in groups if g is not target and pool(g)]
        for k in IN_DOMAIN:
            if k > len(rest):
                continue
            own = subset(target, rest[:k]) if k else None
            bound = fit_pooled(pooled, own).bind(target.context)
            name = f"pooled + {k} rows of the target"
            results.setdefault(name, []).append(scores(bound.score, target, test))
        alone_rows = min(ALONE, len(rest))
        alone = fit_pooled([], subset(target, rest[:alone_rows])).bind(target.context)
        results.setdefault(f"target alone, {alone_rows} rows", []).append(
            scores(alone.score, target, test)
        )
        results.setdefault("parameter count", []).append(scores(log_params, target, test))
    print(f"  {'model':36s} {'Kendall tau':>14s} {'better half':>14s}   ({seeds} seeds)")
    for name, runs in results.items():
        tau = [r["tau"] for r in runs]
        half = [r["half"] for r in runs]
        print(f"  {name:36s} {_mean_std(tau):>14s} {_mean_std(half):>14s}")


def _mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", required=True)
    parser.add_argument(
        "--held-out-chip", default="rram:128x128,adc_bits=6", help="a chip spec, or none"
    )
    parser.add_argument("--task", default="digits")
    parser.add_argument("--transfer-task", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    groups = groups_of(by_context(read_rows(args.data)), ProfileBook(SHIPPED_PROFILES))
    print("contexts: " + ", ".join(f"{g.context.key} ({len(g.encodings)})" for g in groups))
    if args.held_out_chip != "none":
        held_out_chip = HardwareConfig.from_spec(args.held_out_chip)
        (target,) = [
            g for g in groups if g.context.hw == held_out_chip and g.context.task.name == args.task
        ]
        print(f"\nheld-out chip {args.held_out_chip} ({target.context.key}), {args.task} pooled:")
        table(groups, target, lambda g: g.context.task.name == args.task, args.seeds)
    if args.transfer_task:
        (other,) = [
            g
            for g in groups
            if g.context.task.name == args.transfer_task and g.context.hw == SHIPPED_CHIP
        ]
        print(f"\n{args.transfer_task} on the shipped chip, pooled from {args.task} only:")
        table(groups, other, lambda g: g.context.task.name == args.task, args.seeds)
        print(
            f"\n{args.transfer_task} on the shipped chip, pooled from {args.task} and the "
            f"{args.transfer_task} rows of other chips:"
        )
        table(groups, other, lambda g: True, args.seeds)


if __name__ == "__main__":
    main()
