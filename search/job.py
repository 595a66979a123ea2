"""A whole search job: the surrogate of its context (active loop where it knows too little), the
search, and the verification of its top-K at the job's fidelity. ``xbarnas serve``'s runner and
``xbarnas search`` both run this."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import partial
from typing import Any

from search.active import (
    ActiveLoop,
    LoopBudget,
    LoopHooks,
    LoopState,
    Round,
    prepare_surrogate,
)
from search.collect import result_row, submit_verification
from search.driver import (
    Candidate,
    Measurements,
    SearchConfig,
    SearchResult,
    TrialJournal,
    diverse_top_k,
)
from search.pipeline import PipelineResult, Progress, Verified, search_and_verify
from search.space import SearchSpace
from search.surrogates import SurrogateSource
from search.tasks import Task
from search.verify import Budget, VerificationResult
from simulator import HardwareConfig
from surrogate.fitting import context_holdout, quality
from surrogate.models import BoundSurrogate


@dataclass
class JobHooks:
    """What a caller sees of a running job (each optional)."""

    progress: Progress | None = None
    on_round: Callable[[Round], None] | None = None
    on_searched: Callable[[SearchResult], None] | None = None
    on_verified: Callable[[Candidate, VerificationResult], None] | None = None


def run_job(
    task_name: str,
    task: Task,
    hw: HardwareConfig,
    space: SearchSpace,
    config: SearchConfig,
    budget: Budget,
    top_k: int,
    loop: LoopBudget,
    source: SurrogateSource,
    executor: Executor,
    label: str,
    hooks: JobHooks | None = None,
    state: LoopState | None = None,
    done: dict[str, VerificationResult] | None = None,
    journal: TrialJournal | None = None,
    baselines: tuple[str, ...] = (),
    store_verified: bool = True,
) -> tuple[PipelineResult, BoundSurrogate]:
    """Run a job; ``label`` marks the surrogate rows its loop verifies. Resuming: ``state``
    holds its earlier rounds, ``done`` its verified candidates. Where the loop runs, the top-K
    of its first search (chosen as a known chip's job chooses its own) is verified at the job's
    fidelity at once, before the loop's rows: a new chip has verified candidates as early as a
    known one. The final top-K reuses those it still chooses."""
    hooks = hooks or JobHooks()
    done = dict(done or {})
    if hooks.progress:
        hooks.progress("surrogate", 0, 1, None)
    context = source.context(task, hw, loop.collection.fidelity)
    early: list[tuple[Candidate, Future]] = []

    def verify_first(searched: SearchResult) -> None:
        for chosen in diverse_top_k(searched.candidates, top_k, searched.scorer):
            future = submit_verification(executor, chosen.config, task_name, None, hw, budget)
            if hooks.on_verified:
                report = partial(_report, candidate=chosen, on_verified=hooks.on_verified)
                future.add_done_callback(report)
            early.append((chosen, future))

    active = ActiveLoop(task_name, context, space, config, source, loop, executor, label)
    first = verify_first if top_k and not done else None
    bound = prepare_surrogate(active, state, LoopHooks(hooks.progress, hooks.on_round, first))
    for candidate, future in early:
        (first,) = future.result()
        done[candidate.config.id] = VerificationResult.from_dict(first)
        if store_verified:
            source.store.add(result_row(done[candidate.config.id], budget, "search"))
    result = search_and_verify(
        task_name,
        hw,
        space,
        bound,
        config,
        budget,
        top_k,
        executor,
        source.store if store_verified else None,
        journal,
        baselines,
        hooks.progress,
        done,
        hooks.on_verified,
        hooks.on_searched,
        Measurements.of_rows(source.own_rows(bound.context)),
    )
    chosen = {v.result.arch_id for v in result.verified}
    result.verified += [
        Verified(c, done[c.config.id]) for c, _ in early if c.config.id not in chosen
    ]
    return result, bound


def surrogate_quality(source: SurrogateSource, bound: BoundSurrogate) -> dict[str, Any]:
    """How well the job's surrogate ranks its own context: held out of a fit (with enough rows
    of the context), with the number of in-domain rows it was fitted on."""
    pooled, own = source.groups(bound.context)
    report: dict[str, Any] = {"in_domain_rows": bound.in_domain_rows, "context": bound.context.key}
    if own is not None:
        report["held_out"] = context_holdout(pooled, own)
        report["in_sample"] = quality(bound, own.encodings, own.targets)
    return report


def _report(future: Future, candidate: Candidate, on_verified) -> None:
    if not future.cancelled() and future.exception() is None:
        (first,) = future.result()
        on_verified(candidate, VerificationResult.from_dict(first))
