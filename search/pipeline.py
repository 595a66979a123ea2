"""Search and verification: the evolutionary search scored by a surrogate, verification of a
diverse top-K in parallel, optional baselines (random search, ResNet-8). A job runs them after
preparing its surrogate (:mod:`search.job`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from search.baselines import RESNET8
from search.collect import result_row, submit_verification
from search.driver import (
    Candidate,
    Measurements,
    SearchConfig,
    SearchResult,
    TrialJournal,
    diverse_top_k,
    run_search,
)
from search.space import ArchConfig, SearchSpace
from search.verify import Budget, VerificationResult
from simulator import HardwareConfig
from surrogate.models import BoundSurrogate
from surrogate.store import SampleStore

TICK_SECONDS = 2.0  # longest silence of the progress callback while verifications run

# progress(phase, done, total, eta_seconds)
Progress = Callable[[str, int, int, float | None], None]


class PhaseClock:
    """Reports progress of one phase with an ETA from the pace so far."""

    def __init__(self, phase: str, progress: Progress | None) -> None:
        self.phase, self.progress, self.start = phase, progress, time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (total - done) if done else None
        self.progress(self.phase, done, total, eta)


@dataclass
class Verified:
    candidate: Candidate | None  # None for a baseline outside the search
    result: VerificationResult
    label: str = "search"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "candidate": self.candidate.to_dict() if self.candidate else None,
            "verified": self.result.to_dict(),
        }


@dataclass
class PipelineResult:
    search: SearchResult
    verified: list[Verified] = field(default_factory=list)
    baselines: dict[str, list[Verified]] = field(default_factory=dict)

    def best(self, label: str = "search") -> Verified | None:
        pool = self.verified if label == "search" else self.baselines.get(label, [])
        return max(pool, key=lambda v: v.result.accuracy_1d, default=None)


def verify_candidates(
    configs: list[ArchConfig],
    task_name: str,
    hw: HardwareConfig,
    budget: Budget,
    executor: Executor,
    store: SampleStore | None = None,
    source: str = "search",
    progress: Progress | None = None,
    phase: str = "verify",
    on_result: Callable[[int, VerificationResult], None] | None = None,
) -> list[VerificationResult]:
    """Verify architectures in parallel; results in the given order, stored as surrogate rows.
    ``on_result(index, result)`` sees each result as soon as it is there (to persist it)."""
    futures = {
        submit_verification(executor, cfg, task_name, None, hw, budget): i
        for i, cfg in enumerate(configs)
    }
    results: list[VerificationResult | None] = [None] * len(configs)
    for future in as_finished(futures, PhaseClock(phase, progress)):
        (first,) = future.result()
        result = VerificationResult.from_dict(first)
        results[futures[future]] = result
        if store is not None:
            store.add(result_row(result, budget, source))
        if on_result is not None:
            on_result(futures[future], result)
    return results


def as_finished(futures: Collection[Future], clock: PhaseClock) -> Iterator[Future]:
    """The futures as they finish, with the clock told how many are done every few seconds
    even when none finished (a runner's progress callback then renews its lease and notices a
    cancel without waiting for a whole training); the pending ones are cancelled when the
    caller stops early (an error, a cancel)."""
    pending, done = set(futures), 0
    try:
        clock(0, len(futures))
        while pending:
            finished, pending = wait(pending, timeout=TICK_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future
                done += 1
            clock(done, len(futures))
    finally:
        for future in pending:
            future.cancel()


def search_and_verify(
    task_name: str,
    hw: HardwareConfig,
    space: SearchSpace,
    surrogate: BoundSurrogate,
    config: SearchConfig,
    budget: Budget,
    top_k: int,
    executor: Executor,
    store: SampleStore | None = None,
    journal: TrialJournal | None = None,
    baselines: tuple[str, ...] = (),
    progress: Progress | None = None,
    done: dict[str, VerificationResult] | None = None,
    on_verified: Callable[[Candidate, VerificationResult], None] | None = None,
    on_searched: Callable[[SearchResult], None] | None = None,
    measurements: Measurements | None = None,
) -> PipelineResult:
    """Search, verify a diverse top-K of the feasible front, and the requested baselines
    (``random``: random search with the same trials and K; ``resnet8``). Architectures the
    surrogate's context has ``measurements`` of are ranked by them.

    Resuming: candidates in ``done`` (architecture id -> result) are not verified again;
    ``on_searched`` sees the search's result before verification starts, and ``on_verified``
    each new verification as soon as it is there.
    """
    done = done or {}
    result = run_search(
        space, surrogate, config, journal, PhaseClock("search", progress), measurements
    )
    if on_searched:
        on_searched(result)
    chosen = diverse_top_k(result.candidates, top_k, result.scorer)
    todo = [c for c in chosen if c.config.id not in done]
    fresh = verify_candidates(
        [c.config for c in todo],
        task_name,
        hw,
        budget,
        executor,
        store,
        "search",
        progress,
        on_result=(lambda i, r: on_verified(todo[i], r)) if on_verified else None,
    )
    outcome = {**done, **{c.config.id: r for c, r in zip(todo, fresh, strict=True)}}
    pipeline = PipelineResult(result, [Verified(c, outcome[c.config.id]) for c in chosen])
    if "random" in baselines:
        random_config = config.model_copy(update={"algorithm": "random"})
        random_result = run_search(
            space,
            surrogate,
            random_config,
            None,
            PhaseClock("random search", progress),
            measurements,
        )
        random_chosen = diverse_top_k(random_result.candidates, top_k, random_result.scorer)
        random_verified = verify_candidates(
            [c.config for c in random_chosen],
            task_name,
            hw,
            budget,
            executor,
            store,
            "random",
            progress,
            "verify random",
        )
        pipeline.baselines["random"] = [
            Verified(c, r, "random") for c, r in zip(random_chosen, random_verified, strict=True)
        ]
    if "resnet8" in baselines:
        reference = result.scorer.candidates([RESNET8], [-1])[0]
        if reference.feasible:
            (reference_result,) = verify_candidates(
                [RESNET8],
                task_name,
                hw,
                budget,
                executor,
                store,
                "resnet8",
                progress,
                "verify resnet8",
            )
            pipeline.baselines["resnet8"] = [Verified(reference, reference_result, "resnet8")]
        else:
            pipeline.baselines["resnet8"] = []
    return pipeline
