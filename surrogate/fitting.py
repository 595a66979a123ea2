"""Rows to groups, pooled fits with in-domain weights, and held-out quality of one context."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.context import Context
from surrogate.features import full_encodings
from surrogate.metrics import kendall_tau, kendall_tau_top, ranking_report
from surrogate.models import TARGETS, Group, Surrogate, SurrogateParams, feature_names, features
from surrogate.store import read_rows

MODELS_DIR = Path(__file__).parent / "models"
DATA_DIR = Path(__file__).parent / "data"
SHIPPED_MODEL = MODELS_DIR / "pooled.json"
MIN_HOLDOUT_ROWS = 20


def arrays(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Encodings ``[N, 25]`` (rows stored with 22 values read as dense) and target vectors of
    stored rows (seeds averaged per architecture)."""
    by_arch: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_arch.setdefault(row["arch_id"], []).append(row)
    groups = list(by_arch.values())
    encodings = full_encodings([group[0]["encoding"] for group in groups])
    targets = {
        name: np.asarray([np.mean([r[name] for r in group]) for group in groups])
        for name in TARGETS
    }
    return encodings, targets


def group(context: Context, rows: Sequence[dict[str, Any]], weight: float = 1.0) -> Group:
    """The rows of one context as a group (seeds averaged per architecture)."""
    encodings, targets = arrays(rows)
    return Group(context, encodings, targets, weight)


def in_domain_weight(pooled: Sequence[Group], in_domain_rows: int) -> float:
    """Row weight of a job's own rows: together as much as an average pooled context, and never
    less than a pooled row (so a few new rows are heard among thousands)."""
    if not pooled or in_domain_rows == 0:
        return 1.0
    average = np.mean([len(g.encodings) for g in pooled])
    return float(max(1.0, average / in_domain_rows))


def fit_pooled(
    pooled: Sequence[Group], own: Group | None = None, params: SurrogateParams | None = None
) -> Surrogate:
    """A surrogate fitted on pooled groups and, weighted as in-domain, the ``own`` group."""
    groups = list(pooled)
    if own is not None and len(own.encodings):
        own.weight = in_domain_weight(pooled, len(own.encodings))
        groups.append(own)
    return Surrogate(params or SurrogateParams()).fit(groups)


def context_holdout(
    pooled: Sequence[Group],
    own: Group,
    fraction: float = 0.25,
    seed: int = 0,
    params: SurrogateParams | None = None,
) -> dict[str, Any] | None:
    """Quality on held-out architectures of one context: fit on the rest of ``own`` (in-domain)
    and the pooled groups without the held-out architectures (on no chip, in no task), report
    ranking metrics on the held-out part beside the Kendall tau of a trivial predictor
    (parameter count). None with fewer than ``MIN_HOLDOUT_ROWS`` architectures."""
    n = len(own.encodings)
    if n < MIN_HOLDOUT_ROWS:
        return None
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(2, round(fraction * n))
    test, train = order[:n_test], order[n_test:]
    held_out = {tuple(e) for e in own.encodings[test]}
    rest = [without(g, held_out) for g in [*pooled, subset(own, train)]]
    bound = fit_pooled(rest[:-1], rest[-1], params).bind(own.context)
    return quality(bound, own.encodings[test], {k: v[test] for k, v in own.targets.items()})


def subset(g: Group, index: np.ndarray) -> Group:
    """The rows ``index`` of a group."""
    return Group(
        g.context, g.encodings[index], {k: v[index] for k, v in g.targets.items()}, g.weight
    )


def without(g: Group, encodings: set[tuple[float, ...]]) -> Group:
    """A group without the rows of the given architectures."""
    keep = np.asarray([tuple(e) not in encodings for e in g.encodings], dtype=bool)
    return subset(g, np.flatnonzero(keep))


def quality(bound, encodings: np.ndarray, targets: dict[str, np.ndarray]) -> dict[str, Any]:
    """How a bound surrogate ranks measured architectures: Kendall tau overall and among the
    better half, Spearman, top-k recall, mean absolute error, and parameter count's tau."""
    predicted = bound.predict(encodings)
    truth = np.asarray(targets["accuracy_1d"])
    names = feature_names(bound.context)
    log_params = features(bound.context, encodings)[:, names.index("log_params")]
    return {
        "n": len(truth),
        "accuracy_1d": ranking_report(truth, predicted["accuracy_1d"]),
        "kendall_tau_better_half": kendall_tau_top(truth, predicted["accuracy_1d"]),
        "params_baseline_kendall_tau": kendall_tau(truth, log_params),
        "params_baseline_better_half": kendall_tau_top(truth, log_params),
        "accuracy_1d_mae": float(np.mean(np.abs(truth - predicted["accuracy_1d"]))),
        "avm_kendall_tau": kendall_tau(targets["avm"], predicted["avm"]),
    }


@cache
def shipped_rows() -> tuple[dict[str, Any], ...]:
    """Every row of the data shipped with the package (all tasks, chips and fidelities)."""
    return tuple(read_rows([DATA_DIR]))


def shipped_surrogate() -> Surrogate | None:
    """The pooled surrogate shipped with the package, if there is one."""
    return Surrogate.load(SHIPPED_MODEL) if SHIPPED_MODEL.is_file() else None
