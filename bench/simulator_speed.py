"""Analog forward of a programmed, drifted 512x512 layer vs nn.Linear, and batched Monte Carlo.

Run: .venv/bin/python bench/simulator_speed.py
Prints the time of each and the ratios (measured in the same run, interleaved rounds, medians).
Target (issue 2): analog / linear <= 1.5 with every non-ideality of the pcm preset on.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from simulator import (
    HardwareConfig,
    calibrate_input_ranges,
    default_device,
    drift,
    program,
    to_analog,
)


def seconds_per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / calls


def compare(fns: dict[str, Callable[[], object]], rounds: int = 15, calls: int = 40):
    """Median seconds per call of each function, measured in interleaved rounds."""
    for fn in fns.values():  # warm up
        seconds_per_call(fn, 5)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(seconds_per_call(fn, calls))
    return {name: statistics.median(values) for name, values in samples.items()}


@torch.no_grad()
def main() -> None:
    device = default_device()
    torch.manual_seed(0)
    linear = nn.Linear(512, 512).to(device)
    x = torch.randn(256, 512, device=device)
    hw = HardwareConfig.preset("pcm")
    analog = to_analog(linear, hw).eval()
    calibrate_input_ranges(analog, [x])
    program(analog, seed=0)
    drift(analog, 86400.0, seed=1)
    times = compare({"nn.Linear": lambda: linear(x), "analog": lambda: analog(x)})
    print(f"device: {device}, threads: {torch.get_num_threads()}")
    print("512x512 layer, batch 256, pcm preset (8-bit DAC/ADC, output noise, drift 1 day,")
    print("global drift compensation, programming and read noise):")
    for name, seconds in times.items():
        print(f"  {name:10s} {seconds * 1e3:8.3f} ms")
    print(f"  ratio analog / nn.Linear: {times['analog'] / times['nn.Linear']:.2f} (target <= 1.5)")

    samples = 16
    batched = to_analog(linear, hw).eval()
    calibrate_input_ranges(batched, [x])
    program(batched, seed=0, n_samples=samples)
    drift(batched, 86400.0, seed=1)
    x_batched = x.repeat(samples, 1)
    singles = []
    for seed in range(samples):
        single = to_analog(linear, hw).eval()
        calibrate_input_ranges(single, [x])
        singles.append(drift(program(single, seed=seed), 86400.0, seed=seed))
    times = compare(
        {
            "one batched call": lambda: batched(x_batched),
            "loop of instances": lambda: [single(x) for single in singles],
        },
        rounds=5,
        calls=5,
    )
    print(f"\n{samples} Monte Carlo instances of the same layer, batch 256 each:")
    for name, seconds in times.items():
        print(f"  {name:18s} {seconds * 1e3:8.3f} ms")
    ratio = times["loop of instances"] / times["one batched call"]
    print(f"  speed-up of batching: {ratio:.2f}x")


if __name__ == "__main__":
    main()
