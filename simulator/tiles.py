"""How a weight matrix is laid out on a grid of crossbar tiles.

A layer's unrolled weight matrix has ``rows`` inputs (crossbar rows) and ``cols`` outputs
(crossbar columns). It occupies ceil(rows / tile_rows) x ceil(cols / tile_cols) tiles. Partial sums
of the row tiles are added digitally, so the simulator keeps the matrix as ``[n_row_tiles,
block_rows, cols]``: the inputs split into row blocks (zero-padded at the end), all columns side by
side (column tiles only matter for scales, ADCs and the tile count).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class TileGrid:
    """The tiles one weight matrix (``rows`` inputs x ``cols`` outputs) occupies."""

    rows: int
    cols: int
    tile_rows: int
    tile_cols: int

    @cached_property
    def n_row_tiles(self) -> int:
        return math.ceil(self.rows / self.tile_rows)

    @cached_property
    def n_col_tiles(self) -> int:
        return math.ceil(self.cols / self.tile_cols)

    @cached_property
    def n_tiles(self) -> int:
        return self.n_row_tiles * self.n_col_tiles

    @cached_property
    def block_rows(self) -> int:
        """Rows of one row block: a whole tile, or all rows when they fit in one tile."""
        return self.tile_rows if self.n_row_tiles > 1 else self.rows

    @cached_property
    def padded_rows(self) -> int:
        return self.n_row_tiles * self.block_rows

    def split_rows(self, x: Tensor) -> Tensor:
        """``[..., rows]`` -> ``[..., n_row_tiles, block_rows]`` (zero padding at the end)."""
        if self.padded_rows != self.rows:
            x = F.pad(x, (0, self.padded_rows - self.rows))
        return x.unflatten(-1, (self.n_row_tiles, self.block_rows))

    def blocks(self, matrix: Tensor) -> Tensor:
        """A ``[cols, rows]`` weight matrix as ``[n_row_tiles, block_rows, cols]`` blocks."""
        return self.split_rows(matrix).permute(1, 2, 0)

    def row_mask(self, device: torch.device | None = None) -> Tensor:
        """``[n_row_tiles, block_rows, 1]``: 1 for real rows, 0 for padding."""
        mask = torch.arange(self.padded_rows, device=device) < self.rows
        return mask.view(self.n_row_tiles, self.block_rows, 1).float()

    def per_tile(self, column_values: Tensor, reduce: str) -> Tensor:
        """Reduce ``[..., n_row_tiles, cols]`` over the columns of each tile: ``[..., nR, nC]``."""
        pad = self.n_col_tiles * self.tile_cols - self.cols
        chunks = F.pad(column_values, (0, pad)).unflatten(-1, (self.n_col_tiles, self.tile_cols))
        return chunks.amax(-1) if reduce == "max" else chunks.sum(-1)

    def to_columns(self, tile_values: Tensor) -> Tensor:
        """Broadcast ``[..., nR, nC]`` per-tile values to ``[..., nR, cols]``."""
        return tile_values.repeat_interleave(self.tile_cols, dim=-1)[..., : self.cols]

    def weight_scale(self, blocks: Tensor, per_column: bool) -> Tensor:
        """max|W| of each tile (or column of a tile): ``[n_row_tiles, cols]``, never zero."""
        column_max = blocks.abs().amax(-2)
        if not per_column:
            column_max = self.to_columns(self.per_tile(column_max, "max"))
        return column_max.clamp(min=torch.finfo(blocks.dtype).tiny)

    def real_devices(self, device: torch.device | None = None) -> Tensor:
        """Number of real (not padding) cross-points of each tile: ``[nR, nC]``."""
        rows = self.row_mask(device).sum(1)  # [nR, 1]
        cols = self.per_tile(torch.ones(1, self.cols, device=device), "sum")  # [1, nC]
        return rows * cols
