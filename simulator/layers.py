"""Analog layers: ``Linear`` and ``Conv2d`` whose weights live on crossbar tiles.

Train mode trains the floating-point weights (the values that will be programmed) with optional
hardware-aware noise (:class:`~simulator.config.HWATraining`), using the native torch operation.

Eval mode runs the crossbar. The unrolled weight matrix (a convolution's is ``out x C*kh*kw``,
as im2col would lay it out) is split into row tiles; each tile gets its own DAC range, computes
its matrix-vector products with the conductance differences (G+ - G-) / g_max, adds output noise
and goes through its ADC; the digital periphery scales each tile's columns back and adds the row
tiles' partial sums and the bias. Before :func:`~simulator.convert.program` the conductances are
the exact targets; afterwards they carry programming noise, drift and read noise, and a layer may
hold ``S`` programmed instances at once: its input batch is then ``S`` equal-sized groups, group
``s`` going through instance ``s``. Instances and row tiles are computed in one batched call
(a batched matmul, or a grouped convolution), never in a Python loop.

Units inside the crossbar: inputs in DAC codes (integers up to ``2^(dac_bits-1) - 1``), outputs
in ADC steps of ``_out_unit`` normalized units (a full-scale input on a device at g_max gives 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simulator.config import HardwareConfig, HWATraining
from simulator.devices import device_model
from simulator.periphery import GaussianPool, levels
from simulator.streams import (
    DRIFT_PARAMETERS,
    OUTPUT_NOISE,
    PROGRAMMING,
    READ,
    REFERENCE_READ,
    RandomStreams,
)
from simulator.tiles import TileGrid


class AnalogLayer(nn.Module):
    """Crossbar state and periphery shared by the analog layers."""

    def __init__(
        self, weight: Tensor, bias: Tensor | None, hw: HardwareConfig, hwa: HWATraining | None
    ) -> None:
        super().__init__()
        # a frozen layer (e.g. a fixed random projection) stays frozen on the tiles
        frozen = not weight.requires_grad
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=not frozen)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), not frozen)
        self.hw = hw
        self.hwa = hwa
        self.device_model = device_model(hw)
        self.grid = TileGrid(weight[0].numel(), weight.shape[0], hw.tile_rows, hw.tile_cols)
        device = weight.device
        nan_ranges = torch.full((self.grid.n_row_tiles,), math.nan, device=device)
        self.register_buffer("input_range", nan_ranges)  # per row tile; NaN = not calibrated
        nan_columns = torch.full((self.grid.n_row_tiles, self.grid.cols), math.nan, device=device)
        self.register_buffer("weight_range", nan_columns)  # per tile column; NaN = from max|W|
        self.register_load_state_dict_pre_hook(_default_weight_range)
        for name in ("g_target", "g_prog", "device_param", "w_scale", "matrix", "out_scale"):
            self.register_buffer(name, None, persistent=False)
        self.register_buffer("readout_ref", None, persistent=False)
        self.calibrating = False
        self.calibration_quantile = 1.0  # of |input| per tile and batch, while calibrating
        self.calibrated = False  # every row tile has a finite calibrated input range
        self.register_load_state_dict_post_hook(lambda module, keys: module._check_calibrated())
        self.exact = False  # True: the native torch op on the float weights, in any mode
        self._programmed_version: int | None = None
        self._dac_levels = levels(hw.dac_bits) if hw.dac_bits is not None else 1
        self._adc_levels = levels(hw.adc_bits) if hw.adc_bits is not None else 1
        self._out_unit = (
            hw.out_bound / self._adc_levels if hw.out_bound is not None else 1 / self._dac_levels
        )
        self._matrix_gain = 1.0 / (self._dac_levels * self._out_unit)  # DAC codes -> ADC steps
        self._noise = GaussianPool(hw.out_noise / self._out_unit)

    # --- subclass interface -------------------------------------------------------------------
    def _digital(self, x: Tensor, weight: Tensor) -> Tensor:
        """The native torch operation with these weights."""
        raise NotImplementedError

    def _crossbar(self, x: Tensor, matrix: Tensor, out_scale: Tensor) -> Tensor:
        """The eval-mode forward through the tiles (see the module docstring)."""
        raise NotImplementedError

    def _tile_input_max(self, x: Tensor) -> Tensor:
        """Largest |input| each row tile receives from this batch: ``[n_row_tiles]``."""
        raise NotImplementedError

    def _tile_inputs_list(self, x: Tensor) -> list[Tensor]:
        """The inputs of each row tile from this batch (no padding), one tensor per tile."""
        raise NotImplementedError

    # --- state --------------------------------------------------------------------------------
    @property
    def programmed(self) -> bool:
        return self.g_prog is not None

    @property
    def n_instances(self) -> int:
        """Programmed instances held at once (1 before programming)."""
        return self.g_prog.shape[0] if self.programmed else 1

    def _check_calibrated(self) -> None:
        self.calibrated = bool(torch.isfinite(self.input_range).all())

    def _weight_blocks(self) -> Tensor:
        w = self.weight.detach().reshape(self.grid.cols, self.grid.rows).float()
        return self.grid.blocks(w)

    def _weight_ranges(self, blocks: Tensor) -> Tensor:
        """The weight each tile column maps to g_max, ``[n_row_tiles, cols]``: ``weight_range``
        where set (post-training optimisation), else max|W| of the tile (or of the column)."""
        default = self.grid.weight_scale(blocks, self.hw.column_scaling)
        return torch.where(torch.isnan(self.weight_range), default, self.weight_range)

    def _normalized_weights(self) -> tuple[Tensor, Tensor]:
        """Weights over their column's range, saturated at +-1 ``[nR, block_rows, cols]``, and
        the ranges ``[nR, cols]``."""
        blocks = self._weight_blocks()
        w_scale = self._weight_ranges(blocks)
        return (blocks / w_scale.unsqueeze(-2)).clamp(-1.0, 1.0), w_scale

    def program(self, n_samples: int, streams: RandomStreams) -> None:
        """Program ``n_samples`` independent instances of the current weights onto the tiles.

        Programming noise, drift parameters, the reference read and the output noise each draw
        from their own stream. Differentiable in ``weight_range`` when it requires gradients
        (post-training optimisation), as is :meth:`read`; the weights never get gradients here.
        """
        normalized, w_scale = self._normalized_weights()
        g_target = torch.stack([normalized.clamp(min=0), (-normalized).clamp(min=0)])
        self.g_target = g_target * self.hw.g_max  # [2, nR, block_rows, cols]
        targets = self.g_target.expand(n_samples, *self.g_target.shape).contiguous()
        self.g_prog, self.device_param = self.device_model.program(
            targets, streams(PROGRAMMING), streams(DRIFT_PARAMETERS)
        )
        self.w_scale = w_scale
        self._programmed_version = self.weight._version
        self._read(0.0, streams(REFERENCE_READ), streams(OUTPUT_NOISE, "programmed"), True)

    def read(self, t: float, streams: RandomStreams) -> None:
        """Read the conductances ``t`` seconds after programming (drift, fresh read noise and a
        fresh output-noise pool, from the streams of time ``t``)."""
        self._read(t, streams(READ, t), streams(OUTPUT_NOISE, t), False)

    def _read(
        self, t: float, noise: torch.Generator, output_noise: torch.Generator, reference: bool
    ) -> None:
        if not self.programmed:
            raise RuntimeError("drift: program the model before drifting it")
        g = self.device_model.read(self.g_target, self.g_prog, self.device_param, t, noise)
        normalized = (g[:, 0] - g[:, 1]) / self.hw.g_max  # [S, nR, block_rows, cols]
        scale = self._out_unit * self.w_scale.expand(normalized.shape[0], -1, -1)
        if self.hw.drift_compensation:
            readout = self._identity_readout(normalized)
            if reference:
                self.readout_ref = readout
            scale = scale * self.grid.to_columns(self.readout_ref / readout)
        self.matrix = normalized * self._matrix_gain
        self.out_scale = scale.unsqueeze(-2)  # [S, nR, 1, cols]
        self._noise.refresh(output_noise)

    def forget_programming(self) -> None:
        """Drop the programmed instances: the layer computes with the exact targets again."""
        for name in ("g_target", "g_prog", "device_param", "w_scale", "matrix", "out_scale"):
            setattr(self, name, None)
        self.readout_ref = None
        self._programmed_version = None

    def _identity_readout(self, matrix: Tensor) -> Tensor:
        """Mean |response| of each tile to the identity input: ``[S, nR, nC]``."""
        column_sums = (matrix.abs() * self.grid.row_mask(matrix.device)).sum(-2)
        mean = self.grid.per_tile(column_sums, "sum") / self.grid.real_devices(matrix.device)
        return mean.clamp(min=torch.finfo(matrix.dtype).tiny)

    # --- forward ------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        if self.calibrating:
            self._record_input_range(x)
        if self.exact or self.calibrating:
            return self._digital(x, self.weight)
        if self.training:
            return self._digital(x, self._training_weight())
        matrix, out_scale = self._matrix_and_scale()
        if x.shape[0] % matrix.shape[0]:
            raise ValueError(
                f"batch of {x.shape[0]} is not a multiple of the {matrix.shape[0]} programmed "
                "instances"
            )
        return self._crossbar(x, matrix, out_scale)

    def _training_weight(self) -> Tensor:
        """The weights for one training mini-batch, with hardware-aware noise when configured."""
        hwa = self.hwa
        if hwa is None:
            return self.weight
        if hwa.weight_clip is not None:
            with torch.no_grad():
                bound = hwa.weight_clip * self.weight.std().item()
                self.weight.clamp_(-bound, bound)
        weight = self.weight
        if hwa.weight_noise > 0:
            scale = self.grid.weight_scale(self._weight_blocks(), self.hw.column_scaling)
            per_weight = scale.repeat_interleave(self.grid.block_rows, 0)[: self.grid.rows].t()
            noise = torch.randn_like(weight) * per_weight.reshape(weight.shape)
            weight = weight + hwa.weight_noise * noise
        if hwa.drop_connect > 0:
            weight = weight * (torch.rand_like(weight) >= hwa.drop_connect)
        return weight

    def _matrix_and_scale(self) -> tuple[Tensor, Tensor]:
        """Conductance matrix ``[S, nR, block_rows, cols]`` in ADC steps per DAC code, and the
        digital scale ``[S, nR, 1, cols]`` from ADC steps back to activation units (per unit of
        input range)."""
        matrix = self.matrix
        if matrix is not None:
            if self.weight._version != self._programmed_version:
                raise RuntimeError("weights changed since programming: call program() again")
            return matrix, self.out_scale
        normalized, w_scale = self._normalized_weights()
        matrix = normalized * self._matrix_gain
        return matrix.unsqueeze(0), (self._out_unit * w_scale).unsqueeze(-2).unsqueeze(0)

    def _input_ranges(self, x: Tensor) -> Tensor | float:
        """DAC full scale per row tile ``[nR]`` (configured: a float), calibrated or, before
        calibration, this batch's largest |input| per tile."""
        if self.hw.input_range is not None:
            return self.hw.input_range
        if self.calibrated:
            return self.input_range
        return self._tile_input_max(x).clamp(min=torch.finfo(x.dtype).tiny)

    @torch.no_grad()
    def _record_input_range(self, x: Tensor) -> None:
        """Widen each row tile's calibrated range to the ``calibration_quantile`` of |input| in
        this batch (so that at least that fraction of every batch lies within the range)."""
        observed = torch.stack(
            [
                _quantile(tile.abs().flatten(), self.calibration_quantile)
                for tile in self._tile_inputs_list(x)
            ]
        )
        self.input_range = torch.fmax(self.input_range, observed.to(self.input_range.dtype))

    def _dac(self, x: Tensor, ranges: Tensor | float) -> Tensor:
        """Inputs -> DAC codes (a new tensor): scaled by the range, clipped and rounded."""
        x = x / (ranges / self._dac_levels)
        if self.hw.dac_bits is not None:
            x = _round(x.clamp_(-self._dac_levels, self._dac_levels))
        return x

    def _adc(self, y: Tensor) -> Tensor:
        """Tile outputs in ADC steps (noise already added) -> clipped and rounded, in place."""
        if self.hw.out_bound is not None:
            y = y.clamp_(-self._adc_levels, self._adc_levels)
            if self.hw.adc_bits is not None:
                y = _round(y)
        return y

    def extra_repr(self) -> str:
        g = self.grid
        return (
            f"rows={g.rows}, cols={g.cols}, tiles={g.n_row_tiles}x{g.n_col_tiles}, "
            f"device={self.hw.device}, instances={self.n_instances}"
        )


