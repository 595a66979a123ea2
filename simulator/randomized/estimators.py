"""Randomized trace and norm estimators: only products A @ Omega, on the operator.

- Hutchinson: tr(A) ~ (1/k) sum_i w_i^T A w_i with Rademacher probes w_i; the std of the estimate
  is sqrt(2 (||A||_F^2 - sum_i A_ii^2) / k) for symmetric A.
- Frobenius norm: ||A||_F^2 = E ||A w||^2 for Gaussian w; (1/k) sum_i ||A w_i||^2 has a relative
  std of about sqrt(2 / k) (less when the spectrum is flat).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from simulator.randomized.accounting import AlgorithmCost
from simulator.randomized.draws import PROBES, gaussian, rademacher
from simulator.randomized.operators import MatrixOperator


@dataclass(frozen=True)
class Estimate:
    """An estimate per chip ``[S]``; ``errors["relative_error"]``: |estimate - exact| / |exact|."""

    value: Tensor
    errors: dict[str, Tensor]
    cost: AlgorithmCost


def _check_probes(n_probes: int) -> None:
    if n_probes < 1:
        raise ValueError(f"n_probes: must be at least 1, got {n_probes}")


def hutchinson_trace(op: MatrixOperator, n_probes: int, seed: int | None = 0) -> Estimate:
    """The trace of a square A from ``n_probes`` Rademacher probes per chip."""
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"op: the trace needs a square matrix, got {op.shape[0]}x{op.shape[1]}")
    _check_probes(n_probes)
    start = op.counts.copy()
    probes = rademacher((op.n_instances, op.shape[1], n_probes), seed, PROBES, op.device)
    value = (probes * op.matmul(probes)).sum((-2, -1)) / n_probes
    cost = AlgorithmCost.of(op.counts - start, op.tiles, 2 * op.shape[0] * n_probes)
    exact = torch.trace(op.matrix.double())
    return Estimate(value, {"relative_error": (value - exact).abs() / exact.abs()}, cost)


def frobenius_norm_estimate(op: MatrixOperator, n_probes: int, seed: int | None = 0) -> Estimate:
    """||A||_F from ``n_probes`` Gaussian probes per chip."""
    _check_probes(n_probes)
    start = op.counts.copy()
    probes = gaussian((op.n_instances, op.shape[1], n_probes), seed, PROBES, op.device)
    value = (op.matmul(probes).square().sum((-2, -1)) / n_probes).sqrt()
    cost = AlgorithmCost.of(op.counts - start, op.tiles, 2 * op.shape[0] * n_probes)
    exact = torch.linalg.matrix_norm(op.matrix.double())
    return Estimate(value, {"relative_error": (value - exact).abs() / exact}, cost)
