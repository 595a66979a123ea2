"""Helpers shared by the search benchmarks (``search_vs_baselines.py``, ``low_rank_search.py``):
phase timing, the pooled surrogate of a task's context, best verified candidates, and summaries
over seeds."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

from search.active import ActiveLoop, LoopBudget, LoopHooks, active_rounds
from search.collect import collect
from search.driver import Measurements, SearchConfig
from search.pipeline import Verified
from search.space import SearchSpace
from search.surrogates import SurrogateSource
from search.tasks import Task
from search.verify import Budget
from simulator import HardwareConfig
from surrogate.fitting import context_holdout
from surrogate.models import BoundSurrogate
from surrogate.store import SampleStore


class PhaseTimes:
    """Seconds per phase of a pipeline run, from its progress reports: a phase lasts from the
    previous phase's last report (or the start) to its own last one."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last: dict[str, float] = {}

    def __call__(self, phase: str, done: int, total: int, eta: float | None) -> None:
        self.last[phase] = time.perf_counter()

    def seconds(self) -> dict[str, float]:
        spans, previous = {}, self.start
        for phase, end in sorted(self.last.items(), key=lambda item: item[1]):
            spans[phase], previous = end - previous, end
        return spans


def surrogate_for(
    task: Task,
    hw: HardwareConfig,
    space: SearchSpace,
    collection: Budget,
    n: int,
    database: Path,
    max_tiles: int,
    executor: Executor,
    loop: tuple[SearchConfig, int] | None = None,
) -> BoundSurrogate:
    """The pooled model (shipped rows and those in ``database``) fitted for the task's context,
    after collecting rows of it at the ``collection`` fidelity until it has ``n`` of its own,
    then, with ``loop`` = (search config, rows), verifying that many more in the active loop's
    rounds, where that search chooses (resumable: the rows stay in ``database``)."""
    source = source_of(database)
    store = source.store
    context = source.context(task, hw, collection.fidelity)
    _, own = source.groups(context)
    if n and (own is None or len(own.encodings) < n):
        report = collect(
            task.name,
            hw,
            space,
            n,
            store,
            collection,
            max_tiles=max_tiles,
            executor=executor,
            progress=lambda done, total: print(f"  collected {done}/{total}", flush=True),
        )
        failed = len(report.failed)
        print(f"  added {report.added}, already there {report.skipped}, failed {failed}")
    if loop is not None:
        config, rows = loop
        active = ActiveLoop(
            task.name,
            context,
            space,
            config,
            source,
            LoopBudget(collection, rows, batch_size=8),
            executor,
            label="bench-loop",
        )
        hooks = LoopHooks(on_round=lambda r: print(f"  loop round {r.number}: {r.seconds:.0f} s"))
        active_rounds(active, hooks=hooks)
    bound = source.fitted(context)
    pooled, own = source.groups(context)
    held_out = context_holdout(pooled, own) if own is not None else None
    tau = (
        f"{held_out['accuracy_1d']['kendall_tau']:.3f} (better half "
        f"{held_out['kendall_tau_better_half']:.3f})"
        if held_out
        else "n/a"
    )
    print(f"  {context.key}: {bound.in_domain_rows} rows of its own; held-out Kendall tau {tau}")
    return bound


def source_of(database: Path) -> SurrogateSource:
    """The rows of the shipped data and of ``database``, with the models fitted on them."""
    store = SampleStore.open(f"sqlite:///{database}")
    return SurrogateSource(store, database.parent / f"{database.stem}-models")


def measurements_for(bound: BoundSurrogate, database: Path) -> Measurements:
    """What the surrogate's context has measured (shipped rows and those in ``database``)."""
    return Measurements.of_rows(source_of(database).own_rows(bound.context))


def best_within(pool: Sequence[Verified], max_tiles: float) -> Verified | None:
    fits = [v for v in pool if v.result.cost["tiles"] <= max_tiles]
    return max(fits, key=lambda v: v.result.accuracy_1d, default=None)


def mean_std(values: Sequence[float], decimals: int = 4) -> str:
    if not values:
        return "n/a"
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.{decimals}f} ± {spread:.{decimals}f}"


def describe(v: Verified | None) -> str:
    if v is None:
        return "none"
    r, tiles = v.result, int(v.result.cost["tiles"])
    return f"acc_1d {r.accuracy_1d:.4f}  AVM {r.avm:+.4f}  tiles {tiles:3d}  {r.arch_id}"


def paired_difference(differences: Sequence[float]) -> str:
    """Mean paired difference over seeds, its standard error and whether it exceeds two."""
    if len(differences) < 2:
        return f"{differences[0]:+.4f} (one seed: no error)" if differences else "n/a"
    mean = statistics.mean(differences)
    error = statistics.stdev(differences) / math.sqrt(len(differences))
    verdict = "yes" if mean > 2 * error else "no"
    return (
        f"{mean:+.4f} ± {error:.4f} (standard error, {len(differences)} paired seeds); "
        f"> 2 SE: {verdict}"
    )
