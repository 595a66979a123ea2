"""Collect surrogate training data: verify many architectures cheaply, one database row each.

Resumable and idempotent: rows are keyed by (task, chip, architecture, seed, budget); a rerun
verifies only what is not stored yet. The budget's hash covers its fidelity (training and test
subsets, epochs, chips), so rows of different fidelities never replace one another. Work goes
through any ``concurrent.futures.Executor``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import torch

from search.space import ArchConfig, SearchSpace
from search.tasks import Task, load_task
from search.training import TrainConfig
from search.verify import Budget, VerificationResult, verify_on_chips
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.store import SampleStore

CHEAP_BUDGET = Budget(
    train=TrainConfig(epochs=6, patience=3),
    mc_samples=8,
    times=(1.0, 86400.0, 2592000.0),
)


def collection_budget(
    train_examples: int | None = None,
    test_examples: int | None = None,
    epochs: int = CHEAP_BUDGET.train.epochs,
    mc_samples: int = CHEAP_BUDGET.mc_samples,
    post_training: bool = True,
) -> Budget:
    """The cheap collection budget at another fidelity, with or without post-training range
    optimisation (the defaults: ``CHEAP_BUDGET`` itself)."""
    return Budget.model_validate(
        {
            **CHEAP_BUDGET.model_dump(),
            "train": CHEAP_BUDGET.train.model_copy(update={"epochs": epochs}).model_dump(),
            "mc_samples": mc_samples,
            "train_examples": train_examples,
            "test_examples": test_examples,
            **({} if post_training else {"post_training": None}),
        }
    )


# The cheap fidelity of a built-in task's surrogate rows (the shipped data's) where it is not
# CHEAP_BUDGET's: on Fashion-MNIST's 54 000 training images six epochs would not be cheap.
TASK_COLLECTION: dict[str, dict[str, int]] = {
    "fashion-mnist": {"train_examples": 6000, "test_examples": 2000, "epochs": 3, "mc_samples": 2},
}


def task_collection_budget(
    task: str,
    train_examples: int | None = None,
    test_examples: int | None = None,
    epochs: int | None = None,
    mc_samples: int | None = None,
    post_training: bool = True,
) -> Budget:
    """The collection budget of ``task``: its cheap fidelity (``TASK_COLLECTION``, else
    ``CHEAP_BUDGET``'s), with the given values instead."""
    given = {
        "train_examples": train_examples,
        "test_examples": test_examples,
        "epochs": epochs,
        "mc_samples": mc_samples,
    }
    chosen = {**TASK_COLLECTION.get(task, {}), **{k: v for k, v in given.items() if v is not None}}
    return collection_budget(**chosen, post_training=post_training)


def budget_hash(budget: Budget) -> str:
    return hashlib.sha256(budget.model_dump_json().encode()).hexdigest()[:16]


def spread_sample(
    space: SearchSpace,
    n: int,
    rng: np.random.Generator,
    extractor: FeatureExtractor,
    max_tiles: int | None = None,
) -> list[ArchConfig]:
    """``n`` distinct architectures spread evenly over depth (macro-blocks M) and, within each
    depth, over log(parameters): each M gets an equal share of architectures drawn uniformly
    with that M among those that fit ``max_tiles`` tiles (under a tile budget deep networks
    are rare among random ones, but they are where good ones are), and each share is binned by
    size, one per bin. The depths take turns in the returned order."""
    pools = [
        _fitting(space.narrow(M=(m, m)), n, rng, extractor, max_tiles)
        for m in range(space.M[0], space.M[1] + 1)
    ]
    shares = _shares(n, [len(candidates) for candidates, _ in pools])
    if sum(shares) < n:
        raise ValueError(f"n: only {sum(shares)} distinct architectures found for {n}")
    strata = [
        [candidates[i] for i in _spread_over_size(sizes, share, rng)]
        for (candidates, sizes), share in zip(pools, shares, strict=True)
    ]
    # taken in turns, so that a collection stopped early is spread over depth too
    return [cfg for turn in itertools.zip_longest(*strata) for cfg in turn if cfg is not None]


def _fitting(
    space: SearchSpace,
    n: int,
    rng: np.random.Generator,
    extractor: FeatureExtractor,
    max_tiles: int | None,
) -> tuple[list[ArchConfig], np.ndarray]:
    """Up to ``n`` or more distinct architectures of ``space`` that fit ``max_tiles`` tiles,
    from at most ten rounds of ``30 n`` draws, and their log(parameters)."""
    drawn: set[ArchConfig] = set()
    for _ in range(10):
        drawn |= {space.sample(rng) for _ in range(30 * n)}
        candidates = sorted(drawn, key=lambda c: c.id)
        features = extractor.transform(SearchSpace.encode_many(candidates))
        if max_tiles is not None:
            fits = features[:, extractor.names.index("tiles")] <= max_tiles
            candidates = [c for c, ok in zip(candidates, fits, strict=True) if ok]
            features = features[fits]
        if len(candidates) >= n:
            break
    return candidates, features[:, extractor.names.index("log_params")]


def _shares(n: int, available: list[int]) -> list[int]:
    """``n`` split as evenly as possible over strata holding ``available`` members each."""
    shares = [0] * len(available)
    while sum(shares) < n:
        open_ = [i for i, a in enumerate(available) if shares[i] < a]
        for i in open_[: n - sum(shares)]:
            shares[i] += 1
    return shares


def _spread_over_size(sizes: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """``k`` indices into ``sizes``: one from each of ``k`` equal bins of size, the rest at
    random."""
    if k == 0:
        return []
    edges = np.linspace(sizes.min(), sizes.max() + 1e-9, k + 1)
    bins = np.digitize(sizes, edges) - 1
    chosen = [int(rng.choice(np.flatnonzero(bins == b))) for b in range(k) if (bins == b).any()]
    rest = rng.permutation(np.setdiff1d(np.arange(len(sizes)), chosen))
    return chosen + [int(i) for i in rest[: k - len(chosen)]]


def result_row(
    result: VerificationResult, budget: Budget, source: str = "collect"
) -> dict[str, Any]:
    """The database row of one verification."""
    cfg = ArchConfig.model_validate(result.arch)
    hw = HardwareConfig.model_validate(result.hardware)
    return {
        "task": result.task,
        "hardware_hash": hw.config_hash(),
        "hardware": result.hardware,
        "arch_id": result.arch_id,
        "arch": result.arch,
        "encoding": SearchSpace.encode(cfg).tolist(),
        "seed": budget.train.seed,
        "budget_hash": budget_hash(budget),
        "budget": budget.model_dump(mode="json"),
        "times": list(result.times),
        "accuracy_mean": list(result.accuracy_mean),
        "accuracy_std": list(result.accuracy_std),
        "accuracy_1d": result.accuracy_1d,
        "spread_1d": result.accuracy_at(86400.0)[1],
        "avm": result.avm,
        "digital_accuracy": result.digital_accuracy,
        "cost": result.cost,
        "source": source,
        "trained_on": result.trained_on,
    }


@cache
def _task(name: str, options: tuple[tuple[str, Any], ...]) -> Task:
    return load_task(name, **dict(options))


def verify_job(
    cfg_json: str,
    task_name: str,
    task_options: tuple,
    hw_json: str,
    budget_json: str,
    also_on: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """``verify`` as an executor job: JSON in, plain dicts out (with the weights), the task
    loaded once per worker process (picklable for process pools and Dask). The network trains
    for ``hw`` and is measured on it and on each chip of ``also_on``, in that order."""
    chips = [HardwareConfig.model_validate_json(text) for text in (hw_json, *also_on)]
    results = verify_on_chips(
        ArchConfig.from_json(cfg_json),
        _task(task_name, task_options),
        chips,
        Budget.model_validate_json(budget_json),
    )
    return [result.to_dict(with_weights=True) for result in results]


def submit_verification(
    executor: Executor,
    cfg: ArchConfig,
    task_name: str,
    task_options: dict[str, Any] | None,
    hw: HardwareConfig,
    budget: Budget,
    also_on: Sequence[HardwareConfig] = (),
) -> Future:
    """Schedule the verification of one architecture on ``hw`` (and, with the same training, on
    ``also_on``); the future's result is a list of ``VerificationResult.to_dict()``, ``hw``'s
    first."""
    options = tuple(sorted((task_options or {}).items()))
    return executor.submit(
        verify_job,
        cfg.to_json(),
        task_name,
        options,
        hw.model_dump_json(),
        budget.model_dump_json(),
        tuple(chip.model_dump_json() for chip in also_on),
    )


def worker_initializer() -> None:
    """One torch thread per worker process: the processes share the cores."""
    torch.set_num_threads(1)


def local_executor(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool of ``workers`` (default: one per core) single-threaded workers."""
    return ProcessPoolExecutor(
        max_workers=workers or max(1, torch.get_num_threads()), initializer=worker_initializer
    )


@dataclass
class CollectReport:
    added: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def collect(
    task_name: str,
    hw: HardwareConfig,
    space: SearchSpace,
    n: int,
    store: SampleStore,
    budget: Budget = CHEAP_BUDGET,
    seed: int = 0,
    max_tiles: int | None = None,
    task_options: dict[str, Any] | None = None,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    also_on: Sequence[HardwareConfig] = (),
) -> CollectReport:
    """Verify ``n`` spread-out architectures of ``space`` (drawn with ``seed``, fitting in
    ``max_tiles`` tiles of ``hw``) and store them; with ``also_on``, each network trained for
    ``hw`` is also measured on those chips (one row per chip)."""
    task = _task(task_name, tuple(sorted((task_options or {}).items())))
    extractor = FeatureExtractor(task.input_shape, task.num_classes, hw)
    configs = spread_sample(space, n, np.random.default_rng(seed), extractor, max_tiles)
    chips = [hw, *also_on]
    stored = [store.keys(task.name, chip.config_hash(), budget_hash(budget)) for chip in chips]
    key = lambda cfg: (cfg.id, budget.train.seed)  # noqa: E731
    todo = [cfg for cfg in configs if any(key(cfg) not in keys for keys in stored)]
    report = CollectReport(skipped=len(configs) - len(todo))
    own_executor = executor is None
    executor = executor or local_executor()
    try:
        futures = {
            submit_verification(executor, cfg, task_name, task_options, hw, budget, also_on): cfg
            for cfg in todo
        }
        for done, future in enumerate(as_completed(futures), 1):
            try:
                results = [VerificationResult.from_dict(r) for r in future.result()]
                report.added += sum(store.add(result_row(r, budget)) for r in results)
            except Exception as error:  # one failed architecture must not stop the collection
                report.failed.append(f"{futures[future].id}: {error}")
            if progress:
                progress(done, len(todo))
    finally:
        if own_executor:
            executor.shutdown(cancel_futures=True)
    return report
