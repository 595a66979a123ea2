"""Ranking metrics of a surrogate on held-out architectures."""

from __future__ import annotations

import numpy as np
from scipy import stats


def kendall_tau(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(stats.kendalltau(y_true, y_pred).statistic)


def spearman_rho(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(stats.spearmanr(y_true, y_pred).statistic)


def top_k_recall(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Fraction of the truly best ``k`` found among the predicted best ``k``."""
    k = min(k, len(y_true))
    best = set(np.argsort(-np.asarray(y_true), kind="stable")[:k])
    predicted = set(np.argsort(-np.asarray(y_pred), kind="stable")[:k])
    return len(best & predicted) / k if k else 0.0


def ranking_report(y_true: np.ndarray, y_pred: np.ndarray, k: int = 10) -> dict[str, float]:
    return {
        "kendall_tau": kendall_tau(y_true, y_pred),
        "spearman_rho": spearman_rho(y_true, y_pred),
        f"top{k}_recall": top_k_recall(y_true, y_pred, k),
        "n": len(y_true),
    }


def kendall_tau_top(y_true: np.ndarray, y_pred: np.ndarray, fraction: float = 0.5) -> float:
    """Kendall tau among the architectures whose true value is in the best ``fraction`` (the
    better half by default): how well the fine order is predicted where a search chooses."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    k = max(2, round(fraction * len(y_true)))
    best = np.argsort(-y_true, kind="stable")[:k]
    return kendall_tau(y_true[best], y_pred[best])
