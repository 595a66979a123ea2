"""Fit surrogates from stored samples and measure them on held-out architectures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulator import HardwareConfig
from surrogate.metrics import kendall_tau, ranking_report
from surrogate.models import TARGETS, Surrogate, SurrogateParams
from surrogate.store import SampleStore, read_jsonl

MODELS_DIR = Path(__file__).parent / "models"
DATA_DIR = Path(__file__).parent / "data"
MIN_HOLDOUT_ROWS = 40


def arrays(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Encodings ``[N, 22]`` and target vectors of stored rows (seeds averaged per architecture)."""
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_arch.setdefault(row["arch_id"], []).append(row)
    groups = list(by_arch.values())
    encodings = np.asarray([group[0]["encoding"] for group in groups], dtype=np.float64)
    targets = {
        name: np.asarray([np.mean([r[name] for r in group]) for group in groups])
        for name in TARGETS
    }
    return encodings, targets


def holdout_report(
    rows: Sequence[dict[str, Any]],
    input_shape: Sequence[int],
    num_classes: int,
    hw: HardwareConfig,
    fraction: float = 0.25,
    seed: int = 0,
    params: SurrogateParams | None = None,
) -> dict[str, Any]:
    """Fit on a seeded split, report ranking metrics on the held-out part, beside the Kendall
    tau of a trivial predictor (parameter count) on the same split."""
    encodings, targets = arrays(rows)
    order = np.random.default_rng(seed).permutation(len(encodings))
    n_test = max(2, round(fraction * len(encodings)))
    test, train = order[:n_test], order[n_test:]
    surrogate = Surrogate(
        "holdout", tuple(input_shape), num_classes, hw, params or SurrogateParams()
    )
    surrogate.fit(encodings[train], {k: v[train] for k, v in targets.items()})
    predicted = surrogate.predict(encodings[test])
    truth = targets["accuracy_1d"][test]
    log_params = surrogate.extractor.transform(encodings[test])[
        :, surrogate.extractor.names.index("log_params")
    ]
    return {
        "train": len(train),
        "test": len(test),
        "accuracy_1d": ranking_report(truth, predicted["accuracy_1d"]),
        "rank_score": ranking_report(truth, predicted["rank_score"]),
        "params_baseline_kendall_tau": kendall_tau(truth, log_params),
        "accuracy_1d_mae": float(np.mean(np.abs(truth - predicted["accuracy_1d"]))),
        "avm_kendall_tau": kendall_tau(targets["avm"][test], predicted["avm"]),
        "spread_1d_kendall_tau": kendall_tau(targets["spread_1d"][test], predicted["spread_1d"]),
    }


def fit_surrogate(
    rows: Sequence[dict[str, Any]],
    task: str,
    input_shape: Sequence[int],
    num_classes: int,
    hw: HardwareConfig,
    params: SurrogateParams | None = None,
    holdout_seed: int = 0,
) -> Surrogate:
    """A surrogate fitted on all ``rows``; its metadata holds the held-out report of a split
    (None with fewer than ``MIN_HOLDOUT_ROWS`` architectures: too few to judge)."""
    encodings, targets = arrays(rows)
    report = None
    if len(encodings) >= MIN_HOLDOUT_ROWS:
        report = holdout_report(
            rows, input_shape, num_classes, hw, seed=holdout_seed, params=params
        )
    surrogate = Surrogate(task, tuple(input_shape), num_classes, hw, params or SurrogateParams())
    surrogate.fit(encodings, targets)
    surrogate.metadata["holdout"] = report
    return surrogate


def known_rows(store: SampleStore, task: str, hw: HardwareConfig) -> list[dict[str, Any]]:
    """Every row known for a task on a chip: the database's (collected and job-verified) and
    those of the data shipped for this chip, if any, that the database does not hold. Of every
    fidelity: the caller picks the rows of one."""
    rows = store.rows(task, hw.config_hash())
    shipped = DATA_DIR / f"{task}-{hw.config_hash()}.jsonl"
    if shipped.is_file():
        stored = {(r["arch_id"], r["seed"], r["budget_hash"]) for r in rows}
        rows += [
            r
            for r in read_jsonl(shipped)
            if (r["arch_id"], r["seed"], r["budget_hash"]) not in stored
        ]
    return rows


def shipped_surrogate(task: str, hw: HardwareConfig) -> Surrogate | None:
    """The surrogate shipped with the package for this task and chip, if there is one."""
    path = MODELS_DIR / f"{task}-{hw.config_hash()}.json"
    return Surrogate.load(path, task, hw) if path.is_file() else None
