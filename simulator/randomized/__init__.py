"""Randomized numerical linear algebra on crossbar tiles (issue 17; Halko, Martinsson & Tropp
2011; Rahimi & Recht 2007): the O(mn) products on the array, the small factorisations digital.

Two arrangements: the data matrix programmed and random probes streamed through it (forward and
transposed reads: :class:`AnalogMatrix`, :func:`range_finder`, :func:`randomized_svd`,
:func:`hutchinson_trace`, :func:`frobenius_norm_estimate`), or a random matrix programmed and the
data streamed through it (:func:`gaussian_sketch` for least squares, :class:`RandomFeatures`).
Every algorithm also runs on a :class:`DigitalMatrix` (the exact reference, same code, same
probes for the same seed) and reports its errors against exact digital linear algebra and its
cost on one chip (:class:`AlgorithmCost`).

Example::

    op = AnalogMatrix(weights, HardwareConfig.preset("pcm"), n_instances=8).drift(86400.0)
    svd = randomized_svd(op, rank=16, oversampling=10, power_iterations=1)
    svd.errors["spectral_to_optimal"], svd.cost.energy_nj
"""

from simulator.randomized.accounting import AlgorithmCost, ProductCounts
from simulator.randomized.estimators import Estimate, frobenius_norm_estimate, hutchinson_trace
from simulator.randomized.features import KernelApproximation, RandomFeatures, kernel_approximation
from simulator.randomized.least_squares import (
    LeastSquaresResult,
    gaussian_sketch,
    sketch_and_solve,
    sketch_preconditioned_lstsq,
)
from simulator.randomized.low_rank import (
    RangeFinderResult,
    SVDResult,
    approximation_errors,
    randomized_svd,
    range_finder,
)
from simulator.randomized.operators import AnalogMatrix, DigitalMatrix, MatrixOperator

__all__ = [
    "AlgorithmCost",
    "AnalogMatrix",
    "DigitalMatrix",
    "Estimate",
    "KernelApproximation",
    "LeastSquaresResult",
    "MatrixOperator",
    "ProductCounts",
    "RandomFeatures",
    "RangeFinderResult",
    "SVDResult",
    "approximation_errors",
    "frobenius_norm_estimate",
    "gaussian_sketch",
    "hutchinson_trace",
    "kernel_approximation",
    "randomized_svd",
    "range_finder",
    "sketch_and_solve",
    "sketch_preconditioned_lstsq",
]
