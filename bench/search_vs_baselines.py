"""Search vs random search vs ResNet-8 on one task, pcm 256x256 tiles, a tile budget.

Run: .venv/bin/python bench/search_vs_baselines.py [--task digits|fashion-mnist] [--seeds 3]
     [--trials 1000] [--top-k 3] [--max-tiles 64] [--epochs 8] [--train-examples N]
     [--test-examples N] [--mc-samples 25] [--objectives accuracy_1d] [--collect N]
     [--loop-rows N] [--no-measurements] [--database FILE.sqlite]
For each seed: NSGA-II scored by the surrogate and random search with the same number of trials,
each verifying a diverse top-K of its feasible front, and ResNet-8, all verified at the same
fidelity (hardware-aware training for --epochs epochs on --train-examples class-balanced training
examples, --mc-samples programmed chips, measured on --test-examples test examples). Prints per
seed and as mean ± std over seeds the verified 1-day accuracy, AVM and tiles of each arm's best
and each arm's wall time; then the search's best candidate with no more tiles than ResNet-8, its
paired difference to ResNet-8 with the standard error over seeds, and random search's best at the
same tile limit.
--max-tiles set to ResNet-8's tile count (14 on 8x8 digits and on 28x28 fashion-mnist) confines
every arm to ResNet-8's size.
The surrogate: the pooled model of the shipped rows and those in --database, fitted for the
task's context at its cheap collection fidelity (--collect-* to change it); with --collect N,
rows of that context are first collected until it has N of its own (kept in --database, so a
rerun verifies only what it lacks); with --loop-rows N, N more are verified in the active loop's
rounds at the same fidelity, chosen by a search with the arms' objectives and tile limit (its own
seed), so the model learns where the search will choose. Every arm ranks the architectures the
context has rows of by their measured mean, as a job does (--no-measurements: by the model alone).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from search_bench import (
    PhaseTimes,
    best_within,
    describe,
    mean_std,
    measurements_for,
    paired_difference,
    surrogate_for,
)

from search.collect import local_executor, task_collection_budget
from search.driver import Constraints, SearchConfig
from search.pipeline import (
    PipelineResult,
    search_and_verify,
)
from search.space import SearchSpace
from search.tasks import load_task
from search.training import TrainConfig
from search.verify import Budget
from simulator import HardwareConfig, PostTraining

LOOP_SEED = 1000  # the active loop's searches: apart from every arm's seed
ARMS = {  # the pipeline's phases that make up each arm
    "search": ("search", "verify"),
    "random": ("random search", "verify random"),
    "resnet8": ("verify resnet8",),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--objectives", default="accuracy_1d,tiles")
    parser.add_argument("--space", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--max-tiles", type=int, default=64)
    fidelity = parser.add_argument_group("verification fidelity (every arm)")
    fidelity.add_argument("--epochs", type=int, default=8, help="8: the API's example job")
    fidelity.add_argument("--train-examples", type=int, help="Balanced subset (default: all)")
    fidelity.add_argument("--test-examples", type=int, help="Balanced subset (default: all)")
    fidelity.add_argument("--mc-samples", type=int, default=25, help="Programmed chips")
    fidelity.add_argument(
        "--post-training",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Post-training range optimisation (also of the collected rows)",
    )
    source = parser.add_argument_group("surrogate")
    source.add_argument(
        "--collect", type=int, default=0, help="Rows of the task's context to have (collects)"
    )
    source.add_argument(
        "--loop-rows", type=int, default=0, help="Rows the active loop adds near the front"
    )
    source.add_argument(
        "--database", type=Path, default=Path("bench-surrogate.sqlite"), help="Rows (resumable)"
    )
    source.add_argument(
        "--measurements",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Rank the architectures the context has rows of by those rows, as a job does",
    )
    source.add_argument("--collect-train-examples", type=int, help="Default: the task's")
    source.add_argument("--collect-test-examples", type=int, help="Default: the task's")
    source.add_argument("--collect-epochs", type=int, help="Default: the task's")
    source.add_argument("--collect-mc-samples", type=int, help="Default: the task's")
    args = parser.parse_args()

    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    space = SearchSpace.tiny() if args.space == "tiny" else SearchSpace()
    task = load_task(args.task)
    collection = task_collection_budget(
        task.name,
        args.collect_train_examples,
        args.collect_test_examples,
        args.collect_epochs,
        args.collect_mc_samples,
        args.post_training,
    )
    post_training = PostTraining() if args.post_training else None
    print(
        f"{task.name}, pcm 256x256, <= {args.max_tiles} tiles, {args.trials} trials, "
        f"top-{args.top_k} verified, objectives {args.objectives}, space {args.space}; "
        f"verification: {args.epochs} epochs, {args.train_examples or 'all'} training and "
        f"{args.test_examples or 'all'} test examples, {args.mc_samples} chips, "
        f"post-training {'on' if post_training else 'off'}"
    )

    def search_config(seed: int) -> SearchConfig:
        return SearchConfig(
            trials=args.trials,
            population=args.population,
            seed=seed,
            objectives=tuple(args.objectives.split(",")),
            constraints=Constraints(max_tiles=args.max_tiles),
        )

    with local_executor(args.workers) as executor:
        start = time.perf_counter()
        print(f"surrogate: pooled, rows of {task.name} at {collection.fidelity}")
        loop = (search_config(LOOP_SEED), args.loop_rows) if args.loop_rows else None
        surrogate = surrogate_for(
            task, hw, space, collection, args.collect, args.database, args.max_tiles, executor, loop
        )
        measurements = measurements_for(surrogate, args.database) if args.measurements else None
        print(f"surrogate: {time.perf_counter() - start:.0f} s")

        runs: list[tuple[PipelineResult, dict[str, float]]] = []
        for seed in range(args.seeds):
            config = search_config(seed)
            budget = Budget(
                train=TrainConfig(seed=seed, epochs=args.epochs),
                mc_samples=args.mc_samples,
                train_examples=args.train_examples,
                test_examples=args.test_examples,
                post_training=post_training,
            )
            timer = PhaseTimes()
            result = search_and_verify(
                args.task,
                hw,
                space,
                surrogate,
                config,
                budget,
                args.top_k,
                executor,
                baselines=("random", "resnet8"),
                progress=timer,
                measurements=measurements,
            )
            spans = timer.seconds()
            seconds = {arm: sum(spans.get(p, 0.0) for p in phases) for arm, phases in ARMS.items()}
            runs.append((result, seconds))
            report_seed(seed, result, seconds)
    summarize(runs)


def report_seed(seed: int, result: PipelineResult, seconds: dict[str, float]) -> None:
    print(f"\nseed {seed}")
    for arm in ARMS:
        print(f"  {arm:8s} best: {describe(result.best(arm))}  ({seconds[arm]:.0f} s)")
    reference = result.best("resnet8")
    if reference is None:
        print("  ResNet-8 does not fit --max-tiles: no comparison at its tile count")
        return
    limit = reference.result.cost["tiles"]
    within = best_within(result.verified, limit)
    print(f"  search   best at <= {int(limit)} tiles: {describe(within)}", end="")
    if within is not None:
        print(f"  (vs ResNet-8 {within.result.accuracy_1d - reference.result.accuracy_1d:+.4f})")
    else:
        print()
    random = best_within(result.baselines["random"], limit)
    print(f"  random   best at <= {int(limit)} tiles: {describe(random)}")


def summarize(runs: list[tuple[PipelineResult, dict[str, float]]]) -> None:
    print(f"\nover {len(runs)} seeds (mean ± std)")
    for arm in ARMS:
        best = [r.best(arm).result for r, _ in runs if r.best(arm) is not None]
        print(
            f"  {arm:8s} acc_1d {mean_std([b.accuracy_1d for b in best])}  "
            f"AVM {mean_std([b.avm for b in best])}  "
            f"tiles {mean_std([b.cost['tiles'] for b in best], 1)}  "
            f"wall {mean_std([s[arm] for _, s in runs], 0)} s"
        )
    paired: dict[str, list[float]] = {"ResNet-8": [], "random": []}
    within: dict[str, list[float]] = {"search": [], "random": []}
    for result, _ in runs:
        reference = result.best("resnet8")
        if reference is None:
            continue
        limit = reference.result.cost["tiles"]
        search = best_within(result.verified, limit)
        random = best_within(result.baselines["random"], limit)
        for arm, best in (("search", search), ("random", random)):
            if best is not None:
                within[arm].append(best.result.accuracy_1d)
        if search is not None:
            paired["ResNet-8"].append(search.result.accuracy_1d - reference.result.accuracy_1d)
            if random is not None:
                paired["random"].append(search.result.accuracy_1d - random.result.accuracy_1d)
    for arm, values in within.items():
        print(
            f"  {arm:8s} best at <= ResNet-8's tiles: acc_1d {mean_std(values)} "
            f"({len(values)} seeds with one)"
        )
    for other, differences in paired.items():
        print(f"  search (<= ResNet-8's tiles) - {other}: {paired_difference(differences)}")


if __name__ == "__main__":
    main()
