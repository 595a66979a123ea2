"""Re-scoring: a finished search's candidates on another chip, without retraining.

Each verified candidate's stored trained weights are programmed on the new chip: ranges optimised
again after training (post-training), drift Monte Carlo as in a verification (:func:`measure`),
in the executor's workers. The candidates that were only predicted are predicted again by the
pooled surrogate on the new chip (at the collection fidelity), which knows the chip by its
parameters even before it has rows of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import cache

from search.driver import Candidate, feature_costs
from search.fidelity import Fidelity
from search.pipeline import PhaseClock, Progress, as_finished
from search.space import ArchConfig, SearchSpace
from search.surrogates import SurrogateSource
from search.tasks import Task, load_task
from search.verify import Budget, VerificationResult, measure, restore_trained
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.models import BoundSurrogate

cached_task = cache(load_task)  # once per worker process


@dataclass(frozen=True)
class StoredCandidate:
    """A verified candidate as a job stored it."""

    cfg: ArchConfig
    weights: bytes  # state dict of its analog model on ``saved_on``
    saved_on: HardwareConfig  # the chip it was measured on
    trained_on: HardwareConfig  # the chip it was trained for
    epochs: int


@dataclass(frozen=True)
class FrontPrediction:
    """Whether the unverified candidates were predicted again on the new chip, and why not."""

    predicted: bool
    surrogate: str | None  # the surrogate's context
    note: str


def rescore_job(
    cfg_json: str,
    task_name: str,
    weights: bytes,
    saved_on_json: str,
    trained_on_json: str,
    epochs: int,
    hw_json: str,
    budget_json: str,
) -> dict:
    """One re-scoring as an executor job: JSON in, ``VerificationResult.to_dict`` out (with the
    weights); picklable for process pools and Dask."""
    budget = Budget.model_validate_json(budget_json)
    trained = restore_trained(
        ArchConfig.from_json(cfg_json),
        cached_task(task_name),
        weights,
        HardwareConfig.model_validate_json(saved_on_json),
        HardwareConfig.model_validate_json(trained_on_json),
        budget,
        epochs,
    )
    hw = HardwareConfig.model_validate_json(hw_json)
    return measure(trained, hw, budget).to_dict(with_weights=True)


def _submit(
    executor: Executor, stored: StoredCandidate, task_name: str, hw: HardwareConfig, budget: Budget
) -> Future:
    return executor.submit(
        rescore_job,
        stored.cfg.to_json(),
        task_name,
        stored.weights,
        stored.saved_on.model_dump_json(),
        stored.trained_on.model_dump_json(),
        stored.epochs,
        hw.model_dump_json(),
        budget.model_dump_json(),
    )


def rescore_candidates(
    candidates: Sequence[StoredCandidate],
    task_name: str,
    hw: HardwareConfig,
    budget: Budget,
    executor: Executor,
    progress: Progress | None = None,
    on_result: Callable[[int, VerificationResult], None] | None = None,
) -> list[VerificationResult]:
    """Measure stored candidates on ``hw`` in parallel (with the budget of their verification:
    the same seeds give the same figures on the same chip); results in the given order,
    ``on_result(index, result)`` as each is there."""
    futures = {_submit(executor, c, task_name, hw, budget): i for i, c in enumerate(candidates)}
    results: list[VerificationResult | None] = [None] * len(candidates)
    for future in as_finished(futures, PhaseClock("rescore", progress)):
        result = VerificationResult.from_dict(future.result())
        results[futures[future]] = result
        if on_result is not None:
            on_result(futures[future], result)
    return results


def front_surrogate(
    source: SurrogateSource, task: Task, hw: HardwareConfig, fidelity: Fidelity
) -> tuple[BoundSurrogate, FrontPrediction]:
    """The surrogate that predicts the front on ``hw`` (the pooled model fitted for the task's
    context on that chip: with rows of the chip, or transferred from the chips it knows) and
    what to tell the user about it."""
    bound = source.fitted(source.context(task, hw, fidelity))
    rows = bound.in_domain_rows
    known = (
        f"{rows} rows of this chip"
        if rows
        else "no row of this chip yet: transferred from the chips and tasks it knows"
    )
    return bound, FrontPrediction(
        True,
        bound.context.key,
        f"Unverified candidates predicted again by the pooled surrogate ({known})",
    )


def on_chip(
    configs: Sequence[ArchConfig],
    task: Task,
    hw: HardwareConfig,
    surrogate: BoundSurrogate | None,
) -> list[Candidate]:
    """The candidates with their cost on ``hw`` and, with a surrogate of ``hw``, its
    predictions (none without)."""
    if not configs:
        return []
    encodings = SearchSpace.encode_many(list(configs))
    extractor = FeatureExtractor(task.input_shape, task.num_classes, hw)
    costs = feature_costs(extractor, encodings)
    predicted = surrogate.predict(encodings) if surrogate is not None else {}
    return [
        Candidate(
            cfg,
            {name: float(values[i]) for name, values in predicted.items()},
            {name: float(values[i]) for name, values in costs.items()},
            {},
            -1,
        )
        for i, cfg in enumerate(configs)
    ]
