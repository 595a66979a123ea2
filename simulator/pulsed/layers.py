"""Layers that train in situ on pulsed tiles: ``Linear``, ``Conv2d`` and a one-layer ``LSTM``.

Forward and backward passes read the tile through its periphery; the backward pass also records
the layer's (input, error) pairs, which :class:`~simulator.pulsed.optimizer.PulsedSGD` turns into
pulses. A bias is one more tile column fed with a constant 1, so it is trained by pulses too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from simulator.pulsed.config import PulsedConfig
from simulator.pulsed.tile import PulsedTile
from simulator.streams import stream


class _TileProduct(torch.autograd.Function):
    """``x @ W^T`` through a tile; backward reads ``W`` and records the update pairs."""

    @staticmethod
    def forward(ctx, x: Tensor, tile: PulsedTile, input_grad: bool) -> Tensor:
        ctx.tile, ctx.input_grad = tile, input_grad
        ctx.save_for_backward(x)
        return tile.forward(x)

    @staticmethod
    def backward(ctx, d: Tensor) -> tuple[Tensor | None, None, None]:
        (x,) = ctx.saved_tensors
        ctx.tile.record(x, d)
        return (ctx.tile.backward(d) if ctx.input_grad else None), None, None


class PulsedLayer(nn.Module):
    """A module whose weights live on one pulsed tile."""

    tile: PulsedTile

    def _product(self, x: Tensor) -> Tensor:
        """``[N, in]`` (without the bias column) -> ``[N, out]`` through the tile."""
        input_grad = x.requires_grad
        if self.has_bias:
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], 1)
        if torch.is_grad_enabled() and self.training:
            if not x.requires_grad:  # still record the pairs of a first layer
                x = x.detach().requires_grad_()
            return _TileProduct.apply(x, self.tile, input_grad)
        return self.tile.forward(x)

    def _split_weight(self) -> tuple[Tensor, Tensor | None]:
        weight = self.tile.weight()
        if self.has_bias:
            return weight[:, :-1], weight[:, -1]
        return weight, None


class PulsedLinear(PulsedLayer):
    """``nn.Linear`` trained by pulses."""

    def __init__(self, module: nn.Linear, config: PulsedConfig, generator: torch.Generator):
        super().__init__()
        self.has_bias = module.bias is not None
        self.in_features, self.out_features = module.in_features, module.out_features
        self.tile = PulsedTile(_with_bias(module.weight, module.bias), config, generator)

    def forward(self, x: Tensor) -> Tensor:
        y = self._product(x.reshape(-1, self.in_features))
        return y.reshape(*x.shape[:-1], self.out_features)

    def to_digital(self) -> nn.Linear:
        weight, bias = self._split_weight()
        module = nn.Linear(self.in_features, self.out_features, bias=self.has_bias)
        return _load(module.to(weight.device), weight, bias)


class PulsedConv2d(PulsedLayer):
    """``nn.Conv2d`` (groups=1, zero padding) trained by pulses: every output position is one
    update pair (its im2col patch and its error), as on an RPU array."""

    def __init__(self, module: nn.Conv2d, config: PulsedConfig, generator: torch.Generator):
        super().__init__()
        if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ValueError("module: only groups=1 and explicit zero padding are supported")
        self.has_bias = module.bias is not None
        self.in_channels, self.out_channels = module.in_channels, module.out_channels
        self.kernel_size, self.stride = module.kernel_size, module.stride
        self.padding, self.dilation = module.padding, module.dilation
        weight = module.weight.flatten(1)
        self.tile = PulsedTile(_with_bias(weight, module.bias), config, generator)

    def forward(self, x: Tensor) -> Tensor:
        patches = F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        height, width = (
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(
                x.shape[-2:],
                self.padding,
                self.dilation,
                self.kernel_size,
                self.stride,
                strict=True,
            )
        )
        y = self._product(patches.transpose(1, 2).flatten(0, 1))  # [B * L, out]
        return y.view(x.shape[0], height, width, self.out_channels).permute(0, 3, 1, 2)

    def to_digital(self) -> nn.Conv2d:
        weight, bias = self._split_weight()
        module = nn.Conv2d(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            bias=self.has_bias,
        )
        weight = weight.view(self.out_channels, self.in_channels, *self.kernel_size)
        return _load(module.to(weight.device), weight, bias)


class PulsedLSTM(PulsedLayer):
    """A one-layer, unidirectional, batch-first ``nn.LSTM`` trained by pulses.

    The four gates' weights ``[4H, I + H]`` and their bias are one tile; each time step reads it
    once with ``[x_t, h_{t-1}, 1]``, and backpropagation through time records every step's pair.
    Returns ``(output [B, T, H], (h_T, c_T))`` with ``h_T``, ``c_T`` of shape ``[1, B, H]``.
    """

    def __init__(self, module: nn.LSTM, config: PulsedConfig, generator: torch.Generator):
        super().__init__()
        if module.num_layers != 1 or module.bidirectional or not module.batch_first:
            raise ValueError("module: only one-layer, unidirectional, batch_first LSTMs")
        if module.proj_size:
            raise ValueError("module: LSTMs with projections are not supported")
        self.has_bias = module.bias
        self.hidden_size = module.hidden_size
        weight = torch.cat([module.weight_ih_l0, module.weight_hh_l0], 1)
        bias = module.bias_ih_l0 + module.bias_hh_l0 if module.bias else None
        self.tile = PulsedTile(_with_bias(weight, bias), config, generator)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            gates = self._product(torch.cat([x[:, t], h], 1))
            i, f, g, o = gates.chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs, 1), (h.unsqueeze(0), c.unsqueeze(0))


_CONVERTERS: dict[type, type[PulsedLayer]] = {
    nn.Linear: PulsedLinear,
    nn.Conv2d: PulsedConv2d,
    nn.LSTM: PulsedLSTM,
}


def to_pulsed(model: nn.Module, config: PulsedConfig, seed: int = 0) -> nn.Module:
    """A copy of ``model`` whose ``Linear``, ``Conv2d`` and ``LSTM`` modules train by pulses.

    The tiles are made on the device of each module's weights (move the model first); each draws
    its devices, periphery noise and pulses from a stream derived from ``seed`` and its position
    in the model (:mod:`simulator.streams`), so that no tile shares noise with another nor with
    anything else seeded with ``seed`` (e.g. the initial weights).
    """
    converted = copy.deepcopy(model)
    if type(converted) in _CONVERTERS:
        return _convert(converted, config, seed, 0)
    index = 0
    for parent in list(converted.modules()):
        for name, child in parent.named_children():
            if type(child) in _CONVERTERS:
                setattr(parent, name, _convert(child, config, seed, index))
                index += 1
    return converted


def pulsed_layers(model: nn.Module) -> Iterator[PulsedLayer]:
    """The pulsed layers of a model, in module order."""
    return (m for m in model.modules() if isinstance(m, PulsedLayer))


def to_digital(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with plain ``nn.Linear``/``nn.Conv2d`` holding the weights the tiles
    hold now (``w_scale * (devices - reference)``), e.g. to program an inference chip."""
    if any(isinstance(m, PulsedLSTM) for m in model.modules()):
        raise ValueError("model: exporting a pulsed LSTM is not supported")
    # deepcopy takes the copy of an object from the memo: the pulsed layers become digital ones
    memo = {id(layer): layer.to_digital().train(layer.training) for layer in pulsed_layers(model)}
    return copy.deepcopy(model, memo)


def _convert(module: nn.Module, config: PulsedConfig, seed: int, index: int) -> PulsedLayer:
    generator = stream(seed, "pulsed-tile", index, device=next(module.parameters()).device)
    return _CONVERTERS[type(module)](module, config, generator).train(module.training)


def _with_bias(weight: Tensor, bias: Tensor | None) -> Tensor:
    weight = weight.detach()
    return weight if bias is None else torch.cat([weight, bias.detach()[:, None]], 1)


@torch.no_grad()
def _load(module: nn.Module, weight: Tensor, bias: Tensor | None) -> nn.Module:
    module.weight.copy_(weight)
    if bias is not None:
        module.bias.copy_(bias)
    return module
