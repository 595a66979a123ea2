"""Build a ResNet-like ``nn.Module`` from an :class:`~search.space.ArchConfig`.

Block types (the kernels a branch's convolutions use; all keep AnalogNAS's encoding):

- ``A`` basic: 3x3 -> 3x3. The reference residual block.
- ``B`` bottleneck: 1x1 (to a quarter of the width) -> 3x3 -> 1x1. Short crossbar rows: many
  small tiles, low energy per output.
- ``C`` 3x3 -> 1x1. The second layer needs a ninth of the rows of ``A``'s.
- ``D`` 5x5 -> 3x3. A wider receptive field for ~2.8x the rows of ``A``'s first layer.

Each branch runs ReLU -> conv -> BN between its convolutions (pre-activation, as AnalogNAS); a
residual block adds its branches and the skip (identity, or 1x1 conv + BN when the shape changes).
The last two macro-blocks halve the resolution in their first block. Head: ReLU, global average
pooling, linear classifier.

Low-rank layers (``rank_wide``, ``rank_classifier`` < 1) replace the branch convolutions of the
widest macro-blocks and the classifier by their factorised form (:mod:`simulator.factorised`, at
the same module names); a random-feature head (``head_features`` > 0) replaces the classifier by
arc-cosine random features whose fixed projection goes on the tiles and a trained
:class:`~simulator.DigitalLinear` readout.
"""

from __future__ import annotations

import io
from typing import Protocol

import torch
from torch import nn

from search.space import BLOCK_TYPES, ArchConfig
from simulator import DigitalLinear, HardwareConfig, RandomFeatures, to_analog
from simulator.factorised import low_rank_like, rank_of
from surrogate.features import BLOCK_KERNELS

# Kernels of one branch per block type; the surrogate's closed-form features use the same table.
KERNELS = {letter: BLOCK_KERNELS[code] for code, letter in enumerate(BLOCK_TYPES, start=1)}


class HasShape(Protocol):
    input_shape: tuple[int, ...]
    num_classes: int


def _branch(block_type: str, channels_in: int, channels_out: int, stride: int) -> nn.Sequential:
    kernels = KERNELS[block_type]
    middle = max(1, channels_out // 4) if block_type == "B" else channels_out
    widths = [channels_in] + [middle] * (len(kernels) - 1) + [channels_out]
    strided = 1 if block_type == "B" else 0  # the bottleneck strides in its 3x3
    layers: list[nn.Module] = []
    for i, kernel in enumerate(kernels):
        conv_stride = stride if i == strided else 1
        layers += [
            nn.ReLU(),
            nn.Conv2d(widths[i], widths[i + 1], kernel, conv_stride, kernel // 2, bias=False),
            nn.BatchNorm2d(widths[i + 1]),
        ]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Parallel branches of one block type, summed with the skip connection."""

    def __init__(
        self, block_type: str, branches: int, channels_in: int, channels_out: int, stride: int
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            _branch(block_type, channels_in, channels_out, stride) for _ in range(branches)
        )
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.skip = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.skip(x)
        for branch in self.branches:
            out = out + branch(x)
        return out


class ResNetLike(nn.Sequential):
    """Stem, macro-blocks of residual blocks, head: the network an ArchConfig describes."""

    def __init__(self, cfg: ArchConfig, input_channels: int, num_classes: int) -> None:
        widths = cfg.channels()
        layers: list[nn.Module] = [
            nn.Conv2d(input_channels, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
        ]
        for m in range(cfg.M):
            downsample = m >= cfg.M - 2
            for r in range(cfg.R[m]):
                layers.append(
                    ResidualBlock(
                        cfg.convblock[m],
                        cfg.B[m],
                        widths[m] if r == 0 else widths[m + 1],
                        widths[m + 1],
                        2 if downsample and r == 0 else 1,
                    )
                )
        layers += [
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(widths[-1], num_classes),
        ]
        super().__init__(*layers)
        for name, fraction in factorised_layers(cfg).items():
            parent, _, child = name.rpartition(".")
            owner = self.get_submodule(parent)
            dense = owner.get_submodule(child)
            owner.register_module(child, low_rank_like(dense, rank_of(dense, fraction)))
        if cfg.head_features:
            self[-1] = RandomFeatureHead(widths[-1], cfg.head_features, num_classes)


class RandomFeatureHead(nn.Sequential):
    """Arc-cosine random features of the pooled activations (a fixed random projection that
    ``to_analog`` puts on the tiles and training leaves alone), then a trained digital readout."""

    def __init__(self, in_features: int, n_features: int, num_classes: int) -> None:
        features = RandomFeatures(
            in_features,
            n_features,
            kernel="arccos",
            seed=int(torch.randint(2**31 - 1, ())),  # from the caller's generator
            device=torch.get_default_device(),
        )
        super().__init__(features, DigitalLinear(n_features, num_classes))


def factorised_layers(cfg: ArchConfig) -> dict[str, float]:
    """The module names (as :class:`ResNetLike` names them) of the dense layers that ``cfg``'s
    rank fractions factorise, with their fraction: each branch convolution of the widest
    macro-blocks (``rank_wide``) and the classifier (``rank_classifier``)."""
    layers: dict[str, float] = {}
    index = 2  # after the stem's convolution and BN
    wide = set(cfg.wide_blocks()) if cfg.rank_wide < 1 else set()
    for m in range(cfg.M):
        convs = len(KERNELS[cfg.convblock[m]])
        for r in range(cfg.R[m]):
            if m in wide:
                for b in range(cfg.B[m]):
                    layers.update(
                        {
                            f"{index + r}.branches.{b}.{3 * i + 1}": cfg.rank_wide
                            for i in range(convs)
                        }
                    )
        index += cfg.R[m]
    if cfg.rank_classifier < 1:
        layers[str(index + 3)] = cfg.rank_classifier  # after ReLU, pooling and flattening
    return layers


def build_model(cfg: ArchConfig, task: HasShape, seed: int | None = None) -> nn.Module:
    """The network of ``cfg`` for the task's input shape (C, H, W) and number of classes.

    With ``seed``, the initial weights are reproducible (torch's global generator is untouched).
    """
    if seed is None:
        return ResNetLike(cfg, task.input_shape[0], task.num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNetLike(cfg, task.input_shape[0], task.num_classes)


def trained_analog(
    cfg: ArchConfig, task: HasShape, hw: HardwareConfig, weights: bytes
) -> nn.Module:
    """The analog network of ``cfg`` on ``hw`` with stored weights (``torch.save`` of its state
    dict, as a verification keeps it), on the CPU, in eval mode."""
    analog = to_analog(build_model(cfg, task), hw)
    analog.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu"))
    return analog.eval()
