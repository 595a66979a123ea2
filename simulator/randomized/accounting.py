"""What a randomized algorithm costs on one chip: analog products, digital flops, energy, latency.

The matrix operators count their products (:class:`ProductCounts`); each algorithm adds the flops
of its digital steps (QR, small SVD, triangular solves, ...) from the formulas below (LAPACK /
Golub & Van Loan leading terms). Energy: :data:`~simulator.cost.ENERGY_PER_MAC_J` per analog
multiply-accumulate, :data:`~simulator.cost.DIGITAL_ENERGY_PER_FLOP_J` per digital flop. Latency:
the analog MVMs one input vector after another (the tiles of a matrix in parallel), as
:func:`simulator.cost.cost` counts it; digital steps are not timed (their flops are reported).
Monte Carlo instances simulate separate chips: every figure is per chip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from simulator.cost import DIGITAL_ENERGY_PER_FLOP_J, ENERGY_PER_MAC_J, MVM_LATENCY_S
from simulator.tiles import TileGrid


@dataclass
class ProductCounts:
    """Work of one operator's products so far (per chip)."""

    vectors: int = 0  # input vectors streamed through the array
    tile_mvms: int = 0
    dac_conversions: int = 0
    adc_conversions: int = 0
    macs: int = 0  # analog multiply-accumulates: cells used x vectors
    digital_flops: int = 0  # products computed in digital (a digital operator)

    def __sub__(self, other: ProductCounts) -> ProductCounts:
        return ProductCounts(
            *(
                a - b
                for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
            )
        )

    def copy(self) -> ProductCounts:
        return dataclasses.replace(self)

    def add_analog(self, grid: TileGrid, vectors: int, transposed: bool = False) -> None:
        """Count ``vectors`` products with the matrix on ``grid`` (``rows`` inputs, ``cols``
        outputs); transposed: inputs on the columns, outputs on the rows."""
        inputs, outputs = (grid.cols, grid.rows) if transposed else (grid.rows, grid.cols)
        input_tiles, output_tiles = (
            (grid.n_col_tiles, grid.n_row_tiles)
            if transposed
            else (grid.n_row_tiles, grid.n_col_tiles)
        )
        self.vectors += vectors
        self.tile_mvms += vectors * grid.n_tiles
        self.dac_conversions += vectors * inputs * output_tiles  # each tile drives its inputs
        self.adc_conversions += vectors * outputs * input_tiles  # each tile converts its outputs
        self.macs += vectors * grid.rows * grid.cols


@dataclass(frozen=True)
class AlgorithmCost:
    """Cost of one run of an algorithm on one chip."""

    tiles: int
    analog_mvms: int  # tile MVMs
    dac_conversions: int
    adc_conversions: int
    analog_macs: int
    digital_flops: int
    analog_energy_nj: float
    digital_energy_nj: float
    latency_us: float  # analog MVMs only

    @property
    def energy_nj(self) -> float:
        return self.analog_energy_nj + self.digital_energy_nj

    @classmethod
    def of(cls, counts: ProductCounts, tiles: int, digital_flops: int = 0) -> AlgorithmCost:
        """The cost of ``counts`` on ``tiles`` tiles plus ``digital_flops`` of digital steps."""
        flops = counts.digital_flops + digital_flops
        return cls(
            tiles=tiles,
            analog_mvms=counts.tile_mvms,
            dac_conversions=counts.dac_conversions,
            adc_conversions=counts.adc_conversions,
            analog_macs=counts.macs,
            digital_flops=flops,
            analog_energy_nj=counts.macs * ENERGY_PER_MAC_J * 1e9,
            digital_energy_nj=flops * DIGITAL_ENERGY_PER_FLOP_J * 1e9,
            latency_us=counts.vectors * MVM_LATENCY_S * 1e6,
        )


def matmul_flops(m: int, n: int, k: int) -> int:
    """(m x n) @ (n x k)."""
    return 2 * m * n * k


def qr_flops(m: int, n: int, with_q: bool = True) -> int:
    """Householder QR of m x n (m >= n): R (2mn^2 - 2n^3/3), plus the thin Q as much again."""
    r = 2 * m * n * n - 2 * n**3 // 3
    return 2 * r if with_q else r


def svd_flops(m: int, n: int) -> int:
    """Thin SVD with both singular-vector sets of an m x n matrix: the cheaper of Golub-Reinsch
    (14ab^2 + 8b^3) and R-SVD (6ab^2 + 20b^3), a = max(m, n), b = min(m, n)."""
    a, b = max(m, n), min(m, n)
    return min(14 * a * b * b + 8 * b**3, 6 * a * b * b + 20 * b**3)


def triangular_solve_flops(n: int, k: int = 1) -> int:
    """n x n triangular system with k right-hand sides."""
    return n * n * k
