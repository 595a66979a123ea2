"""Randomized range finder and randomized SVD (Halko, Martinsson & Tropp, SIAM Review 2011).

The products with A run on the operator (on the array for an :class:`AnalogMatrix`: A @ X forward,
A.T @ Y transposed); orthonormalisation, the small SVD and the reports run in digital, float64.
Gaussian probes are drawn per chip from the ``randomized-probes`` stream of ``seed``, so the same
seed gives an analog and a digital operator the same probes (a paired comparison).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from simulator.randomized.accounting import AlgorithmCost, matmul_flops, qr_flops, svd_flops
from simulator.randomized.draws import PROBES, gaussian
from simulator.randomized.operators import MatrixOperator


@dataclass(frozen=True)
class RangeFinderResult:
    """An orthonormal basis ``[S, m, rank + oversampling]`` of the sampled range, per chip."""

    basis: Tensor
    errors: dict[str, Tensor]  # each [S], of A - Q Q^T A (see :func:`approximation_errors`)
    cost: AlgorithmCost


@dataclass(frozen=True)
class SVDResult:
    """Rank-``k`` factors per chip: A ~ U diag(singular_values) V^T."""

    u: Tensor  # [S, m, k]
    singular_values: Tensor  # [S, k]
    v: Tensor  # [S, n, k]
    errors: dict[str, Tensor]  # each [S]; also "singular_values": max_i |s_i - sigma_i| / sigma_1
    cost: AlgorithmCost

    @property
    def approximation(self) -> Tensor:
        return (self.u * self.singular_values.unsqueeze(-2)) @ self.v.mT


def _check_sizes(op: MatrixOperator, rank: int, oversampling: int, power_iterations: int) -> int:
    """The number of probes, ``rank + oversampling``, after checking the arguments."""
    limit = min(op.shape)
    if not 1 <= rank <= limit:
        raise ValueError(f"rank: must be in 1..{limit} for a {op.shape[0]}x{op.shape[1]} matrix")
    if oversampling < 0 or rank + oversampling > limit:
        raise ValueError(
            f"oversampling: must be >= 0 with rank + oversampling <= {limit}, got {oversampling}"
        )
    if power_iterations < 0:
        raise ValueError(f"power_iterations: must be >= 0, got {power_iterations}")
    return rank + oversampling


def _orthonormal(y: Tensor) -> Tensor:
    return torch.linalg.qr(y.double()).Q


def _sampled_basis(
    op: MatrixOperator, probes: int, power_iterations: int, seed: int | None
) -> tuple[Tensor, int]:
    """Q of the range of (A A^T)^q A Omega (HMT algorithms 4.3 and 4.4), and its digital flops."""
    m, n = op.shape
    omega = gaussian((op.n_instances, n, probes), seed, PROBES, op.device)
    basis = _orthonormal(op.matmul(omega))
    for _ in range(power_iterations):
        basis = _orthonormal(op.matmul(_orthonormal(op.rmatmul(basis))))
    flops = (power_iterations + 1) * qr_flops(m, probes) + power_iterations * qr_flops(n, probes)
    return basis, flops


def range_finder(
    op: MatrixOperator,
    rank: int,
    oversampling: int = 10,
    power_iterations: int = 0,
    seed: int | None = 0,
) -> RangeFinderResult:
    """An orthonormal basis Q of ``rank + oversampling`` columns with A ~ Q Q^T A."""
    probes = _check_sizes(op, rank, oversampling, power_iterations)
    start = op.counts.copy()
    basis, flops = _sampled_basis(op, probes, power_iterations, seed)
    cost = AlgorithmCost.of(op.counts - start, op.tiles, flops)
    reference = op.matrix.double()
    errors = approximation_errors(reference, basis @ (basis.mT @ reference), rank)
    return RangeFinderResult(basis, errors, cost)


def randomized_svd(
    op: MatrixOperator,
    rank: int,
    oversampling: int = 10,
    power_iterations: int = 1,
    seed: int | None = 0,
) -> SVDResult:
    """The top ``rank`` singular triplets: range finder, B = Q^T A (a transposed product), the
    SVD of the small B in digital."""
    probes = _check_sizes(op, rank, oversampling, power_iterations)
    start = op.counts.copy()
    basis, flops = _sampled_basis(op, probes, power_iterations, seed)
    small_u, values, small_vh = torch.linalg.svd(op.rmatmul(basis).mT, full_matrices=False)
    u = basis @ small_u[..., :rank]
    m, n = op.shape
    flops += svd_flops(probes, n) + matmul_flops(m, probes, rank)
    cost = AlgorithmCost.of(op.counts - start, op.tiles, flops)
    result = SVDResult(u, values[..., :rank], small_vh[..., :rank, :].mT, {}, cost)
    reference = op.matrix.double()
    exact = torch.linalg.svdvals(reference)
    result.errors.update(approximation_errors(reference, result.approximation, rank))
    result.errors["singular_values"] = (result.singular_values - exact[:rank]).abs().amax(
        -1
    ) / exact[0]
    return result


def approximation_errors(matrix: Tensor, approximation: Tensor, rank: int) -> dict[str, Tensor]:
    """Errors of ``approximation`` ``[S, m, n]`` of ``matrix``, per chip: relative to A
    (``relative_spectral``, ``relative_frobenius``) and to the best rank-``rank`` approximation
    (``spectral_to_optimal`` = ||A - approx||_2 / sigma_{k+1}, ``frobenius_to_optimal``: over
    (sum_{j>k} sigma_j^2)^(1/2); infinite when A has rank ``rank`` or less)."""
    sigma = torch.linalg.svdvals(matrix)
    residual = matrix - approximation
    spectral = torch.linalg.matrix_norm(residual, ord=2)
    frobenius = torch.linalg.matrix_norm(residual)
    tail = sigma[rank:]
    optimal_spectral = tail[0] if len(tail) else sigma.new_zeros(())
    return {
        "relative_spectral": spectral / sigma[0],
        "relative_frobenius": frobenius / sigma.norm(),
        "spectral_to_optimal": spectral / optimal_spectral,
        "frobenius_to_optimal": frobenius / tail.norm(),
    }
