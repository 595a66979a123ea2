"""How many examples one batched pass should carry: fixed pass sizes against ``examples_per_pass``.

Run: .venv/bin/python bench/pass_size.py [--test-examples 2000]
ResNet-8 (untrained weights: the arithmetic does not depend on them) on pcm 256x256 tiles, on 8x8
digits and 28x28 Fashion-MNIST test images. For each task and number of programmed chips S, times
``evaluate`` at 3 drift times with passes of the old fixed ``2048 // S`` inputs (the baseline,
measured in the same run) and with the pass sized by ``examples_per_pass`` (the largest layer
output of one example into ``PASS_ELEMENTS``); then the digital accuracy pass of training's
validation, 512 inputs against the sized pass. Prints seconds and the speed-up of each.
"""

from __future__ import annotations

import argparse
import time

import torch

from search.baselines import RESNET8
from search.fidelity import Fidelity, task_at
from search.model import build_model
from search.tasks import load_task
from simulator import (
    HardwareConfig,
    calibrate_input_ranges,
    default_device,
    evaluate,
    exact_weights,
    examples_per_pass,
    to_analog,
)

TIMES = (1.0, 86400.0, 2592000.0)


def seconds(run, *args) -> float:
    start = time.perf_counter()
    run(*args)
    return time.perf_counter() - start


@torch.no_grad()
def digital_pass(model: torch.nn.Module, x: torch.Tensor, batch_size: int) -> None:
    with exact_weights(model):
        for batch in x.split(batch_size):
            model(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-examples", type=int, default=2000)
    args = parser.parse_args()
    device = default_device()
    hw = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    print(f"device {device}, {torch.get_num_threads()} threads, ResNet-8, pcm 256x256")
    print(
        f"{'task':14s} {'S':>3s} {'fixed pass':>11s} {'sized pass':>11s} {'s fixed':>8s} "
        f"{'s sized':>8s} {'speed-up':>8s}"
    )
    for name in ("digits", "fashion-mnist"):
        fidelity = Fidelity(test_examples=args.test_examples, epochs=1, mc_samples=1)
        task = task_at(load_task(name), fidelity, 0)
        model = to_analog(build_model(RESNET8, task, seed=0), hw).to(device).eval()
        calibrate_input_ranges(model, [x for x, _ in task.batches("train", 256, device=device)][:2])
        x, y = task.prepared("test", device)
        sized = examples_per_pass(model, x[:1])
        for chips in (4, 25):
            fixed_batch, sized_batch = max(1, 2048 // chips), max(1, sized // chips)

            fixed_s, sized_s = (
                seconds(evaluate, model, (x, y), hw, TIMES, chips, 0, None, batch)
                for batch in (fixed_batch, sized_batch)
            )
            print(
                f"{name:14s} {chips:3d} {fixed_batch * chips:11d} {sized_batch * chips:11d} "
                f"{fixed_s:8.2f} {sized_s:8.2f} {fixed_s / sized_s:7.2f}x"
            )
        fixed_s, sized_s = (seconds(digital_pass, model, x, batch) for batch in (512, sized))
        print(
            f"{name:14s} {'dig':>3s} {512:11d} {sized:11d} {fixed_s:8.2f} {sized_s:8.2f} "
            f"{fixed_s / sized_s:7.2f}x"
        )


if __name__ == "__main__":
    main()