class DigitalLinear(nn.Linear):
    """A linear layer that stays digital: ``to_analog`` leaves it and ``cost`` maps no tiles for
    it (e.g. the trained readout of a random-feature head)."""


class AnalogLinear(AnalogLayer):
    """``nn.Linear`` on crossbar tiles: the row tiles and instances in one batched matmul."""

    @classmethod
    def from_digital(
        cls, module: nn.Linear, hw: HardwareConfig, hwa: HWATraining | None = None
    ) -> AnalogLinear:
        return cls(module.weight, module.bias, hw, hwa)

    def _digital(self, x, weight):
        return F.linear(x, weight, self.bias)

    def _tile_input_max(self, x):
        return self.grid.split_rows(x.detach().abs()).flatten(0, -3).amax(dim=(0, 2))

    def _tile_inputs_list(self, x):
        rows = x.detach().reshape(-1, self.grid.rows)
        size = self.grid.block_rows
        return [rows[:, r * size : (r + 1) * size] for r in range(self.grid.n_row_tiles)]

    def _crossbar(self, x, matrix, out_scale):
        instances, n_row_tiles = matrix.shape[:2]
        rows = x.reshape(instances, -1, self.grid.rows)  # [S, V, rows]
        tiles = self.grid.split_rows(rows).transpose(1, 2)  # [S, nR, V, block_rows]
        ranges = self._input_ranges(x)
        if isinstance(ranges, Tensor):
            ranges = ranges.view(1, -1, 1, 1)
        codes = self._dac(tiles, ranges).flatten(0, 1)
        matrix = matrix.expand(instances, n_row_tiles, -1, -1).flatten(0, 1)
        if self.hw.out_noise > 0:  # noise + codes @ matrix, in one fused call
            shape = torch.Size((codes.shape[0], codes.shape[1], matrix.shape[2]))
            y = torch.baddbmm(self._noise.sample(shape, codes), codes, matrix)
        else:
            y = torch.bmm(codes, matrix)
        y = self._adc(y.view(instances, n_row_tiles, -1, self.grid.cols))
        y = y.mul_(out_scale * ranges)
        y = y.squeeze(1) if n_row_tiles == 1 else y.sum(1)
        y = y.reshape(*x.shape[:-1], self.grid.cols)
        return y if self.bias is None else y.add_(self.bias)


