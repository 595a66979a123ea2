"""Label noise of verified figures: the same architectures verified twice, at several fidelities.

Run: .venv/bin/python bench/label_noise.py [--task fashion-mnist] [--archs 16] [--repeats 2]
     [--fidelity TRAIN:EPOCHS:TEST:CHIPS ...] [--max-tiles 14] [--out FILE.jsonl]
Draws ``--archs`` architectures spread over size from the tiny space (fitting ``--max-tiles`` pcm
256x256 tiles) and verifies each ``--repeats`` times per fidelity with different training seeds
(each seed also draws its own class-balanced training subset; the held-out subsets are fixed, as
for every verification). Per fidelity it prints the spread of the 1-day accuracy, the retest
agreement (Kendall tau between repeats, over all architectures and among the better half by the
repeats' mean: how much of that ordering is signal rather than noise), the mean |difference|
between repeats, and seconds per verification; then how each fidelity's mean ranks against the
last (highest) one's. Rows go to ``--out`` as they come; a rerun skips what is there.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path

import numpy as np

from search.collect import collection_budget, local_executor, spread_sample, submit_verification
from search.space import ArchConfig, SearchSpace
from search.tasks import load_task
from search.verify import VerificationResult
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.metrics import kendall_tau, kendall_tau_top

DEFAULT_FIDELITIES = ("2000:2:2000:2", "6000:3:5000:4")


def parse_fidelity(text: str) -> tuple[int | None, int, int | None, int]:
    train, epochs, test, chips = text.split(":")
    whole = lambda v: None if v == "all" else int(v)  # noqa: E731
    return whole(train), int(epochs), whole(test), int(chips)


def retest(means: dict[str, list[float]]) -> dict[str, float]:
    """Agreement of the first two repeats, over all architectures and the better half."""
    ids = [a for a, values in means.items() if len(values) >= 2]
    first = np.asarray([means[a][0] for a in ids])
    second = np.asarray([means[a][1] for a in ids])
    mean = (first + second) / 2
    half = np.argsort(-mean, kind="stable")[: max(2, len(ids) // 2)]
    return {
        "n": len(ids),
        "tau": kendall_tau(first, second),
        "tau_better_half": kendall_tau(first[half], second[half]),
        "abs_diff": float(np.mean(np.abs(first - second))),
        "range": float(mean.max() - mean.min()),
        "range_better_half": float(mean[half].max() - mean[half].min()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fashion-mnist")
    parser.add_argument("--archs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fidelity", action="append", help="TRAIN:EPOCHS:TEST:CHIPS ('all')")
    parser.add_argument("--max-tiles", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("label-noise.jsonl"))
    args = parser.parse_args()
    fidelities = [parse_fidelity(f) for f in args.fidelity or DEFAULT_FIDELITIES]
    task = load_task(args.task)
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    extractor = FeatureExtractor(task.input_shape, task.num_classes, hw)
    archs = spread_sample(
        SearchSpace.tiny(), args.archs, np.random.default_rng(1), extractor, args.max_tiles
    )
    done = [json.loads(line) for line in args.out.open()] if args.out.is_file() else []
    have = {(tuple(r["fidelity_spec"]), r["arch_id"], r["seed"]) for r in done}
    work = [
        (spec, seed, cfg)
        for spec, seed, cfg in itertools.product(fidelities, range(args.repeats), archs)
        if (spec, cfg.id, seed) not in have
    ]
    print(
        f"{task.name}: {len(archs)} architectures x {args.repeats} seeds x {len(fidelities)} "
        f"fidelities; {len(work)} verifications to run",
        flush=True,
    )
    with local_executor(args.workers) as executor, args.out.open("a") as out:
        futures = {}
        for spec, seed, cfg in work:
            train, epochs, test, chips = spec
            budget = collection_budget(train, test, epochs, chips)
            budget = budget.model_copy(
                update={"train": budget.train.model_copy(update={"seed": seed})}
            )
            futures[submit_verification(executor, cfg, args.task, None, hw, budget)] = (
                spec,
                seed,
                cfg,
                time.perf_counter(),
            )
        for future, (spec, seed, cfg, _) in futures.items():
            (first,) = future.result()
            result = VerificationResult.from_dict(first)
            row = {
                "fidelity_spec": list(spec),
                "arch_id": cfg.id,
                "arch": cfg.model_dump(mode="json"),
                "seed": seed,
                "accuracy_1d": result.accuracy_1d,
                "digital_accuracy": result.digital_accuracy,
                "tiles": result.cost["tiles"],
                "seconds": result.train_seconds + result.eval_seconds,
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            done.append(row)
            print(
                f"  {spec} seed {seed} {cfg.id}: {result.accuracy_1d:.4f} ({row['seconds']:.0f} s)",
                flush=True,
            )
    report(done, fidelities, archs)


def report(rows: list[dict], fidelities: list, archs: list[ArchConfig]) -> None:
    ids = {cfg.id for cfg in archs}
    print(
        f"\n{'fidelity (train:epochs:test:chips)':36s} {'range':>6s} {'half':>6s} "
        f"{'tau':>6s} {'tau half':>8s} {'|diff|':>7s} {'s/verif':>8s}"
    )
    by_fidelity = {}
    for spec in fidelities:
        mine = [r for r in rows if tuple(r["fidelity_spec"]) == tuple(spec) and r["arch_id"] in ids]
        means: dict[str, list[float]] = {}
        for r in sorted(mine, key=lambda r: r["seed"]):
            means.setdefault(r["arch_id"], []).append(r["accuracy_1d"])
        by_fidelity[spec] = {a: statistics.mean(v) for a, v in means.items()}
        stats = retest(means)
        seconds = statistics.mean(r["seconds"] for r in mine)
        name = ":".join("all" if v is None else str(v) for v in spec)
        print(
            f"{name:36s} {stats['range']:6.3f} {stats['range_better_half']:6.3f} "
            f"{stats['tau']:6.3f} {stats['tau_better_half']:8.3f} {stats['abs_diff']:7.4f} "
            f"{seconds:8.1f}"
        )
    reference = by_fidelity[fidelities[-1]]
    print("\nagreement of each fidelity's mean with the last one's (Kendall tau):")
    for spec, means in by_fidelity.items():
        common = sorted(set(means) & set(reference))
        truth = np.asarray([reference[a] for a in common])
        guess = np.asarray([means[a] for a in common])
        name = ":".join("all" if v is None else str(v) for v in spec)
        print(
            f"  {name:34s} all {kendall_tau(truth, guess):6.3f}  better half "
            f"{kendall_tau_top(truth, guess):6.3f}"
        )


if __name__ == "__main__":
    main()
