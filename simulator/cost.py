"""Hardware cost of a network on a crossbar chip: tiles, utilization, MVMs, energy, latency.

Energy and latency per tile MVM are derived from IBM's 64-core PCM chip (Le Gallo et al., Nature
Electronics 2023, "A 64-core mixed-signal in-memory compute chip based on phase-change memory"):
64 cores of 256x256 cells reach 63.1 TOPS at 9.76 TOPS/W for 8-bit MVMs (one-phase read), i.e.
  - one MVM of a 256x256 core in 2*256*256*64 / 63.1e12 s = 133 ns, whatever its size here;
  - 2 / 9.76e12 J = 0.205 pJ per multiply-accumulate, periphery (DAC/ADC) included, counted for the
    cells a layer actually uses.
Tiles of a layer work in parallel; layers run one after the other (no inter-layer pipelining);
digital operations (activations, BN, pooling, partial-sum additions) are not counted.

Digital arithmetic, where an algorithm counts it (``simulator.randomized``): 2.3 pJ per flop, the
mean of a 32-bit floating-point add (0.9 pJ) and multiply (3.7 pJ) at 45 nm (Horowitz, ISSCC 2014,
"Computing's energy problem"); arithmetic only, no memory traffic, so it favours digital.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from simulator.config import HardwareConfig
from simulator.layers import AnalogLayer, DigitalLinear, exact_weights
from simulator.tiles import TileGrid

MVM_LATENCY_S = 2 * 256 * 256 * 64 / 63.1e12
ENERGY_PER_MAC_J = 2 / 9.76e12
DIGITAL_ENERGY_PER_FLOP_J = (0.9e-12 + 3.7e-12) / 2


@dataclass(frozen=True)
class LayerCost:
    name: str
    kind: str
    rows: int  # unrolled inputs (crossbar rows)
    cols: int  # outputs (crossbar columns)
    row_tiles: int
    col_tiles: int
    mvms: int  # input vectors per inference (a convolution: its output positions)
    params: int

    @property
    def tiles(self) -> int:
        return self.row_tiles * self.col_tiles


@dataclass(frozen=True)
class CostReport:
    tiles: int
    utilization: float  # used cells / cells of the used tiles
    mvms: int  # tile MVMs per inference
    dac_conversions: int
    adc_conversions: int
    energy_nj: float
    latency_us: float
    params: int  # all parameters of the model, analog and digital
    analog_params: int
    layers: list[LayerCost] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def cost(
    model: nn.Module, hw: HardwareConfig, input_shape: tuple[int, ...] | None = None
) -> CostReport:
    """Cost of one inference of ``model`` (digital or analog) mapped onto ``hw``'s tiles; a
    factorised layer (:mod:`simulator.factorised`) maps both its factors, a ``DigitalLinear``
    none (its parameters count in ``params``).

    ``input_shape`` (one example, without batch) is needed to count the MVMs of convolutions.
    """
    mapped = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, nn.Conv2d, AnalogLayer))
        and not isinstance(module, DigitalLinear)
    ]
    for _, module in mapped:
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            raise ValueError(f"groups: grouped convolutions ({module.groups}) are not supported")
    vectors = _input_vectors(model, mapped, input_shape) if input_shape is not None else {}
    if input_shape is None and any(module.weight.dim() == 4 for _, module in mapped):
        raise ValueError("input_shape: needed to count the MVMs of convolutional layers")

    layers = []
    for name, module in mapped:
        grid = TileGrid(
            module.weight[0].numel(), module.weight.shape[0], hw.tile_rows, hw.tile_cols
        )
        layers.append(
            LayerCost(
                name=name,
                kind="conv2d" if module.weight.dim() == 4 else "linear",
                rows=grid.rows,
                cols=grid.cols,
                row_tiles=grid.n_row_tiles,
                col_tiles=grid.n_col_tiles,
                mvms=vectors.get(name, 1),
                params=sum(p.numel() for p in module.parameters(recurse=False)),
            )
        )
    tiles = sum(layer.tiles for layer in layers)
    cells = sum(layer.rows * layer.cols for layer in layers)
    macs = sum(layer.rows * layer.cols * layer.mvms for layer in layers)
    return CostReport(
        tiles=tiles,
        utilization=cells / (tiles * hw.tile_rows * hw.tile_cols) if tiles else 0.0,
        mvms=sum(layer.mvms * layer.tiles for layer in layers),
        dac_conversions=sum(layer.rows * layer.mvms * layer.col_tiles for layer in layers),
        adc_conversions=sum(layer.cols * layer.mvms * layer.row_tiles for layer in layers),
        energy_nj=macs * ENERGY_PER_MAC_J * 1e9,
        latency_us=sum(layer.mvms for layer in layers) * MVM_LATENCY_S * 1e6,
        params=sum(p.numel() for p in model.parameters()),
        analog_params=sum(layer.params for layer in layers),
        layers=layers,
    )


def _input_vectors(
    model: nn.Module, mapped: list[tuple[str, nn.Module]], input_shape: tuple[int, ...]
) -> dict[str, int]:
    """Input vectors each mapped layer sees in one inference, from one exact forward pass."""
    vectors: dict[str, int] = {}

    def record(name: str, module: nn.Module, output: torch.Tensor) -> None:
        vectors[name] = output[0].numel() // module.weight.shape[0]

    hooks = [
        module.register_forward_hook(lambda m, i, out, name=name: record(name, m, out))
        for name, module in mapped
    ]
    was_training = model.training
    device = next(model.parameters()).device
    try:
        model.eval()
        with exact_weights(model):
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return vectors
