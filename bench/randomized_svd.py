"""Randomized SVD on analog arrays: error against digital at equal rank, and cost.

Run: nice -n 10 .venv/bin/python bench/randomized_svd.py [--chips 8] [--epochs 4] [--quick]

Checks the claims of the seed (arXiv 2401.13754) for low-rank approximation with the products on
the crossbar (HMT 2011: range finder, B = Q^T A, small SVD in digital):

1. "accuracy similar to digital computers": the analog randomized SVD's error, mean over
   ``--chips`` programmed chips, is at most 1.2x the digital randomized SVD's at equal rank,
   oversampling, power iterations and probes (same seed), for PCM and RRAM 1 s and 1 day after
   programming (default 512x512 tiles, 8-bit DAC/ADC, output noise). Where it fails, the table
   gives the chip's noise floor: ||A_chip - A|| (A_chip read with identity probes) against the
   optimal rank-k error.
2. "orders of magnitude reduction in computation and energy": energy (and flops) of the analog
   randomized SVD against a dense digital SVD and against the same randomized SVD in digital,
   >= 100x; and, for using the factors, tiles and energy per MVM of the rank-k factors
   (k x n and m x k layers) against the dense matrix on the tiles.

Matrices: the three widest unrolled layers of ResNet-8 (search.baselines.RESNET8) trained on the
``digits`` task for ``--epochs`` epochs with plain torch (Adam), and synthetic 512 x 256 matrices
with polynomial (sigma_j = j^-1.5) and exponential (sigma_j = exp(-j/10)) spectra. Errors:
relative Frobenius ||A - U S V^T||_F / ||A||_F for the trained layers, spectral error over the
optimum sigma_{k+1} for the synthetic ones. Takes about 3 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn

from search.baselines import RESNET8
from search.model import build_model
from search.tasks import load_task
from simulator import AnalogMatrix, DigitalMatrix, HardwareConfig, default_device, randomized_svd
from simulator.cost import DIGITAL_ENERGY_PER_FLOP_J, ENERGY_PER_MAC_J
from simulator.randomized.accounting import svd_flops
from simulator.tiles import TileGrid

CHIPS = (("pcm", 1.0), ("pcm", 86400.0), ("rram", 1.0), ("rram", 86400.0))
SIMILAR = 1.2  # analog error / digital error counted as "similar accuracy"
ORDERS = 100.0  # "orders of magnitude": at least 100x


def chip_label(preset: str, t: float) -> str:
    return f"{preset} {'1 s' if t == 1.0 else '1 d'}"


def trained_layers(epochs: int, device: torch.device) -> tuple[list[tuple[str, Tensor]], float]:
    """The three widest unrolled weight matrices of ResNet-8 trained on digits, and its
    test accuracy."""
    task = load_task("digits")
    model = build_model(RESNET8, task, seed=0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        model.train()
        for x, y in task.batches("train", 64, shuffle=True, seed=epoch, device=device):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    model.eval()
    x, y = task.prepared("test", device)
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    convs.sort(key=lambda item: -item[1].weight.numel())
    layers = [(n, m.weight.detach().flatten(1).double()) for n, m in convs[:3]]
    return layers, accuracy


def spectrum_matrix(kind: str, m: int, n: int, device: torch.device) -> Tensor:
    g = torch.Generator(device=device).manual_seed(0)
    j = torch.arange(1, n + 1, dtype=torch.float64, device=device)
    sigma = j**-1.5 if kind == "polynomial" else torch.exp(-(j - 1) / 10)
    u = torch.linalg.qr(torch.randn(m, n, generator=g, dtype=torch.float64, device=device)).Q
    v = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64, device=device)).Q
    return (u * sigma) @ v.T


def operators(matrix: Tensor, chips: int) -> dict[str, object]:
    """The digital reference and every programmed chip configuration of ``matrix``."""
    ops: dict[str, object] = {"digital": DigitalMatrix(matrix, chips)}
    for preset, t in CHIPS:
        ops[chip_label(preset, t)] = AnalogMatrix(
            matrix, HardwareConfig.preset(preset), chips, seed=1
        ).drift(t, seed=1)
    return ops


def noise_floor(op: AnalogMatrix, matrix: Tensor, ord: str | int) -> float:
    """||A_chip - A|| / ||A||, mean over chips (A_chip read with identity probes)."""
    held = op.matmul(torch.eye(matrix.shape[1], dtype=matrix.dtype, device=matrix.device))
    norm = torch.linalg.matrix_norm
    return (norm(held - matrix, ord=ord) / norm(matrix, ord=ord)).mean().item()


def compare(ops: dict, rank: int, p: int, q: int, metric: str) -> dict[str, float]:
    return {
        label: randomized_svd(op, rank, p, q, seed=2).errors[metric].mean().item()
        for label, op in ops.items()
    }


def verdict(errors: dict[str, float], floors: dict[str, float], optimum: float) -> str:
    worst = max((label for label in errors if label != "digital"), key=errors.get)
    ratio = errors[worst] / errors["digital"]
    if ratio <= SIMILAR:
        return f"held (worst {worst} {ratio:.2f}x)"
    return (
        f"NOT held: {worst} {ratio:.2f}x; the chip's own error ||A_chip - A|| is "
        f"{floors[worst] / optimum:.2f}x the optimal error"
    )


def real_layer_table(layers: list[tuple[str, Tensor]], chips: int) -> None:
    labels = ["digital"] + [chip_label(*c) for c in CHIPS]
    print("\nTrained ResNet-8 layers: relative Frobenius error, mean over chips (p = 10, q = 1)")
    print(f"{'layer (m x n)':<28}{'k':>3}{'optimum':>9}" + "".join(f"{x:>10}" for x in labels))
    for name, matrix in layers:
        ops = operators(matrix, chips)
        floors = {
            label: noise_floor(op, matrix, "fro") for label, op in ops.items() if label != "digital"
        }
        sigma = torch.linalg.svdvals(matrix)
        shape = f"{name} ({matrix.shape[0]}x{matrix.shape[1]})"
        for rank in (k for k in (4, 8, 16, 32) if k + 5 <= min(matrix.shape)):
            p = min(10, min(matrix.shape) - rank)
            errors = compare(ops, rank, p, 1, "relative_frobenius")
            optimum = (sigma[rank:].norm() / sigma.norm()).item()
            cells = "".join(f"{errors[x]:>10.4f}" for x in labels)
            print(f"{shape:<28}{rank:>3}{optimum:>9.4f}{cells}  {verdict(errors, floors, optimum)}")


def synthetic_table(chips: int, device: torch.device, quick: bool) -> None:
    labels = ["digital"] + [chip_label(*c) for c in CHIPS]
    print("\nSynthetic 512 x 256: ||A - U S V^T||_2 / sigma_{k+1}, mean over chips")
    print(f"{'spectrum':<13}{'k':>3}{'p':>4}{'q':>3}" + "".join(f"{x:>10}" for x in labels))
    sweeps = [(k, 10, 1) for k in (5, 10, 20, 40)]
    sweeps += [(10, p, 1) for p in (0, 5, 20)] + [(10, 10, q) for q in (0, 2)]
    for kind in ("polynomial", "exponential"):
        matrix = spectrum_matrix(kind, 512, 256, device)
        ops = operators(matrix, chips)
        sigma = torch.linalg.svdvals(matrix)
        floors = {
            label: noise_floor(op, matrix, 2) for label, op in ops.items() if label != "digital"
        }
        for rank, p, q in sweeps[:3] if quick else sweeps:
            errors = compare(ops, rank, p, q, "spectral_to_optimal")
            floor = {
                label: value * sigma[0].item() / sigma[rank].item()
                for label, value in floors.items()
            }
            cells = "".join(f"{errors[x]:>10.3f}" for x in labels)
            print(f"{kind:<13}{rank:>3}{p:>4}{q:>3}{cells}  {verdict(errors, floor, 1.0)}")


def cost_table(layers: list[tuple[str, Tensor]], device: torch.device, quick: bool) -> None:
    print("\nCost per chip at rank 16, p = 10, q = 1 (pcm, 512x512 tiles); energy in uJ")
    header = (
        f"{'matrix':<22}{'tiles':>6}{'MVMs':>7}{'ADC conv':>10}{'dig. flops':>12}"
        f"{'analog':>9}{'dig.rSVD':>10}{'denseSVD':>10}{'x dense':>9}{'x rSVD':>8}"
        f"{'factor tiles':>14}{'factor E/MVM':>14}"
    )
    print(header)
    sizes = [(name, tuple(matrix.shape)) for name, matrix in layers[:1]]
    sizes += [("synthetic", (512, 256)), ("synthetic", (1024, 1024))]
    if not quick:
        sizes.append(("synthetic", (2048, 2048)))
    g = torch.Generator(device=device).manual_seed(3)
    verdicts = []
    for name, (m, n) in sizes:
        matrix = torch.randn(m, n, generator=g, dtype=torch.float64, device=device)
        hw = HardwareConfig.preset("pcm")
        analog = randomized_svd(AnalogMatrix(matrix, hw, 1, seed=1), 16, 10, 1).cost
        digital = randomized_svd(DigitalMatrix(matrix), 16, 10, 1).cost
        dense_nj = svd_flops(m, n) * DIGITAL_ENERGY_PER_FLOP_J * 1e9
        factor_tiles = (
            TileGrid(n, 16, hw.tile_rows, hw.tile_cols).n_tiles
            + TileGrid(16, m, hw.tile_rows, hw.tile_cols).n_tiles
        )
        dense_tiles = TileGrid(n, m, hw.tile_rows, hw.tile_cols).n_tiles
        factor_energy = 16 * (m + n) / (m * n)  # MACs per MVM, factors over dense
        x_dense, x_rsvd = dense_nj / analog.energy_nj, digital.energy_nj / analog.energy_nj
        print(
            f"{f'{name} {m}x{n}':<22}{analog.tiles:>6}{analog.analog_mvms:>7}"
            f"{analog.adc_conversions:>10}{analog.digital_flops:>12}"
            f"{analog.energy_nj / 1e3:>9.2f}{digital.energy_nj / 1e3:>10.2f}{dense_nj / 1e3:>10.1f}"
            f"{x_dense:>9.1f}{x_rsvd:>8.2f}{f'{factor_tiles}/{dense_tiles}':>14}"
            f"{factor_energy:>14.3f}"
        )
        verdicts.append((f"{name} {m}x{n}", x_dense, x_rsvd, analog))
    print(
        f"(analog: {ENERGY_PER_MAC_J * 1e12:.3f} pJ/MAC incl. periphery; digital: "
        f"{DIGITAL_ENERGY_PER_FLOP_J * 1e12:.1f} pJ/flop, arithmetic only)"
    )
    for label, x_dense, x_rsvd, analog in verdicts:
        share = analog.digital_energy_nj / analog.energy_nj
        dense = "held" if x_dense >= ORDERS else "NOT held"
        rsvd = "held" if x_rsvd >= ORDERS else "NOT held"
        print(
            f"  {label}: >= {ORDERS:.0f}x vs dense digital SVD {dense} ({x_dense:.1f}x); vs the "
            f"digital randomized SVD {rsvd} ({x_rsvd:.2f}x): the digital QR and small SVD are "
            f"{share:.0%} of the analog run's energy"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=8, help="programmed chips (Monte Carlo)")
    parser.add_argument("--epochs", type=int, default=4, help="ResNet-8 training epochs")
    parser.add_argument("--quick", action="store_true", help="fewer rows, for a smoke test")
    args = parser.parse_args()
    device = default_device()
    start = time.perf_counter()
    layers, accuracy = trained_layers(args.epochs, device)
    print(f"ResNet-8 on digits, {args.epochs} epochs: test accuracy {accuracy:.3f}")
    print(f"claim 1: analog error <= {SIMILAR}x digital at equal rank (same probes)")
    real_layer_table(layers[:1] if args.quick else layers, args.chips)
    synthetic_table(args.chips, device, args.quick)
    cost_table(layers, device, args.quick)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
