"""Sketched least squares with the Gaussian sketch programmed on analog tiles.

Run: nice -n 10 .venv/bin/python bench/randomized_lstsq.py [--draws 24] [--quick]

Problems: A (2048 x 32, condition number 1e3) and b = A x0 + noise, with the optimal residual
||A x* - b|| at 50 % of ||b|| ("noisy") or 1 % ("nearly consistent"). Each line takes ``--draws``
independent sketches G (s x 2048, N(0, 1/s)): exact in digital, or each programmed on its own
chip (pcm, rram; read 1 s or 1 day after programming; "devices only": PCM programming noise,
drift and read noise but exact converters and no output noise). The columns of
[A b] stream through the programmed sketch; "read" is the read-to-read noise of G b (two reads of
the same vector), relative to ||G b||.

Claims checked, per line:
1. sketch-and-solve reaches (1 + eps) x the optimal residual, eps = sqrt(1 + n / (s - n - 1)) - 1
   (the expected ratio of an exact Gaussian sketch; Sarlos 2006 / Woodruff 2014 give (1 + eps)
   with s = O(n / eps)); E[ratio] <= 1 + eps by Jensen: held when the mean ratio over the draws is
   within 1 + eps + 2 standard errors.
2. "programming noise only changes which random matrix was drawn": the devices-only sketch
   behaves like a digital one (mean ratio within 1 + eps as well).
3. sketch-preconditioned CGLS (Blendenpik / LSRN; R from the QR of the analog sketch, iterations
   in digital) reaches the exact solution (ratio - 1 < 1e-8) whatever the sketch's noise, the noise
   costing at most a few iterations.
Cost: energy per solve and chip (the sketch on the tiles or in digital, QR and CGLS in digital)
against a dense Householder QR solve. Takes about 8 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import Tensor

from simulator import (
    HardwareConfig,
    default_device,
    gaussian_sketch,
    sketch_and_solve,
    sketch_preconditioned_lstsq,
)
from simulator.cost import DIGITAL_ENERGY_PER_FLOP_J
from simulator.randomized.accounting import qr_flops

M, N = 2048, 32
EXACT_PERIPHERY = {"out_noise": 0.0, "dac_bits": None, "adc_bits": None, "out_bound": None}
SKETCHES = (
    ("digital", None, 0.0),
    ("pcm 1 s", HardwareConfig.preset("pcm"), 1.0),
    ("pcm 1 d", HardwareConfig.preset("pcm"), 86400.0),
    ("pcm 1 d devices only", HardwareConfig.preset("pcm", **EXACT_PERIPHERY), 86400.0),
    ("rram 1 s", HardwareConfig.preset("rram"), 1.0),
    ("rram 1 d", HardwareConfig.preset("rram"), 86400.0),
)


def problem(residual_share: float, device: torch.device) -> tuple[Tensor, Tensor]:
    """A with condition number 1e3 and b whose optimal residual is ``residual_share`` of ||b||."""
    g = torch.Generator(device=device).manual_seed(0)
    q = torch.linalg.qr(torch.randn(M, N, generator=g, dtype=torch.float64, device=device)).Q
    v = torch.linalg.qr(torch.randn(N, N, generator=g, dtype=torch.float64, device=device)).Q
    a = (q * torch.logspace(0, -3, N, dtype=torch.float64, device=device)) @ v.T
    fit = a @ torch.randn(N, generator=g, dtype=torch.float64, device=device)
    noise = torch.randn(M, generator=g, dtype=torch.float64, device=device)
    noise -= q @ (q.T @ noise)  # orthogonal to the range: the optimal residual exactly
    noise *= fit.norm() * residual_share / math.sqrt(1 - residual_share**2) / noise.norm()
    return a, fit + noise


def run(a: Tensor, b: Tensor, s: int, hw, t: float, draws: int) -> dict[str, float]:
    """Sketch-and-solve and preconditioned CGLS with ``draws`` independent sketches (each a new
    random matrix, programmed on its own chip when analog)."""
    ratios, exact, iterations, conditions, read_noise = [], [], [], [], []
    energy = {"plain": 0.0, "preconditioned": 0.0}
    for seed in range(draws):
        sketch = gaussian_sketch(s, M, hw, 1, seed, a.device)
        if hw is not None:
            sketch.drift(t, seed)
            first, second = sketch.matmul(b[:, None]), sketch.matmul(b[:, None])
            read_noise.append(((first - second).norm() / math.sqrt(2) / first.norm()).item())
        plain = sketch_and_solve(a, b, sketch)
        preconditioned = sketch_preconditioned_lstsq(a, b, sketch)
        ratios.append(plain.errors["residual_ratio"])
        exact.append((preconditioned.errors["residual_ratio"] - 1).abs())
        iterations.append(preconditioned.errors["iterations"].double())
        conditions.append(preconditioned.errors["condition_number"])
        energy["plain"] += plain.cost.energy_nj / draws / 1e3
        energy["preconditioned"] += preconditioned.cost.energy_nj / draws / 1e3
    ratios = torch.cat(ratios)
    return {
        "mean": ratios.mean().item(),
        "error": 2 * ratios.std().item() / math.sqrt(len(ratios)),
        "max": ratios.max().item(),
        "exact": torch.cat(exact).max().item(),
        "iterations": torch.cat(iterations).mean().item(),
        "condition": torch.cat(conditions).mean().item(),
        "read_noise": sum(read_noise) / len(read_noise) if read_noise else 0.0,
        **energy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=24, help="sketches (and chips) per line")
    parser.add_argument("--quick", action="store_true", help="fewer rows, for a smoke test")
    args = parser.parse_args()
    device = default_device()
    start = time.perf_counter()
    dense_uj = (qr_flops(M, N, with_q=False) + 4 * M * N + N * N) * DIGITAL_ENERGY_PER_FLOP_J * 1e6
    print(f"A: {M} x {N}, condition number 1e3; {args.draws} sketches per line (analog: each")
    print("programmed on its own chip)")
    print(f"dense Householder QR solve in digital: {dense_uj:.1f} uJ; E: energy per solve (uJ)")
    print(
        f"{'problem':<18}{'s':>4}{'1+eps':>7}  {'sketch':<21}{'read':>6}{'S&S mean':>9}{'+-2SE':>7}"
        f"{'max':>7}{'E':>6}{'|r/r*-1| pre':>13}{'iters':>6}{'kappa':>6}{'E':>6}  claims"
    )
    for name, share in (("noisy", 0.5), ("nearly consistent", 0.01)):
        a, b = problem(share, device)
        for s in (64, 256) if args.quick else (64, 128, 256, 512):
            target = math.sqrt(1 + N / (s - N - 1))
            digital_iterations = None
            for label, hw, t in SKETCHES[:3] if args.quick else SKETCHES:
                row = run(a, b, s, hw, t, args.draws)
                digital_iterations = digital_iterations or row["iterations"]
                plain = "held" if row["mean"] <= target + row["error"] else "NOT held"
                precise = "held" if row["exact"] < 1e-8 else "NOT held"
                extra = row["iterations"] - digital_iterations
                print(
                    f"{name:<18}{s:>4}{target:>7.3f}  {label:<21}{row['read_noise']:>6.1%}"
                    f"{row['mean']:>9.3f}{row['error']:>7.3f}{row['max']:>7.3f}"
                    f"{row['plain']:>6.1f}{row['exact']:>13.0e}{row['iterations']:>6.1f}"
                    f"{row['condition']:>6.1f}{row['preconditioned']:>6.1f}  (1+eps) {plain}; "
                    f"preconditioned exact {precise} ({extra:+.1f} iterations)"
                )
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
