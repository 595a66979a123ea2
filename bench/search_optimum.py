"""How close each search gets to the surrogate's own optimum under a tile limit.

Run: .venv/bin/python bench/search_optimum.py [--task fashion-mnist] [--max-tiles 14]
     [--trials 400,1000,2000,4000] [--seeds 3]
For each number of trials and seed: the best predicted 1-day accuracy among the feasible
candidates of NSGA-II started from random architectures, NSGA-II started from the hand-designed
networks inside the space (``start_from_baselines``), and random search, all scored by the pooled
surrogate fitted for the task on pcm 256x256 at its collection fidelity; beside them the
surrogate's prediction for ResNet-8 and the best of --reference-samples random architectures
(an estimate of the optimum). Seconds per search on the right.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from search_bench import surrogate_for

from search.baselines import RESNET8
from search.collect import local_executor, task_collection_budget
from search.driver import Constraints, Scorer, SearchConfig, run_search
from search.space import SearchSpace
from search.tasks import load_task
from simulator import HardwareConfig

ARMS = {  # name: (algorithm, start_from_baselines)
    "nsga2 (random start)": ("nsga2", False),
    "nsga2 (from hand designs)": ("nsga2", True),
    "random search": ("random", False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fashion-mnist")
    parser.add_argument("--max-tiles", type=int, default=14)
    parser.add_argument("--trials", default="400,1000,2000,4000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--reference-samples", type=int, default=50_000)
    args = parser.parse_args()
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    space = SearchSpace.tiny()
    task = load_task(args.task)
    constraints = Constraints(max_tiles=args.max_tiles)
    with tempfile.TemporaryDirectory() as folder, local_executor(1) as executor:
        surrogate = surrogate_for(
            task,
            hw,
            space,
            task_collection_budget(task.name),
            0,
            Path(folder) / "rows.sqlite",
            args.max_tiles,
            executor,
        )
    scorer = Scorer(surrogate, SearchConfig(constraints=constraints))
    (resnet8,) = scorer.candidates([RESNET8], [-1])
    rng = np.random.default_rng(0)
    sampled = scorer.candidates(
        [space.sample(rng) for _ in range(args.reference_samples)], [-1] * args.reference_samples
    )
    optimum = max(c.predicted["accuracy_1d"] for c in sampled if c.feasible)
    print(
        f"{task.name}, pcm 256x256, <= {args.max_tiles} tiles: predicted 1-day accuracy of "
        f"ResNet-8 {resnet8.predicted['accuracy_1d']:.4f}; best of {args.reference_samples} "
        f"random architectures {optimum:.4f}"
    )
    print(f"{'trials':>6}  {'search':26s}  best predicted per seed          s/search")
    for trials in (int(t) for t in args.trials.split(",")):
        for arm, (algorithm, warm) in ARMS.items():
            best, start = [], time.perf_counter()
            for seed in range(args.seeds):
                config = SearchConfig(
                    trials=trials,
                    seed=seed,
                    objectives=("accuracy_1d",),
                    constraints=constraints,
                    algorithm=algorithm,
                    start_from_baselines=warm,
                )
                result = run_search(space, surrogate, config)
                best.append(max(c.predicted["accuracy_1d"] for c in result.feasible()))
            seconds = (time.perf_counter() - start) / args.seeds
            values = "  ".join(f"{b:.4f}" for b in best)
            print(f"{trials:>6}  {arm:26s}  {values:32s} {seconds:6.1f}")


if __name__ == "__main__":
    main()
