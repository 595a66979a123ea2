"""Sketched least squares, min_x ||A x - b||, with the random sketching matrix on the tiles.

The Gaussian sketch G (s x m, entries N(0, 1/s)) is programmed and the columns of [A b] stream
through it (the random-on-tiles arrangement): programming noise and drift only change which random
matrix was drawn, while the output noise and the converters add fresh errors at each read.

- :func:`sketch_and_solve`: x = argmin ||G A x - G b|| (QR in digital); a Gaussian sketch of
  s >= n rows gives E ||A x - b||^2 = (1 + n / (s - n - 1)) ||A x* - b||^2.
- :func:`sketch_preconditioned_lstsq` (Blendenpik, LSRN): R from the QR of G A, then CGLS on
  A R^-1 in digital until the normal-equation residual is below ``tolerance``; the sketch only
  decides how many iterations it takes (kappa(A R^-1) <= (1 + sqrt(n/s)) / (1 - sqrt(n/s)) for an
  exact Gaussian sketch), not the accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from simulator.config import HardwareConfig
from simulator.device import default_device
from simulator.randomized.accounting import (
    AlgorithmCost,
    matmul_flops,
    qr_flops,
    triangular_solve_flops,
)
from simulator.randomized.draws import SKETCH, gaussian
from simulator.randomized.operators import AnalogMatrix, DigitalMatrix, MatrixOperator


@dataclass(frozen=True)
class LeastSquaresResult:
    """Solutions ``[S, n]`` per chip, errors against the exact solution x* (each ``[S]``):
    ``residual_ratio`` ||A x - b|| / ||A x* - b||, ``relative_solution_error`` ||x - x*|| / ||x*||,
    and for the preconditioned solver ``iterations`` and ``condition_number`` kappa(A R^-1)."""

    solution: Tensor
    errors: dict[str, Tensor]
    cost: AlgorithmCost


def gaussian_sketch(
    sketch_size: int,
    rows: int,
    hw: HardwareConfig | None = None,
    n_instances: int = 1,
    seed: int | None = 0,
    device: torch.device | str | None = None,
) -> MatrixOperator:
    """A ``sketch_size`` x ``rows`` Gaussian sketch (entries N(0, 1/sketch_size)) drawn from
    ``seed``: programmed on ``n_instances`` chips of ``hw`` (programming noise from ``seed``), or
    exact in digital when ``hw`` is None. On ``device`` (default: :func:`default_device`)."""
    if sketch_size < 1:
        raise ValueError(f"sketch_size: must be at least 1, got {sketch_size}")
    if rows < 1:
        raise ValueError(f"rows: must be at least 1, got {rows}")
    device = default_device() if device is None else torch.device(device)
    matrix = gaussian((sketch_size, rows), seed, SKETCH, device) / math.sqrt(sketch_size)
    if hw is None:
        return DigitalMatrix(matrix, n_instances)
    return AnalogMatrix(matrix, hw, n_instances, seed)


def _check_problem(matrix: Tensor, rhs: Tensor, sketch: MatrixOperator) -> None:
    if matrix.dim() != 2 or matrix.shape[0] < matrix.shape[1]:
        raise ValueError(f"matrix: expected a tall matrix (m >= n), got {tuple(matrix.shape)}")
    if rhs.shape != matrix.shape[:1]:
        raise ValueError(f"rhs: expected a vector of {matrix.shape[0]}, got {tuple(rhs.shape)}")
    if sketch.shape[1] != matrix.shape[0] or sketch.shape[0] < matrix.shape[1]:
        raise ValueError(
            f"sketch: must be s x {matrix.shape[0]} with s >= {matrix.shape[1]}, got "
            f"{sketch.shape[0]} x {sketch.shape[1]}"
        )


def sketch_and_solve(matrix: Tensor, rhs: Tensor, sketch: MatrixOperator) -> LeastSquaresResult:
    """x = argmin ||G (A x - b)||, the sketch G A and G b computed by ``sketch``."""
    _check_problem(matrix, rhs, sketch)
    start = sketch.counts.copy()
    sketched = sketch.matmul(torch.cat([matrix, rhs[:, None]], 1).double())  # [S, s, n + 1]
    q, r = torch.linalg.qr(sketched[..., :-1])
    solution = torch.linalg.solve_triangular(r, q.mT @ sketched[..., -1:], upper=True)[..., 0]
    s, n = sketched.shape[1], matrix.shape[1]
    flops = qr_flops(s, n) + matmul_flops(n, s, 1) + triangular_solve_flops(n)
    cost = AlgorithmCost.of(sketch.counts - start, sketch.tiles, flops)
    return LeastSquaresResult(solution, solution_errors(matrix, rhs, solution), cost)


def sketch_preconditioned_lstsq(
    matrix: Tensor,
    rhs: Tensor,
    sketch: MatrixOperator,
    tolerance: float = 1e-10,
    max_iterations: int = 200,
) -> LeastSquaresResult:
    """x* to ``tolerance`` by CGLS on A R^-1 (R from the QR of the sketch G A), all iterations
    in digital. Stops per chip when ||(A R^-1)^T r|| <= tolerance * ||r|| or
    ||r|| <= tolerance * ||b||."""
    _check_problem(matrix, rhs, sketch)
    if max_iterations < 1:
        raise ValueError(f"max_iterations: must be >= 1, got {max_iterations}")
    start = sketch.counts.copy()
    a, b = matrix.double(), rhs.double()
    r_factor = torch.linalg.qr(sketch.matmul(a), mode="r").R  # [S, n, n]

    def precondition(v: Tensor) -> Tensor:  # R^-1 v
        return torch.linalg.solve_triangular(r_factor, v[..., None], upper=True)[..., 0]

    def adjoint(v: Tensor) -> Tensor:  # R^-T A^T v
        return torch.linalg.solve_triangular(r_factor.mT, (v @ a)[..., None], upper=False)[..., 0]

    instances, (m, n) = r_factor.shape[0], matrix.shape
    y = a.new_zeros(instances, n)
    residual = b.expand(instances, m).clone()
    gradient = adjoint(residual)
    direction = gradient.clone()
    gamma = (gradient * gradient).sum(-1)
    iterations = torch.zeros(instances, dtype=torch.long, device=a.device)
    for _ in range(max_iterations):
        residual_norm = residual.norm(dim=-1)
        running = gamma.sqrt() > tolerance * residual_norm
        running &= residual_norm > tolerance * b.norm()
        if not running.any():
            break
        iterations += running
        image = precondition(direction) @ a.T
        alpha = torch.where(running, gamma / (image * image).sum(-1), 0.0)
        y += alpha[:, None] * direction
        residual -= alpha[:, None] * image
        gradient = adjoint(residual)
        gamma_next = (gradient * gradient).sum(-1)
        direction = gradient + torch.where(running, gamma_next / gamma, 0.0)[:, None] * direction
        gamma = torch.where(running, gamma_next, gamma)
    solution = precondition(y)
    steps = int(iterations.max())  # cost per chip: the slowest chip's iterations
    per_step = 2 * matmul_flops(m, n, 1) + 2 * triangular_solve_flops(n) + 4 * m + 6 * n
    flops = (
        qr_flops(sketch.shape[0], n, with_q=False)
        + matmul_flops(n, m, 1)
        + 2 * triangular_solve_flops(n)
        + steps * per_step
    )
    cost = AlgorithmCost.of(sketch.counts - start, sketch.tiles, flops)
    errors = solution_errors(matrix, rhs, solution)
    errors["iterations"] = iterations
    errors["condition_number"] = torch.linalg.cond(
        torch.linalg.solve_triangular(r_factor, a.expand(instances, m, n), upper=True, left=False)
    )
    return LeastSquaresResult(solution, errors, cost)


def solution_errors(matrix: Tensor, rhs: Tensor, solution: Tensor) -> dict[str, Tensor]:
    """``residual_ratio`` and ``relative_solution_error`` of ``solution`` ``[S, n]`` against the
    exact least-squares solution (float64); the ratio is infinite when b is in the range of A."""
    a, b = matrix.double(), rhs.double()
    exact = torch.linalg.lstsq(a, b[:, None]).solution[:, 0]
    optimal = (a @ exact - b).norm()
    return {
        "residual_ratio": (solution @ a.T - b).norm(dim=-1) / optimal,
        "relative_solution_error": (solution - exact).norm(dim=-1) / exact.norm(),
    }
