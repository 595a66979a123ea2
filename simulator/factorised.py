"""Low-rank factorised layers: one dense layer as two analog layers, reduce then expand.

A ``Linear`` W (out x in) ~ U V: ``reduce`` V (rank x in), then ``expand`` U (out x rank). A
``Conv2d`` W[o, i, kh, kw] is factorised over its channel unfolding M[(o, kh, kw), i] ~ A B: a
1x1 convolution B (in -> rank) at the input's resolution, then a kh x kw convolution A (rank ->
out) with the layer's stride, padding and dilation. Both are exact at full rank (a 1x1 convolution
commutes with the spatial one), and the expanding layer's crossbar rows are rank x kh x kw
instead of in x kh x kw: fewer tiles where the dense layer spans several row tiles. Both factors
are ordinary ``Linear``/``Conv2d`` modules, so ``to_analog``, ``cost`` (which counts the tiles of
both), the analog bundle and ONNX see two layers.

:func:`factorise` computes the factors of a trained dense layer by a randomized SVD, on the
tiles of a chip (:class:`~simulator.randomized.AnalogMatrix`) or exactly, and reports the error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from simulator.config import HardwareConfig
from simulator.randomized import AnalogMatrix, DigitalMatrix, randomized_svd


def rank_for(fraction, in_channels, out_channels, kernel: int = 1):
    """The rank of a factorised layer: ``fraction`` of the channel unfolding's smaller side,
    min(in, out x kernel^2), rounded, at least 1 (numbers or NumPy arrays)."""
    smaller = np.minimum(in_channels, np.multiply(out_channels, kernel * kernel))
    return np.maximum(1, np.round(np.multiply(fraction, smaller)))


class LowRankLinear(nn.Sequential):
    """``reduce`` (in -> rank, no bias) then ``expand`` (rank -> out, with the layer's bias)."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True) -> None:
        super().__init__()
        self.reduce = nn.Linear(in_features, rank, bias=False)
        self.expand = nn.Linear(rank, out_features, bias=bias)


class LowRankConv2d(nn.Sequential):
    """``reduce`` (1x1, in -> rank, no bias) then ``expand`` (k x k, rank -> out, the layer's
    stride, padding, dilation and bias)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        rank: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, rank, 1, bias=False)
        self.expand = nn.Conv2d(
            rank, out_channels, kernel_size, stride, padding, dilation, bias=bias
        )


@dataclass(frozen=True)
class Factorisation:
    """A factorised layer with the factors of a dense one, and how far their product is from
    it: ``relative_error`` ||M - A B||_F / ||M||_F over the unfolding M, ``optimal_error`` that
    of the best rank-``rank`` approximation (the truncated exact SVD)."""

    layer: LowRankLinear | LowRankConv2d
    rank: int
    relative_error: float
    optimal_error: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "rank": self.rank,
            "relative_error": self.relative_error,
            "optimal_error": self.optimal_error,
        }


def unfolding(module: nn.Linear | nn.Conv2d) -> Tensor:
    """The matrix a factorisation approximates: W of a Linear, M[(o, kh, kw), i] of a Conv2d."""
    weight = module.weight.detach()
    if weight.dim() == 2:
        return weight
    return weight.permute(0, 2, 3, 1).reshape(-1, weight.shape[1])


@torch.no_grad()
def factorise(
    module: nn.Linear | nn.Conv2d,
    rank: int,
    hw: HardwareConfig | None = None,
    seed: int | None = 0,
    oversampling: int = 10,
    power_iterations: int = 1,
) -> Factorisation:
    """The rank-``rank`` factors of a trained dense layer by a randomized SVD of its unfolding:
    with ``hw`` the products with the weights run on one chip's tiles (programmed and read with
    ``seed``), without it exactly. The singular values are split evenly (square roots) between
    the factors, so that both map onto conductances alike."""
    if isinstance(module, nn.Conv2d) and (module.groups != 1 or module.padding_mode != "zeros"):
        raise ValueError("module: only ungrouped, zero-padded convolutions can be factorised")
    matrix = unfolding(module).float()
    limit = min(matrix.shape)
    if not 1 <= rank <= limit:
        raise ValueError(f"rank: must be in 1..{limit} for this layer, got {rank}")
    operator = DigitalMatrix(matrix) if hw is None else AnalogMatrix(matrix, hw, 1, seed)
    svd = randomized_svd(
        operator, rank, min(oversampling, limit - rank), power_iterations, seed=seed
    )
    root = svd.singular_values[0].sqrt()
    expanding = (svd.u[0] * root).float()  # [out (x kh x kw), rank]
    reducing = (svd.v[0] * root).mT.float()  # [rank, in]
    layer = low_rank_like(module, rank)
    if isinstance(layer, LowRankLinear):
        layer.reduce.weight.copy_(reducing)
        layer.expand.weight.copy_(expanding)
    else:
        out, _, kh, kw = module.weight.shape
        layer.reduce.weight.copy_(reducing[:, :, None, None])
        layer.expand.weight.copy_(expanding.reshape(out, kh, kw, rank).permute(0, 3, 1, 2))
    if module.bias is not None:
        layer.expand.bias.copy_(module.bias)
    exact = torch.linalg.svdvals(matrix.double())
    optimal = (exact[rank:].norm() / exact.norm()).item()
    error = svd.errors["relative_frobenius"][0].item()
    return Factorisation(layer.to(module.weight.device), rank, error, optimal)


def rank_of(module: nn.Linear | nn.Conv2d, fraction: float) -> int:
    """The rank a ``fraction`` gives a dense layer (see :func:`rank_for`)."""
    if isinstance(module, nn.Linear):
        return int(rank_for(fraction, module.in_features, module.out_features))
    return int(rank_for(fraction, module.in_channels, module.out_channels, module.kernel_size[0]))


def low_rank_like(module: nn.Linear | nn.Conv2d, rank: int) -> LowRankLinear | LowRankConv2d:
    """A freshly initialised factorised layer of ``module``'s shape and options at ``rank``."""
    bias = module.bias is not None
    if isinstance(module, nn.Linear):
        return LowRankLinear(module.in_features, module.out_features, rank, bias)
    (kernel, other), stride, padding, dilation = (
        module.kernel_size,
        module.stride,
        module.padding,
        module.dilation,
    )
    if kernel != other or len({*stride}) != 1 or len({*padding}) != 1 or len({*dilation}) != 1:
        raise ValueError("module: square kernels with equal strides, padding and dilation only")
    return LowRankConv2d(
        module.in_channels,
        module.out_channels,
        kernel,
        rank,
        stride[0],
        padding[0],
        dilation[0],
        bias,
    )


def factorise_model(
    model: nn.Module,
    ranks: dict[str, int],
    hw: HardwareConfig | None = None,
    seed: int | None = 0,
) -> dict[str, Factorisation]:
    """Replace each dense layer named in ``ranks`` (module name -> rank) of ``model`` in place by
    its factorisation (see :func:`factorise`); returns what each got."""
    modules = dict(model.named_modules())
    done = {}
    for name, rank in ranks.items():
        module = modules.get(name)
        if type(module) not in (nn.Linear, nn.Conv2d):
            raise ValueError(f"ranks: {name!r} is not a dense Linear or Conv2d of the model")
        done[name] = factorise(module, rank, hw, seed)
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else model, child, done[name].layer)
    return done
