"""SGD whose step applies pulses to the tiles of pulsed layers instead of writing weights."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from simulator.pulsed.layers import pulsed_layers


class PulsedSGD(torch.optim.SGD):
    """Plain SGD for the digital parameters (e.g. batch norm), pulses for the pulsed layers.

    ``step`` turns the (input, error) pairs each pulsed layer recorded in the backward pass into
    a stochastic pulse update of learning rate ``lr`` (the current ``lr`` of the first parameter
    group, so learning-rate schedulers apply); ``zero_grad`` also forgets unused pairs.
    """

    def __init__(self, model: nn.Module, lr: float, weight_decay: float = 0.0) -> None:
        self.tiles = [layer.tile for layer in pulsed_layers(model)]
        if not self.tiles:
            raise ValueError("model: no pulsed layers; convert it with to_pulsed")
        super().__init__([{"params": list(model.parameters())}], lr=lr, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = super().step(closure)
        lr = self.param_groups[0]["lr"]
        for tile in self.tiles:
            tile.update(lr)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for tile in self.tiles:
            tile.discard()