class AnalogConv2d(AnalogLayer):
    """``nn.Conv2d`` (groups=1, zero padding) on crossbar tiles.

    A row tile holds a contiguous range of the unrolled (C, kh, kw) rows, i.e. whole kernels of
    some channels and parts of the kernels of the first and last one. Each tile is computed as a
    convolution over its channel slice with the weights outside the tile set to zero; all tiles
    and instances run as one grouped convolution (groups = instances x row tiles).
    """

    def __init__(self, weight, bias, hw, hwa, stride, padding, dilation) -> None:
        super().__init__(weight, bias, hw, hwa)
        self.kernel_size = tuple(weight.shape[2:])
        self.stride, self.padding, self.dilation = stride, padding, dilation
        channels, kernel = weight.shape[1], weight.shape[2] * weight.shape[3]
        grid = self.grid
        starts = [r * grid.block_rows for r in range(grid.n_row_tiles)]
        first = [start // kernel for start in starts]
        last = [math.ceil(min(start + grid.block_rows, grid.rows) / kernel) for start in starts]
        width = max(b - a for a, b in zip(first, last, strict=True))
        # Channels each tile reads (index `channels` = an all-zero channel, for padding) and where
        # each row of a tile's block lands in the tile's (width * kernel) unrolled rows.
        slices = [
            [a + i if a + i < b else channels for i in range(width)]
            for a, b in zip(first, last, strict=True)
        ]
        device = weight.device
        self.register_buffer("tile_channels", torch.tensor(slices, device=device), persistent=False)
        positions = torch.arange(grid.block_rows, device=device)
        positions = positions + torch.tensor(starts, device=device)[:, None]
        positions = positions - torch.tensor(first, device=device)[:, None] * kernel
        real = torch.arange(grid.padded_rows, device=device).view(grid.n_row_tiles, -1) < grid.rows
        dump = width * kernel  # padded rows land on a row that is dropped
        self.register_buffer("tile_positions", torch.where(real, positions, dump), persistent=False)

    @classmethod
    def from_digital(
        cls, module: nn.Conv2d, hw: HardwareConfig, hwa: HWATraining | None = None
    ) -> AnalogConv2d:
        if module.groups != 1:
            raise ValueError(f"groups: grouped convolutions ({module.groups}) are not supported")
        if module.padding_mode != "zeros":
            raise ValueError(f"padding_mode: only 'zeros' is supported, not {module.padding_mode}")
        padding = module.padding
        if isinstance(padding, str):
            padding = _explicit_padding(padding, module.kernel_size, module.dilation)
        return cls(module.weight, module.bias, hw, hwa, module.stride, padding, module.dilation)

    def _digital(self, x, weight):
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation)

    def _tile_inputs(self, x: Tensor) -> Tensor:
        """``[N, C, H, W]`` -> ``[N, nR, width, H, W]``: the channel slice of each row tile."""
        padded = F.pad(x, (0, 0, 0, 0, 0, 1))  # the all-zero channel
        slices = padded.index_select(1, self.tile_channels.flatten())
        return slices.view(x.shape[0], *self.tile_channels.shape, *x.shape[2:])

    def _tile_input_max(self, x):
        return self._tile_inputs(x.detach()).abs().amax(dim=(0, 2, 3, 4))

    def _tile_inputs_list(self, x):
        channels = x.shape[1]
        return [x.detach().index_select(1, c[c < channels]) for c in self.tile_channels]

    def _tile_kernels(self, matrix: Tensor) -> Tensor:
        """``[S, nR, block_rows, cols]`` -> grouped-conv weights ``[S*nR*cols, width, kh, kw]``."""
        instances, n_row_tiles, _, cols = matrix.shape
        width = self.tile_channels.shape[1]
        kernel = self.kernel_size[0] * self.kernel_size[1]
        kernels = matrix.new_zeros(instances, n_row_tiles, width * kernel + 1, cols)
        tiles = torch.arange(n_row_tiles, device=matrix.device)[:, None]
        kernels[:, tiles, self.tile_positions] = matrix
        kernels = kernels[:, :, :-1].transpose(2, 3)  # [S, nR, cols, width * kernel]
        return kernels.reshape(-1, width, *self.kernel_size)

    def _crossbar(self, x, matrix, out_scale):
        instances, n_row_tiles, _, cols = matrix.shape
        batch = x.shape[0] // instances
        tiles = self._tile_inputs(x)  # [S*B, nR, width, H, W]
        ranges = self._input_ranges(x)
        if isinstance(ranges, Tensor):
            ranges = ranges.view(1, -1, 1, 1, 1)
        codes = self._dac(tiles, ranges)
        # instances and tiles side by side as groups: [B, S*nR*width, H, W]
        codes = codes.unflatten(0, (instances, batch)).transpose(0, 1).flatten(1, 3)
        y = F.conv2d(
            codes,
            self._tile_kernels(matrix),
            None,
            self.stride,
            self.padding,
            self.dilation,
            groups=instances * n_row_tiles,
        )
        y = y.view(batch, instances, n_row_tiles, cols, *y.shape[-2:])
        if self.hw.out_noise > 0:
            y = y.add_(self._noise.sample(y.shape, y))
        y = self._adc(y)
        y = (y * (out_scale.view(instances, n_row_tiles, cols, 1, 1) * ranges)).sum(
            2
        )  # [B, S, cols, H', W']
        y = y.transpose(0, 1).reshape(x.shape[0], cols, *y.shape[-2:])
        return y if self.bias is None else y.add_(self.bias.view(-1, 1, 1))

    def extra_repr(self) -> str:
        return f"kernel={self.kernel_size}, stride={self.stride}, " + super().extra_repr()


