"""Matrix operators of the randomized algorithms: a matrix programmed on crossbar tiles, and its
exact digital counterpart (the reference, run through the same algorithm code).

:class:`AnalogMatrix` holds A (m x n) on the tiles of an :class:`~simulator.layers.AnalogLinear`
(n inputs on the rows, m outputs on the columns) and computes

- ``matmul(X)`` = A @ X: inputs on the rows, outputs on the columns, as in the layer's forward
  pass (partial sums of the row tiles added digitally);
- ``rmatmul(Y)`` = A.T @ Y: the same conductances read transposed, inputs driven on the columns
  and outputs converted on the rows, as crossbars allow: each tile gets its own DAC range and ADCs
  and the partial sums of the column tiles are added digitally.

Both reads use the layer's programmed conductances (programming noise, drift, read noise, drift
compensation) and its DAC, output noise and ADC, with the periphery of aihwkit's analog tiles for
streamed vectors, which the layers' forward pass (calibrated input ranges) does not have:

- noise management: each tile's slice of each input vector is scaled to max|x| = 1 before its DAC
  (full DAC resolution whatever the vector's magnitude) and its outputs scaled back digitally;
- bound management: a vector whose outputs saturate an ADC (inputs aligned with the matrix add up
  coherently, e.g. in power iterations) is read again with its inputs halved, up to
  ``BOUND_MANAGEMENT_STEPS`` times; every read is counted.

The digital scales of the tile columns (weight range, drift compensation) multiply the outputs of
a forward read and the inputs of a transposed one. An operator holds S chips (Monte Carlo
instances); products return ``[S, ...]`` and take one ``X`` for all chips (``[n, k]``) or one per
chip (``[S, n, k]``), as an algorithm's iterates are.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from simulator.config import HardwareConfig
from simulator.convert import drift, program
from simulator.layers import AnalogLinear
from simulator.randomized.accounting import ProductCounts, matmul_flops

BOUND_MANAGEMENT_STEPS = 10  # halvings of a saturating vector's inputs (aihwkit: 1000x at most)


class MatrixOperator:
    """A matrix A (m x n) with products A @ X and A.T @ Y for ``n_instances`` chips at once; the
    work done is counted in ``counts``."""

    def __init__(self, matrix: Tensor) -> None:
        if matrix.dim() != 2 or not matrix.is_floating_point() or matrix.numel() == 0:
            raise ValueError(
                "matrix: expected a non-empty 2-D floating-point tensor, got "
                f"{matrix.dtype} of shape {tuple(matrix.shape)}"
            )
        self.matrix = matrix.detach()
        self.counts = ProductCounts()

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.matrix.shape)

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    @property
    def n_instances(self) -> int:
        raise NotImplementedError

    @property
    def tiles(self) -> int:
        """Crossbar tiles holding the matrix (0 in digital)."""
        return 0

    def matmul(self, x: Tensor) -> Tensor:
        """A @ X on every chip: ``X`` ``[n, k]`` or ``[S, n, k]`` -> ``[S, m, k]``."""
        return self._product(self._per_instance(x, self.shape[1], "x"), transposed=False)

    def rmatmul(self, y: Tensor) -> Tensor:
        """A.T @ Y on every chip: ``Y`` ``[m, k]`` or ``[S, m, k]`` -> ``[S, n, k]``."""
        return self._product(self._per_instance(y, self.shape[0], "y"), transposed=True)

    def _product(self, x: Tensor, transposed: bool) -> Tensor:
        raise NotImplementedError

    def _per_instance(self, x: Tensor, rows: int, name: str) -> Tensor:
        instances = self.n_instances
        batch = x.unsqueeze(0) if x.dim() == 2 else x
        if (
            batch.dim() != 3
            or batch.shape[1] != rows
            or batch.shape[0] not in (1, instances)
            or batch.shape[2] == 0
            or not batch.is_floating_point()
        ):
            raise ValueError(
                f"{name}: expected a floating-point [{rows}, k] or [{instances}, {rows}, k] "
                f"tensor with k >= 1, got {x.dtype} of shape {tuple(x.shape)}"
            )
        return batch.expand(instances, -1, -1)


class DigitalMatrix(MatrixOperator):
    """Exact products in the dtype of the input (the digital reference)."""

    def __init__(self, matrix: Tensor, n_instances: int = 1) -> None:
        super().__init__(matrix)
        if n_instances < 1:
            raise ValueError(f"n_instances: must be at least 1, got {n_instances}")
        self._instances = n_instances

    @property
    def n_instances(self) -> int:
        return self._instances

    def _product(self, x: Tensor, transposed: bool) -> Tensor:
        matrix = self.matrix.to(x.dtype)
        self.counts.digital_flops += matmul_flops(*self.shape, x.shape[-1])
        return (matrix.mT if transposed else matrix) @ x


class AnalogMatrix(MatrixOperator):
    """A matrix programmed on the tiles of ``hw``: ``n_instances`` chips, programmed with
    ``seed`` at construction (see :meth:`program` and :meth:`drift`)."""

    def __init__(
        self, matrix: Tensor, hw: HardwareConfig, n_instances: int = 1, seed: int | None = 0
    ) -> None:
        super().__init__(matrix)
        self.hw = hw
        self.layer = AnalogLinear(self.matrix.float(), None, hw, None).eval()
        self.layer.weight.requires_grad_(False)
        self.program(seed, n_instances)

    @property
    def n_instances(self) -> int:
        return self.layer.n_instances

    @property
    def tiles(self) -> int:
        return self.layer.grid.n_tiles

    def program(self, seed: int | None = 0, n_instances: int = 1) -> AnalogMatrix:
        """Program ``n_instances`` chips (programming noise, drift parameters) from ``seed``."""
        if n_instances < 1:
            raise ValueError(f"n_instances: must be at least 1, got {n_instances}")
        program(self.layer, seed, n_instances)
        return self

    def drift(self, t_seconds: float, seed: int | None = 0) -> AnalogMatrix:
        """Read the conductances ``t_seconds`` after programming (drift, fresh read noise)."""
        drift(self.layer, t_seconds, seed)
        return self

    @torch.no_grad()
    def _product(self, x: Tensor, transposed: bool) -> Tensor:
        read = _read_transposed if transposed else _read_forward
        vectors = x.mT.float()  # [S, k, inputs]
        attenuation = torch.ones(vectors.shape[:2], device=vectors.device)
        out, saturated = read(self.layer, vectors, attenuation)
        self.counts.add_analog(self.layer.grid, x.shape[-1], transposed)
        for _ in range(BOUND_MANAGEMENT_STEPS):
            again = saturated.any(0)  # vectors that saturated on some chip
            if not again.any():
                break
            attenuation = torch.where(saturated, 2 * attenuation, attenuation)
            out_again, still = read(self.layer, vectors[:, again], attenuation[:, again])
            out[:, again] = torch.where(saturated[:, again, None], out_again, out[:, again])
            saturated[:, again] &= still
            self.counts.add_analog(self.layer.grid, int(again.sum()), transposed)
        return out.mT.to(x.dtype)


def _tile_mvm(
    layer: AnalogLinear,
    inputs: Tensor,
    conductances: Tensor,
    out_scale: Tensor | float,
    attenuation: Tensor,
) -> tuple[Tensor, Tensor]:
    """One read of tiles: ``inputs`` ``[..., k, tile inputs]`` through ``conductances``
    ``[..., tile inputs, tile outputs]`` (ADC steps per DAC code); the DAC's full scale is each
    slice's max|x| times ``attenuation``, ``out_scale`` turns ADC steps into output units per
    unit of input. Returns the outputs ``[..., k, tile outputs]`` and which saturated the ADC
    ``[..., k]``."""
    full_scale = inputs.abs().amax(-1, keepdim=True)
    full_scale = torch.where(full_scale > 0, full_scale, torch.ones_like(full_scale))
    full_scale = full_scale * attenuation
    steps = layer._dac(inputs, full_scale) @ conductances
    if layer.hw.out_noise > 0:
        steps = steps.add_(layer._noise.sample(steps.shape, steps))
    if layer.hw.out_bound is None:
        saturated = steps.new_zeros(steps.shape[:-1], dtype=torch.bool)
    else:
        saturated = (steps.abs() > layer._adc_levels).any(-1)
    return layer._adc(steps).mul_(out_scale * full_scale), saturated


def _read_forward(
    layer: AnalogLinear, vectors: Tensor, attenuation: Tensor
) -> tuple[Tensor, Tensor]:
    """``vectors`` ``[S, k, rows]`` on the rows of ``layer``'s tiles, read on its columns:
    ``[S, k, cols]``, and which vectors saturated an ADC ``[S, k]``."""
    matrix, out_scale = layer._matrix_and_scale()  # [S, nR, block_rows, cols], [S, nR, 1, cols]
    inputs = layer.grid.split_rows(vectors).transpose(1, 2)  # [S, nR, k, block_rows]
    y, saturated = _tile_mvm(layer, inputs, matrix, out_scale, attenuation[:, None, :, None])
    return y.sum(1), saturated.any(1)


def _read_transposed(
    layer: AnalogLinear, vectors: Tensor, attenuation: Tensor
) -> tuple[Tensor, Tensor]:
    """``vectors`` ``[S, k, cols]`` on the columns of ``layer``'s tiles, read on its rows:
    ``[S, k, rows]``, and which vectors saturated an ADC ``[S, k]``."""
    grid, tile_cols = layer.grid, layer.hw.tile_cols
    matrix, out_scale = layer._matrix_and_scale()
    column_scale = out_scale / layer._out_unit  # weight range x drift compensation [S,nR,1,cols]
    pad = grid.n_col_tiles * tile_cols - grid.cols
    inputs = F.pad(vectors.unsqueeze(1) * column_scale, (0, pad))  # [S, nR, k, padded cols]
    inputs = inputs.unflatten(-1, (grid.n_col_tiles, tile_cols)).transpose(2, 3)
    tiles = F.pad(matrix, (0, pad)).unflatten(-1, (grid.n_col_tiles, tile_cols))
    y, saturated = _tile_mvm(
        layer,
        inputs,  # [S, nR, nC, k, tile_cols]
        tiles.permute(0, 1, 3, 4, 2),  # [S, nR, nC, tile_cols, block_rows]
        layer._out_unit,
        attenuation[:, None, None, :, None],
    )
    rows = y.sum(2).transpose(1, 2).flatten(2)  # [S, k, nR * block_rows]
    return rows[..., : grid.rows], saturated.any(1).any(1)
