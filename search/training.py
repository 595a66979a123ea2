"""Seeded, CPU-friendly (hardware-aware) training with early stopping on validation accuracy."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from torch import nn

from search.stopping import check_stop
from search.tasks import Task
from simulator import (
    HardwareConfig,
    HWATraining,
    default_device,
    exact_weights,
    examples_per_pass,
    to_analog,
    use_reproducible_kernels,
)
from simulator.pulsed import PulsedConfig, PulsedSGD, to_digital, to_pulsed
from simulator.streams import derive_seed


class InSituTraining(BaseModel):
    """In-situ analog training: the weights change only by pulses on the devices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pulsed: PulsedConfig = Field(
        default_factory=lambda: PulsedConfig.preset("rram_zero_shift"),
        description="Pulsed devices, their periphery and the pulse update.",
    )
    lr: float = Field(0.5, gt=0, le=100, description="SGD learning rate of the pulse updates.")


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
    in_situ: InSituTraining | None = Field(
        None, description="Train by pulses on pulsed devices (None: digital training)."
    )

    @model_serializer(mode="wrap")
    def _digital_without_in_situ(self, handler: SerializerFunctionWrapHandler) -> dict:
        # digital configurations dump (and hash) as before in-situ training existed
        data = handler(self)
        if self.in_situ is None:
            data.pop("in_situ", None)
        return data


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
    correct, total = torch.zeros((), dtype=torch.long, device=device), 0
    x_all, _ = task.prepared(split, device)
    batch_size = examples_per_pass(model, x_all[:1])
    with exact_weights(model):
        for x, y in task.batches(split, batch_size, device=device):
            correct += (model(x).argmax(1) == y).sum()  # summed on the device: no wait per batch
            total += len(y)
    model.train(was_training)
    return int(correct) / max(total, 1)


def train(
    model: nn.Module, task: Task, hw: HardwareConfig, config: TrainConfig | None = None
) -> TrainResult:
    """Convert ``model`` to ``hw``'s analog layers and train it (noise injected per mini-batch).

    With ``config.in_situ`` the layers train on pulsed devices instead (weights change only by
    pulses; validation reads the pulsed tiles), and the best epoch's device weights become the
    analog inference model.
    """
    config = config or TrainConfig()
    device = default_device()
    use_reproducible_kernels()
    torch.manual_seed(derive_seed(config.seed, "training"))  # HWA noise: not the init's stream
    if config.in_situ is not None:
        on_device = copy.deepcopy(model).to(device)  # the tiles are made where the weights are
        analog = to_pulsed(on_device, config.in_situ.pulsed, seed=config.seed)
        optimizer: torch.optim.Optimizer = PulsedSGD(analog, lr=config.in_situ.lr)
    else:
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
        total_loss, seen = torch.zeros((), dtype=torch.float64, device=device), 0
        for x, y in task.batches(
            "train",
            config.batch_size,
            shuffle=True,
            seed=config.seed * 100_003 + epoch,
            device=device,
        ):
            check_stop()
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(analog(x), y)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach().double() * len(y)  # on the device: no wait per batch
            seen += len(y)
        schedule.step()
        val_accuracy = accuracy(analog, task, "val", device)
        curves.append(
            {"epoch": epoch, "train_loss": float(total_loss) / seen, "val_accuracy": val_accuracy}
        )
        if val_accuracy > best_accuracy:
            best_accuracy, best_epoch = val_accuracy, epoch
            best_state = (
                to_digital(analog) if config.in_situ else copy.deepcopy(analog.state_dict())
            )
        out_of_time = config.max_seconds and time.perf_counter() - start > config.max_seconds
        if epoch - best_epoch >= config.patience or out_of_time:
            break
    if config.in_situ is not None:
        analog = to_analog(best_state, hw)
    else:
        analog.load_state_dict(best_state)
    return TrainResult(
        analog.eval(), best_accuracy, best_epoch, epoch, time.perf_counter() - start, curves
    )
