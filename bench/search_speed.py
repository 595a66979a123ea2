"""Durable search loop vs Optuna's in-memory NSGA-II on the same surrogate objective.

Run: .venv/bin/python bench/search_speed.py [--trials 2000]
Baselines of the same run: Optuna NSGA-II with in-memory storage, one trial at a time
(``study.optimize``), scoring each architecture with the shipped digits/pcm surrogate; and the
same with RDBStorage on SQLite (fewer trials: it is slow). Ours: ``search.driver.run_search``,
which journals every generation to disk (durable, resumable). Target (issue 5): ours <= 2x the
in-memory time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import optuna

from search.driver import Constraints, Scorer, SearchConfig, TrialJournal, run_search
from search.space import SearchSpace
from search.surrogates import shipped_model
from simulator import HardwareConfig


def optuna_baseline(space, surrogate, config, trials: int, storage) -> float:
    scorer = Scorer(surrogate, config)

    def objective(trial: optuna.Trial):
        (candidate,) = scorer.candidates([space.suggest(trial)], [trial.number])
        for name, value in candidate.constraints.items():
            trial.set_constraint(name, value)
        return scorer.values(candidate)

    sampler = optuna.samplers.NSGAIISampler(population_size=config.population, seed=0)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=sampler, storage=storage
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--rdb-trials", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    surrogate = shipped_model("digits", hw)
    space = SearchSpace.tiny()
    config = SearchConfig(trials=args.trials, population=50, constraints=Constraints(max_tiles=64))
    in_memory = optuna_baseline(space, surrogate, config, args.trials, None)
    with tempfile.TemporaryDirectory() as folder:
        rdb = optuna_baseline(
            space, surrogate, config, args.rdb_trials, f"sqlite:///{Path(folder) / 'optuna.db'}"
        )
        start = time.perf_counter()
        run_search(space, surrogate, config, TrialJournal(Path(folder) / "trials.jsonl"))
        ours = (time.perf_counter() - start) / args.trials
    print(f"NSGA-II, {args.trials} trials, surrogate objective (digits/pcm 256x256, <= 64 tiles)")
    print(f"  Optuna in-memory:          {1 / in_memory:8.0f} trials/s")
    print(f"  Optuna RDB on SQLite:      {1 / rdb:8.0f} trials/s ({args.rdb_trials} trials)")
    print(f"  ours (durable, journaled): {1 / ours:8.0f} trials/s")
    print(f"  ratio ours / in-memory time: {ours / in_memory:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
