"""Search vs random search vs ResNet-8 on digits/pcm, 256x256 tiles, a 64-tile budget.

Run: .venv/bin/python bench/search_vs_baselines.py [--seeds 3] [--trials 1000] [--top-k 3]
     [--epochs 8] [--objectives accuracy_1d,tiles]
For each seed: NSGA-II with the shipped surrogate and random search with the same number of
trials, each verifying a diverse top-K of its feasible front, and ResNet-8, all verified with the
same budget (hardware-aware training for --epochs epochs, 25 programmed chips). Prints the best
verified 1-day accuracy of each per seed and the means.
"""

from __future__ import annotations

import argparse
import statistics

from search.collect import local_executor
from search.driver import Constraints, SearchConfig
from search.pipeline import search_and_verify
from search.space import SearchSpace
from search.training import TrainConfig
from search.verify import Budget
from simulator import HardwareConfig
from surrogate.fitting import shipped_surrogate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--objectives", default="accuracy_1d,tiles")
    parser.add_argument(
        "--epochs",
        type=int,
        default=8,
        help="Training epochs of verification (8: the example job of the API)",
    )
    args = parser.parse_args()
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    surrogate = shipped_surrogate("digits", hw)
    best: dict[str, list[float]] = {"search": [], "random": [], "resnet8": []}
    print(
        f"digits, pcm 256x256, <= 64 tiles, {args.trials} trials, top-{args.top_k} verified, "
        f"objectives {args.objectives}"
    )
    print(f"{'seed':>4s} {'search':>8s} {'random':>8s} {'resnet8':>8s}  best search architecture")
    with local_executor(args.workers) as executor:
        for seed in range(args.seeds):
            config = SearchConfig(
                trials=args.trials,
                population=50,
                seed=seed,
                objectives=tuple(args.objectives.split(",")),
                constraints=Constraints(max_tiles=64),
            )
            budget = Budget(train=TrainConfig(seed=seed, epochs=args.epochs))
            result = search_and_verify(
                "digits",
                hw,
                SearchSpace.tiny(),
                surrogate,
                config,
                budget,
                args.top_k,
                executor,
                baselines=("random", "resnet8"),
            )
            row = {label: result.best(label).result.accuracy_1d for label in best}
            for label, value in row.items():
                best[label].append(value)
            winner = result.best("search").result
            print(
                f"{seed:4d} {row['search']:8.4f} {row['random']:8.4f} {row['resnet8']:8.4f}"
                f"  {winner.arch_id} ({winner.cost['tiles']} tiles)"
            )
    means = {label: statistics.mean(values) for label, values in best.items()}
    print(f"mean {means['search']:8.4f} {means['random']:8.4f} {means['resnet8']:8.4f}")
    print(
        f"search >= resnet8: {means['search'] >= means['resnet8']}; "
        f"search >= random: {means['search'] >= means['random']}"
    )


if __name__ == "__main__":
    main()
