"""The active loop: search with the best model there is, verify a small batch chosen for both
promise and uncertainty at the cheap (collection) fidelity, refit with those rows weighted as
in-domain, and repeat until the job's budget of cheap rows is spent.

It replaces collect-then-search where the pooled surrogate already knows other chips and tasks:
the first round starts from the pooled model at once, and each round's rows go where the
search is about to choose. Rows are stored as each verification ends, so a loop killed
mid-round resumes with what it has: nothing verified is lost or verified twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from search.driver import (
    Candidate,
    Constraints,
    Measurements,
    SearchConfig,
    SearchResult,
    run_search,
)
from search.pipeline import PhaseClock, Progress, verify_candidates
from search.space import SearchSpace
from search.surrogates import SurrogateSource
from search.verify import Budget
from surrogate.context import Context
from surrogate.metrics import kendall_tau, kendall_tau_top
from surrogate.models import BoundSurrogate

MIN_TAU_ROWS = 4  # fewer prospective rows than this: no rank correlation reported
# A context with this many rows of its own within a job's limits is known well enough there: the
# job searches at once.
ENOUGH_ROWS = 100


@dataclass
class Round:
    """One round of the loop: what it verified, and how well the model that chose the batch had
    predicted it (before the rows were measured)."""

    number: int
    in_domain_rows: int  # the context's own rows after the round
    architectures: list[str]
    predicted: list[float]
    measured: list[float]
    seconds: float
    prospective_tau: float | None = None  # over every round so far
    prospective_tau_better_half: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoopState:
    """The rounds so far (from the job's record when it resumes)."""

    rounds: list[Round] = field(default_factory=list)

    def prospective(self) -> tuple[np.ndarray, np.ndarray]:
        predicted = [p for r in self.rounds for p in r.predicted]
        measured = [m for r in self.rounds for m in r.measured]
        return np.asarray(predicted), np.asarray(measured)

    @classmethod
    def from_dicts(cls, rounds: list[dict[str, Any]]) -> LoopState:
        return cls([Round(**r) for r in rounds])


def choose_batch(
    candidates: list[Candidate], k: int, measured: set[str], beta: float = 1.0
) -> list[Candidate]:
    """The ``k`` feasible candidates not measured yet with the highest upper confidence bound
    (predicted accuracy + ``beta`` x its uncertainty): promise and uncertainty both count."""
    unique: dict[str, Candidate] = {}
    for c in candidates:
        if c.feasible and c.config.id not in measured:
            unique.setdefault(c.config.id, c)

    def bound(c: Candidate) -> float:
        return c.predicted["accuracy_1d"] + beta * c.predicted["accuracy_1d_std"]

    return sorted(unique.values(), key=bound, reverse=True)[:k]


@dataclass(frozen=True)
class LoopBudget:
    """What a job may spend on its surrogate: cheap rows at the collection fidelity."""

    collection: Budget
    rows: int
    batch_size: int


@dataclass(frozen=True)
class ActiveLoop:
    """One context's loop: what it searches, where its rows go and what it may spend on them
    (rows stored with source ``label``)."""

    task_name: str
    context: Context
    space: SearchSpace
    config: SearchConfig
    source: SurrogateSource
    budget: LoopBudget
    executor: Executor
    label: str


@dataclass
class LoopHooks:
    """What a caller sees of a running loop (each optional); ``on_first_search`` sees the first
    search's result (e.g. to verify its top-K at once)."""

    progress: Progress | None = None
    on_round: Callable[[Round], None] | None = None
    on_first_search: Callable[[SearchResult], None] | None = None


def active_rounds(
    loop: ActiveLoop, state: LoopState | None = None, hooks: LoopHooks | None = None
) -> BoundSurrogate:
    """Verify the budget's rows in rounds of its batch size at its collection fidelity (stored
    as surrogate rows with the loop's label), refitting in between; returns the model fitted
    on all of them. Rows already stored with the label count (a loop killed mid-round resumes
    with them); ``state`` holds the rounds recorded before."""
    state, hooks = state or LoopState(), hooks or LoopHooks()
    context, source, rows = loop.context, loop.source, loop.budget.rows
    on_first_search = hooks.on_first_search
    clock = PhaseClock("round", hooks.progress)
    bound = source.fitted(context)
    verified = len(_measured(source, context, loop.label))  # after a kill: stored rows count
    while verified < rows:
        start = time.perf_counter()
        number, left = len(state.rounds) + 1, -(-(rows - verified) // loop.budget.batch_size)
        clock.phase = f"round {number}/{number - 1 + left}"
        clock(verified, rows)
        round_config = loop.config.model_copy(update={"seed": loop.config.seed + len(state.rounds)})
        measurements = Measurements.of_rows(source.own_rows(context))
        searched = run_search(loop.space, bound, round_config, measurements=measurements)
        if on_first_search is not None:
            on_first_search(searched)
            on_first_search = None
        batch = choose_batch(
            searched.candidates,
            min(loop.budget.batch_size, rows - verified),
            set(measurements.configs),
        )
        if not batch:
            break  # every feasible candidate the search found is measured already
        results = verify_candidates(
            [c.config for c in batch],
            loop.task_name,
            context.hw,
            loop.budget.collection,
            loop.executor,
            source.store,
            loop.label,
            phase=clock.phase,
            progress=lambda phase, done, total, eta, before=verified: clock(before + done, rows),
        )
        verified += len(results)
        bound = source.fitted(context)
        state.rounds.append(
            Round(
                number=number,
                in_domain_rows=bound.in_domain_rows,
                architectures=[c.config.id for c in batch],
                predicted=[c.predicted["accuracy_1d"] for c in batch],
                measured=[r.accuracy_1d for r in results],
                seconds=time.perf_counter() - start,
            )
        )
        predicted, truth = state.prospective()
        if len(truth) >= MIN_TAU_ROWS:
            state.rounds[-1].prospective_tau = kendall_tau(truth, predicted)
            state.rounds[-1].prospective_tau_better_half = kendall_tau_top(truth, predicted)
        if hooks.on_round:
            hooks.on_round(state.rounds[-1])
    clock(rows, rows)
    return bound


def _measured(source: SurrogateSource, context: Context, label: str) -> set[str]:
    """The architectures the context has rows of from one source, ``label``."""
    return {r["arch_id"] for r in source.own_rows(context) if r["source"] == label}


LIMITED_COSTS = {  # a limit of the search and the row's cost it bounds
    "max_tiles": "tiles",
    "max_params": "params",
    "max_energy_nj": "energy_nj",
    "max_latency_us": "latency_us",
}


def rows_within(source: SurrogateSource, context: Context, limits: Constraints) -> int:
    """How many of the context's rows meet the limits: where a search under them chooses."""
    bounds = {LIMITED_COSTS[name]: limit for name, limit in limits if limit is not None}
    return sum(
        all(row["cost"][cost] <= limit for cost, limit in bounds.items())
        for row in source.own_rows(context)
    )


def prepare_surrogate(
    loop: ActiveLoop, state: LoopState | None = None, hooks: LoopHooks | None = None
) -> BoundSurrogate:
    """The model a search in the loop's context uses: the pooled model fitted for it, at once
    when the context has ``ENOUGH_ROWS`` rows of its own within the search's limits, else after
    the active loop (see :func:`active_rounds`). Rows outside the limits do not count: on
    Fashion-MNIST the 122 shipped rows (78 within ResNet-8's 14 tiles, one above 74 % at
    one day) left the model blind where the search chose; 24 loop rows there reached 83 %."""
    bound = loop.source.fitted(loop.context)
    known = rows_within(loop.source, loop.context, loop.config.constraints)
    if known >= ENOUGH_ROWS or loop.budget.rows == 0:
        return bound
    return active_rounds(loop, state, hooks)