def _round(x: Tensor) -> Tensor:
    """``x`` rounded: in place, or with a straight-through gradient when ``x`` needs one."""
    return x + (x.round() - x).detach() if x.requires_grad else x.round_()


def _quantile(values: Tensor, q: float) -> Tensor:
    """The smallest of ``values`` (1-D) that at least a fraction ``q`` of them do not exceed."""
    k = min(max(math.ceil(q * values.numel()), 1), values.numel())
    return values.kthvalue(k).values


def _default_weight_range(module, state_dict, prefix, *args) -> None:
    """Weights saved before per-column ranges existed load with the default ranges."""
    state_dict.setdefault(prefix + "weight_range", module.weight_range)


@contextmanager
def exact_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, analog layers compute exactly with their float weights (no crossbar)."""
    layers = [m for m in model.modules() if isinstance(m, AnalogLayer)]
    for layer in layers:
        layer.exact = True
    try:
        yield model
    finally:
        for layer in layers:
            layer.exact = False


def _explicit_padding(
    padding: str, kernel_size: tuple[int, int], dilation: tuple[int, int]
) -> tuple[int, int]:
    if padding == "valid":
        return (0, 0)
    totals = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
    if any(total % 2 for total in totals):
        raise ValueError("padding: 'same' with an even effective kernel is not supported")
    return tuple(total // 2 for total in totals)
