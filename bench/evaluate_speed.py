"""Time ``evaluate`` of a small ResNet-like model on 8x8 digits: 25 noise draws x 5 drift times.

Run: .venv/bin/python bench/evaluate_speed.py
Trains the model for a few seconds (hardware-aware), then evaluates it under the pcm preset with
all 25 programmed instances in batched passes, and, as the baseline of the same run, with 25
separate single-instance evaluations. Prints both times, their ratio, and the accuracies.
"""

from __future__ import annotations

import time

import torch
from sklearn.datasets import load_digits
from torch import nn

from simulator import (
    HardwareConfig,
    HWATraining,
    default_device,
    evaluate,
    exact_weights,
    to_analog,
)

TIMES = {"1 s": 1.0, "1 h": 3600.0, "1 day": 86400.0, "1 month": 2592000.0, "1 year": 31536000.0}


class Block(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(channels_out),
            nn.ReLU(),
            nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels_out),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and channels_in == channels_out
            else nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def small_resnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        Block(16, 16, 1),
        Block(16, 32, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


def digits(device: torch.device):
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32, device=device).view(-1, 1, 8, 8) / 16.0
    y = torch.tensor(y, device=device)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)).to(device)
    x, y = x[order], y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def train(model: nn.Module, data, epochs: int = 30) -> nn.Module:
    x, y = data
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), device=x.device).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()


def main() -> None:
    device = default_device()
    torch.manual_seed(0)
    train_data, test_data = digits(device)
    hw = HardwareConfig.preset("pcm")
    start = time.perf_counter()
    model = train(
        to_analog(small_resnet().to(device), hw, HWATraining(weight_noise=0.1)), train_data
    )
    print(f"device: {device}; trained (hardware-aware) in {time.perf_counter() - start:.1f} s")
    times = tuple(TIMES.values())
    start = time.perf_counter()
    batched = evaluate(model, test_data, hw, times=times, n_samples=25, seed=0)
    batched_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for seed in range(25):
        evaluate(model, test_data, hw, times=times, n_samples=1, seed=100 + seed)
    loop_seconds = time.perf_counter() - start
    print(f"evaluate, 25 draws x 5 drift times on {len(test_data[0])} test digits:")
    print(f"  batched (25 instances per pass): {batched_seconds:6.2f} s")
    print(f"  baseline, 25 single evaluations: {loop_seconds:6.2f} s")
    print(f"  speed-up of batching: {loop_seconds / batched_seconds:.2f}x")
    print("pcm accuracy (mean +- std over 25 programmed chips):")
    for (label, _), mean, std in zip(TIMES.items(), batched.mean, batched.std, strict=True):
        print(f"  {label:8s} {100 * mean:6.2f} % +- {100 * std:.2f}")
    x, y = test_data
    with torch.no_grad(), exact_weights(model):
        digital = (model(x).argmax(1) == y).float().mean().item()
    print(f"  digital  {100 * digital:6.2f} % (the same weights, exact)")


if __name__ == "__main__":
    main()
