"""Architecture features, computed in closed form for many architectures at once.

Input: AnalogNAS encodings (``ENCODING_NAMES``: out_channel0, M, R1..R5, B1..B5, convblock1..5
as 1..4 = A..D, widenfact1..5; zeros beyond M), then ``EXTENSION_NAMES`` (rank fractions of the
classifier and of the widest macro-blocks' branch convolutions, random features of the head);
encodings of 22 values (stored before the extensions) are read as dense with a linear head.
The figures (parameters, MACs, tiles, energy, latency, depth, widths, kernels) are those of the
ResNet-like network ``search.model`` builds and :func:`simulator.cost` measures, derived with
vectorized arithmetic instead of building each network, so that hundreds of thousands of
architectures are scored per second. The surrogate does not import ``search``; the tests check
both agree exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator import HardwareConfig
from simulator.cost import ENERGY_PER_MAC_J, MVM_LATENCY_S
from simulator.factorised import rank_for

# 2: the chip's own parameters (CHIP_NAMES) follow the architecture's features
# 3: the encoding's extensions (EXTENSION_NAMES) follow AnalogNAS's 22 values
FEATURE_VERSION = 3
MAX_MACRO_BLOCKS = 5
STAGE_FIELDS = ("R", "B", "convblock", "widenfact")
ENCODING_NAMES = (
    "out_channel0",
    "M",
    *(f"{name}{m + 1}" for name in STAGE_FIELDS for m in range(MAX_MACRO_BLOCKS)),
)
EXTENSION_NAMES = ("rank_classifier", "rank_wide", "head_features")
EXTENSION_DEFAULTS = (1.0, 1.0, 0)  # dense layers, a linear classifier
ARCH_NAMES = (*ENCODING_NAMES, *EXTENSION_NAMES)
# Kernels of one branch per block type code (1..4 = A..D); the bottleneck (B) strides its 3x3.
BLOCK_KERNELS = {1: (3, 3), 2: (1, 3, 1), 3: (3, 1), 4: (5, 3)}
KERNEL_SIZES = (1, 3, 5)
DERIVED_NAMES = (
    "log_params",
    "log_macs",
    "tiles",
    "utilization",
    "energy_nj",
    "latency_us",
    "depth",
    "conv_layers",
    "branches",
    "width_min",
    "width_max",
    "width_mean",
    "width_last",
    "resolution_last",
    *(f"kernel{k}_fraction" for k in KERNEL_SIZES),
    "kernel_mean",
    "rows_per_tile",
)
# The chip as numbers, so that one model predicts for chips it has never seen.
CHIP_NAMES = (
    "device_pcm",
    "device_rram",
    "device_ideal",
    "g_max",
    "log2_tile_rows",
    "log2_tile_cols",
    "dac_bits",
    "adc_bits",
    "input_range",
    "log10_out_bound",
    "out_noise",
    "prog_noise_scale",
    "read_noise_scale",
    "drift_scale",
    "drift_compensation",
    "column_scaling",
)
EXACT_BITS = 32  # an exact converter, as a resolution beyond any real one
UNBOUNDED = 1e6  # no output bound, as a full scale beyond any real one


def chip_features(hw: HardwareConfig) -> np.ndarray:
    """The chip's parameters, in ``CHIP_NAMES`` order (exact converters, calibrated input
    ranges and unbounded outputs as fixed sentinel values)."""
    values = {
        "device_pcm": hw.device == "pcm",
        "device_rram": hw.device == "rram",
        "device_ideal": hw.device == "ideal",
        "g_max": hw.g_max,
        "log2_tile_rows": np.log2(hw.tile_rows),
        "log2_tile_cols": np.log2(hw.tile_cols),
        "dac_bits": EXACT_BITS if hw.dac_bits is None else hw.dac_bits,
        "adc_bits": EXACT_BITS if hw.adc_bits is None else hw.adc_bits,
        "input_range": hw.input_range or 0.0,  # 0: calibrated per tile
        "log10_out_bound": np.log10(UNBOUNDED if hw.out_bound is None else hw.out_bound),
        "out_noise": hw.out_noise,
        "prog_noise_scale": hw.prog_noise_scale,
        "read_noise_scale": hw.read_noise_scale,
        "drift_scale": hw.drift_scale,
        "drift_compensation": hw.drift_compensation,
        "column_scaling": hw.column_scaling,
    }
    return np.asarray([float(values[name]) for name in CHIP_NAMES])


def full_encodings(encodings) -> np.ndarray:
    """``[N, 25]`` encodings from rows of 22 values (stored before the extensions: dense, linear
    head) or of 25, alike or mixed."""
    n_old, n_new = len(ENCODING_NAMES), len(ARCH_NAMES)
    if isinstance(encodings, np.ndarray) and encodings.ndim == 2:
        e = encodings.astype(np.float64)
        if e.shape[1] == n_old:
            defaults = np.broadcast_to(np.asarray(EXTENSION_DEFAULTS, float), (len(e), 3))
            e = np.concatenate([e, defaults], axis=1)
        return e.reshape(-1, n_new)
    rows = [[*row, *EXTENSION_DEFAULTS[len(row) - n_old :]] for row in encodings]
    return np.asarray(rows, dtype=np.float64).reshape(-1, n_new)


@dataclass
class _Totals:
    """Running sums over the mapped layers of N networks."""

    params: np.ndarray
    macs: np.ndarray
    tiles: np.ndarray
    cells: np.ndarray
    vectors: np.ndarray  # input vectors over all layers (latency)
    layers: np.ndarray
    kernels: dict[int, np.ndarray]

    @classmethod
    def zeros(cls, n: int) -> _Totals:
        z = lambda: np.zeros(n)  # noqa: E731
        return cls(z(), z(), z(), z(), z(), z(), {k: z() for k in KERNEL_SIZES})


class FeatureExtractor:
    """Features of architectures for one task shape and one chip: the encoding, what the network
    costs on the chip, and the chip's own parameters."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, hw: HardwareConfig) -> None:
        self.input_shape = tuple(int(v) for v in input_shape)
        self.num_classes = int(num_classes)
        self.hw = hw
        self.names = (*ARCH_NAMES, *DERIVED_NAMES, *CHIP_NAMES)
        self._chip = chip_features(hw)

    def transform(self, encodings: np.ndarray) -> np.ndarray:
        """``[N, 25]`` (or ``[N, 22]``) encodings -> ``[N, len(names)]`` features."""
        e = full_encodings(np.asarray(encodings, dtype=np.float64))
        chip = np.broadcast_to(self._chip, (len(e), len(self._chip)))
        return np.concatenate([e, self.derived(e), chip], axis=1)

    def derived(self, e: np.ndarray) -> np.ndarray:
        e = full_encodings(e)
        n = len(e)
        column = {name: e[:, i] for i, name in enumerate(ARCH_NAMES)}
        m_count = column["M"]
        widest = self._widest(column)
        channels, height, width = self.input_shape
        totals = _Totals.zeros(n)
        h = np.full(n, float(height))
        w = np.full(n, float(width))
        depth = np.ones(n)  # the stem
        widths = [column["out_channel0"]]
        self._conv(totals, np.full(n, float(channels)), widths[0], h * w, 3, np.ones(n))
        for m in range(MAX_MACRO_BLOCKS):
            active = m < m_count
            repeats = np.where(active, column[f"R{m + 1}"], 0)
            branches = np.where(active, column[f"B{m + 1}"], 0)
            block = np.where(active, column[f"convblock{m + 1}"], 0)
            factor = np.where(active, column[f"widenfact{m + 1}"], 1.0)
            c_in = widths[-1]
            c_out = np.maximum(1.0, np.round(c_in * factor))
            stride = np.where(active & (m >= m_count - 2), 2.0, 1.0)
            h_out, w_out = np.ceil(h / stride), np.ceil(w / stride)
            first, rest = branches, branches * np.maximum(repeats - 1, 0)
            rank = np.where(active & (c_out == widest), column["rank_wide"], 1.0)
            for code, kernels in BLOCK_KERNELS.items():
                chosen = block == code
                if not chosen.any():
                    continue
                self._branch(
                    totals,
                    kernels,
                    c_in,
                    c_out,
                    (h, w),
                    (h_out, w_out),
                    np.where(chosen, first, 0),
                    rank,
                )
                self._branch(
                    totals,
                    kernels,
                    c_out,
                    c_out,
                    (h_out, w_out),
                    (h_out, w_out),
                    np.where(chosen, rest, 0),
                    rank,
                )
                depth += np.where(chosen, repeats * len(kernels), 0)
            projection = active & ((stride != 1) | (c_in != c_out))
            self._conv(totals, c_in, c_out, h_out * w_out, 1, projection.astype(float))
            h, w = np.where(active, h_out, h), np.where(active, w_out, w)
            widths.append(np.where(active, c_out, c_in))
        last = widths[-1]
        self._head(totals, last, column["rank_classifier"], column["head_features"])
        stage_widths = np.stack(widths[1:], axis=1)
        stage_mask = np.arange(MAX_MACRO_BLOCKS)[None, :] < m_count[:, None]
        kernel_layers = sum(totals.kernels.values())
        features = {
            "log_params": np.log10(totals.params),
            "log_macs": np.log10(totals.macs),
            "tiles": totals.tiles,
            "utilization": totals.cells / (totals.tiles * self.hw.tile_rows * self.hw.tile_cols),
            "energy_nj": totals.macs * ENERGY_PER_MAC_J * 1e9,
            "latency_us": totals.vectors * MVM_LATENCY_S * 1e6,
            "depth": depth + 1,  # + the classifier
            "conv_layers": totals.layers,
            "branches": np.sum(np.where(stage_mask, e[:, 7:12] * e[:, 2:7], 0), axis=1),
            "width_min": np.min(np.where(stage_mask, stage_widths, np.inf), axis=1),
            "width_max": np.max(np.where(stage_mask, stage_widths, -np.inf), axis=1),
            "width_mean": np.sum(stage_widths * stage_mask, axis=1) / m_count,
            "width_last": last,
            "resolution_last": h * w,
            **{f"kernel{k}_fraction": totals.kernels[k] / kernel_layers for k in KERNEL_SIZES},
            "kernel_mean": sum(k * totals.kernels[k] for k in KERNEL_SIZES) / kernel_layers,
            "rows_per_tile": totals.cells / totals.tiles / self.hw.tile_cols,
        }
        return np.stack([features[name] for name in DERIVED_NAMES], axis=1)

    def _tiles(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return np.ceil(rows / self.hw.tile_rows) * np.ceil(cols / self.hw.tile_cols)

    def _widest(self, column: dict[str, np.ndarray]) -> np.ndarray:
        """The widest macro-block output of each network (``search.space.ArchConfig.channels``)."""
        width, widest = column["out_channel0"], np.zeros(len(column["M"]))
        for m in range(MAX_MACRO_BLOCKS):
            active = m < column["M"]
            width = np.where(
                active, np.maximum(1.0, np.round(width * column[f"widenfact{m + 1}"])), width
            )
            widest = np.where(active, np.maximum(widest, width), widest)
        return widest

    def _conv(
        self, totals: _Totals, c_in, c_out, positions, kernel: int, count, norm: bool = True
    ) -> None:
        """``count`` convolutions (no bias), each ``positions`` output pixels, followed by BN
        (``norm``)."""
        rows = c_in * kernel * kernel
        totals.params += count * (rows * c_out + (2 * c_out if norm else 0))
        totals.macs += count * rows * c_out * positions
        totals.tiles += count * self._tiles(rows, c_out)
        totals.cells += count * rows * c_out
        totals.vectors += count * positions
        totals.layers += count
        totals.kernels[kernel] += count

    def _ranked_conv(self, totals, c_in, c_out, size_in, size_out, kernel, count, rank) -> None:
        """``count`` convolutions followed by BN, each dense where ``rank`` is 1, else factorised
        (:mod:`simulator.factorised`): 1x1 to ``rank_for`` channels at the input's resolution,
        then ``kernel`` at the output's."""
        low = rank < 1
        positions_in, positions_out = size_in[0] * size_in[1], size_out[0] * size_out[1]
        self._conv(totals, c_in, c_out, positions_out, kernel, np.where(low, 0, count))
        r = rank_for(rank, c_in, c_out, kernel)
        self._conv(totals, c_in, r, positions_in, 1, np.where(low, count, 0), norm=False)
        self._conv(totals, r, c_out, positions_out, kernel, np.where(low, count, 0))

    def _branch(self, totals, kernels, c_in, c_out, size_in, size_out, count, rank) -> None:
        """``count`` branches of one block type (see :mod:`search.model`), their convolutions
        factorised at ``rank`` (1: dense)."""
        if kernels == (1, 3, 1):  # bottleneck: the 3x3 strides
            middle = np.maximum(1.0, np.floor(c_out / 4))
            self._ranked_conv(totals, c_in, middle, size_in, size_in, 1, count, rank)
            self._ranked_conv(totals, middle, middle, size_in, size_out, 3, count, rank)
            self._ranked_conv(totals, middle, c_out, size_out, size_out, 1, count, rank)
            return
        self._ranked_conv(totals, c_in, c_out, size_in, size_out, kernels[0], count, rank)
        self._ranked_conv(totals, c_out, c_out, size_out, size_out, kernels[1], count, rank)

    def _head(self, totals: _Totals, c_in, rank, features) -> None:
        """The classifier: dense, factorised at ``rank`` (1: dense), or a random-feature head
        of ``features`` (> 0): an analog projection without bias, then a digital readout."""
        classes = np.full_like(c_in, self.num_classes)
        head = features > 0
        low = ~head & (rank < 1)
        r = rank_for(rank, c_in, classes)
        self._linear(totals, c_in, classes, np.where(head | low, 0.0, 1.0))
        self._linear(totals, c_in, r, low.astype(float), bias=False)
        self._linear(totals, r, classes, low.astype(float))
        self._linear(totals, c_in, features, head.astype(float), bias=False)
        totals.params += np.where(head, features * classes + classes, 0)

    def _linear(self, totals: _Totals, c_in, c_out, count, bias: bool = True) -> None:
        """``count`` linear layers (0 or 1 per network) of ``c_in`` inputs, ``c_out`` outputs."""
        totals.params += count * (c_in * c_out + (c_out if bias else 0))
        totals.macs += count * c_in * c_out
        totals.tiles += count * self._tiles(c_in, np.maximum(c_out, 1))
        totals.cells += count * c_in * c_out
        totals.vectors += count
