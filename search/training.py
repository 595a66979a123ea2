"""Seeded, CPU-friendly (hardware-aware) training with early stopping on validation accuracy."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from search.tasks import Task
from simulator import HardwareConfig, HWATraining, default_device, exact_weights, to_analog


class TrainConfig(BaseModel):
    """How to train one candidate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(30, ge=1, le=1000)
    batch_size: int = Field(64, ge=1, le=65536)
    lr: float = Field(3e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(5, ge=1, description="Epochs without validation gain before stopping.")
    hwa: HWATraining | None = Field(
        default_factory=HWATraining, description="Hardware-aware noise; None trains without it."
    )
    seed: int = 0
    max_seconds: float | None = Field(None, gt=0, description="Stop after this much time.")


@dataclass
class TrainResult:
    """The trained (analog) model at its best validation epoch, and the curves."""

    model: nn.Module
    val_accuracy: float
    best_epoch: int
    epochs: int
    seconds: float
    curves: list[dict[str, float]] = field(default_factory=list)


@torch.no_grad()
def accuracy(model: nn.Module, task: Task, split: str, device: torch.device) -> float:
    """Digital accuracy (exact float weights) of ``model`` on a split."""
    was_training = model.training
    model.eval()
    correct = total = 0
    with exact_weights(model):
        for x, y in task.batches(split, 512, device=device):
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def train(
    model: nn.Module, task: Task, hw: HardwareConfig, config: TrainConfig | None = None
) -> TrainResult:
    """Convert ``model`` to ``hw``'s analog layers and train it (noise injected per mini-batch)."""
    config = config or TrainConfig()
    device = default_device()
    torch.manual_seed(config.seed)
    analog = to_analog(model, hw, config.hwa).to(device)
    optimizer = torch.optim.AdamW(
        analog.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    start = time.perf_counter()
    best_accuracy, best_epoch, best_state = -1.0, 0, None
    curves: list[dict[str, float]] = []
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        analog.train()
        total_loss, seen = 0.0, 0
        for x, y in task.batches(
            "train",
            config.batch_size,
            shuffle=True,
            seed=config.seed * 100_003 + epoch,
            device=device,
        ):
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(analog(x), y)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(y)
            seen += len(y)
        schedule.step()
        val_accuracy = accuracy(analog, task, "val", device)
        curves.append(
            {"epoch": epoch, "train_loss": total_loss / seen, "val_accuracy": val_accuracy}
        )
        if val_accuracy > best_accuracy:
            best_accuracy, best_epoch = val_accuracy, epoch
            best_state = copy.deepcopy(analog.state_dict())
        out_of_time = config.max_seconds and time.perf_counter() - start > config.max_seconds
        if epoch - best_epoch >= config.patience or out_of_time:
            break
    analog.load_state_dict(best_state)
    return TrainResult(
        analog.eval(), best_accuracy, best_epoch, epoch, time.perf_counter() - start, curves
    )
