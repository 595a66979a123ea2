"""Per-epoch cost of data loading: splits prepared once (``Task.batches``) vs every batch
prepared in Python as it is drawn (the loader before issue 15), measured in the same run.

Run: .venv/bin/python bench/data_loading.py [--task fashion-mnist] [--train 10500] [--repeats 2]
Prints the time of one epoch of batches alone and of one epoch of ResNet-8 training (pcm preset,
hardware-aware noise, validation on 1 500 images) with each loader, and the ratio old / new.
Runs alternate old, new, new, old, ... so that a busy machine's drift hits both alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Iterator

import torch
from torch import Tensor

from search.baselines import RESNET8
from search.model import build_model
from search.tasks import Split, Task, load_task
from search.training import TrainConfig, train
from simulator import HardwareConfig, default_device

VAL_EXAMPLES = 1500


class PerBatchTask(Task):
    """The former loader: each batch indexed from the raw split and prepared as it is drawn."""

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str | None = None,
        limit: int | None = None,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        data = self.split(split)
        n = len(data) if limit is None else min(limit, len(data))
        order = (
            torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
            if shuffle
            else torch.arange(n)
        )
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            yield self.prepare(data.x[index], device), data.y[index].to(device)


def _head(split: Split, n: int) -> Split:
    return Split(split.x[:n], split.y[:n])


def _fresh(task: Task, loader: str) -> Task:
    """A copy of ``task`` with nothing prepared yet, served by the ``old`` or the ``new`` loader."""
    fields = {f.name: getattr(task, f.name) for f in dataclasses.fields(task) if f.init}
    return PerBatchTask(**fields) if loader == "old" else Task(**fields)


def _batches_seconds(task: Task, batch_size: int, device: torch.device) -> float:
    start = time.perf_counter()
    for x, _ in task.batches("train", batch_size, shuffle=True, seed=1, device=device):
        x.sum()  # touch every batch, as training would
    return time.perf_counter() - start


def _epoch_seconds(task: Task, hw: HardwareConfig, config: TrainConfig) -> float:
    model = build_model(RESNET8, task, seed=0)
    return train(model, task, hw, config).seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="fashion-mnist")
    parser.add_argument("--train", type=int, default=10_500, help="Training examples.")
    parser.add_argument("--repeats", type=int, default=2, help="Runs per loader.")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    device = default_device()
    task = load_task(args.task)
    task = dataclasses.replace(
        task, train=_head(task.train, args.train), val=_head(task.val, VAL_EXAMPLES)
    )
    hw = HardwareConfig.preset("pcm")
    config = TrainConfig(epochs=1, batch_size=args.batch_size)
    order = [name for i in range(args.repeats) for name in (("old", "new"), ("new", "old"))[i % 2]]
    print(
        f"{args.task}: {len(task.train)} training images, batch {args.batch_size}, "
        f"ResNet-8, pcm, 1 epoch, {device}, {args.repeats} runs per loader (median)"
    )
    for label, measure in (
        ("batches only", lambda task: _batches_seconds(task, args.batch_size, device)),
        ("training epoch", lambda task: _epoch_seconds(task, hw, config)),
    ):
        seconds: dict[str, list[float]] = {"old": [], "new": []}
        for name in order:
            seconds[name].append(measure(_fresh(task, name)))
        old, new = (statistics.median(seconds[name]) for name in ("old", "new"))
        print(f"{label:15s} old {old:8.3f} s   new {new:8.3f} s   old/new {old / new:6.2f}")


if __name__ == "__main__":
    main()
