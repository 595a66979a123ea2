"""Verification of one architecture: train (hardware-aware), program, drift, Monte Carlo."""

from __future__ import annotations

import io
import time
from dataclasses import asdict, dataclass, field

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)
from torch import nn

from search.fidelity import HELD_OUT_SEED, Fidelity, balanced_subset, task_at
from search.model import build_model, trained_analog
from search.record import replay_record
from search.reprogramming import EXTENDED_TIMES
from search.space import ArchConfig
from search.stopping import check_stop
from search.tasks import Task
from search.training import TrainConfig, accuracy, train
from simulator import (
    DEFAULT_TIMES,
    HardwareConfig,
    PostTraining,
    calibrate_input_ranges,
    cost,
    default_device,
    evaluate,
    post_training_optimize,
    to_analog,
    to_digital,
)
from simulator.convert import analog_copy
from simulator.evaluate import EvaluationResult
from simulator.sensitivity import layer_sensitivity

ONE_SECOND, ONE_DAY, ONE_MONTH = 1.0, 86400.0, 2592000.0


class Analysis(BaseModel):
    """What a verification measures beyond its figures, for the questions asked next: the drift
    curve to 10 years (the reprogramming interval) and each layer's sensitivity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    times: tuple[float, ...] = Field(
        EXTENDED_TIMES, description="Drift grid of the reprogramming interval, from 1 s, seconds."
    )
    sensitivity_time: float = Field(ONE_DAY, gt=0, description="Drift time of the sensitivity.")
    max_digital_layers: int = Field(
        2, ge=0, le=16, description="Most layers the suggestion keeps digital."
    )
    test_examples: int | None = Field(
        2000,
        ge=10,
        description="Test examples of the drift grid and the sensitivity: a fixed class-balanced "
        "subset where the test split is larger (None: the whole split). Each analysis evaluates "
        "the test set a dozen or more times: on Fashion-MNIST's 10,000 images that would be "
        "minutes per candidate.",
    )

    @field_validator("times")
    @classmethod
    def _from_one_second(cls, times: tuple[float, ...]) -> tuple[float, ...]:
        times = tuple(sorted(set(times)))
        if not times or times[0] != ONE_SECOND:
            raise ValueError("the drift grid starts at 1 s, the interval's reference")
        return times


class Budget(BaseModel):
    """What one verification may spend; its fidelity (:attr:`fidelity`) is the part that makes
    figures comparable or not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: TrainConfig = Field(default_factory=TrainConfig)
    mc_samples: int = Field(25, ge=1, le=1000, description="Programmed chips per drift time.")
    train_examples: int | None = Field(
        None, ge=1, description="Class-balanced training subset (seeded by train.seed); None: all."
    )
    test_examples: int | None = Field(
        None, ge=1, description="Class-balanced validation and test subsets; None: all."
    )
    times: tuple[float, ...] = Field(DEFAULT_TIMES, description="Drift times, seconds.")
    calibration_examples: int = Field(512, ge=1, description="Training examples for DAC ranges.")
    post_training: PostTraining | None = Field(
        default_factory=PostTraining,
        description="Post-training optimisation of column and DAC ranges; None skips it.",
    )
    analysis: Analysis | None = Field(
        None, description="Reprogramming curve and layer sensitivity too; None skips them."
    )

    @field_validator("times")
    @classmethod
    def _needed_times(cls, times: tuple[float, ...]) -> tuple[float, ...]:
        if any(t < 0 for t in times):
            raise ValueError("drift times must be >= 0")
        missing = {ONE_SECOND, ONE_DAY, ONE_MONTH} - set(times)
        if missing:
            raise ValueError(f"must include 1 s, 1 day and 1 month (missing {sorted(missing)})")
        return tuple(sorted(set(times)))

    @model_serializer(mode="wrap")
    def _whole_splits_as_before(self, handler: SerializerFunctionWrapHandler) -> dict:
        # budgets on whole splits dump (and hash) as before fidelities existed: stored and
        # shipped surrogate rows keep their keys
        data = handler(self)
        for name in ("train_examples", "test_examples", "analysis"):
            if data.get(name, 0) is None:
                data.pop(name)
        return data

    @property
    def fidelity(self) -> Fidelity:
        return Fidelity(
            train_examples=self.train_examples,
            test_examples=self.test_examples,
            epochs=self.train.epochs,
            mc_samples=self.mc_samples,
        )


@dataclass
class VerificationResult:
    """Verified figures of one architecture on one task and chip."""

    arch_id: str
    arch: dict
    task: str
    hardware: dict
    times: tuple[float, ...]
    accuracy_mean: tuple[float, ...]
    accuracy_std: tuple[float, ...]
    accuracy_1d: float
    avm: float  # accuracy at 1 s minus accuracy at 1 month
    digital_accuracy: float
    cost: dict
    train_seconds: float
    eval_seconds: float
    epochs: int
    curves: list[dict[str, float]] = field(default_factory=list)
    # examples actually used (train, test), epochs and chips; empty in results from before
    fidelity: dict[str, int] = field(default_factory=dict)
    weights: bytes = b""  # torch.save of the trained analog model's state_dict
    trained_on: dict | None = None  # the chip it was trained for, when not ``hardware``
    # with ``Budget.analysis``: accuracy over the drift grid to 10 years (times, mean, std,
    # seconds) and the layers' sensitivity (``SensitivityReport.to_dict``); empty without
    drift: dict = field(default_factory=dict)
    sensitivity: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)  # what reproduces it (search.record)

    def accuracy_at(self, t: float) -> tuple[float, float]:
        i = self.times.index(t)
        return self.accuracy_mean[i], self.accuracy_std[i]

    def to_dict(self, with_weights: bool = False) -> dict:
        """Plain data (JSON-ready without the weights, which only travel between processes)."""
        data = asdict(self)
        if not with_weights:
            data.pop("weights")
        return data

    @classmethod
    def from_dict(cls, data: dict) -> VerificationResult:
        fields = {**data}
        for name in ("times", "accuracy_mean", "accuracy_std"):
            fields[name] = tuple(fields[name])
        return cls(**fields)


@dataclass
class Trained:
    """A candidate trained at a budget's fidelity, to be measured on one chip or many."""

    cfg: ArchConfig
    task: Task  # at the budget's fidelity
    hardware: HardwareConfig  # the chip it was trained for (hardware-aware noise, tiles)
    model: nn.Module  # analog on ``hardware``, eval mode
    digital_accuracy: float
    seconds: float
    epochs: int
    curves: list[dict[str, float]]


def train_candidate(
    cfg: ArchConfig, task: Task, hw: HardwareConfig, budget: Budget | None = None
) -> Trained:
    """Train ``cfg`` on ``task`` for ``hw`` at the budget's fidelity (subsets of the task's
    splits, training subset drawn with the training seed)."""
    budget = budget or Budget()
    seed = budget.train.seed
    task = task_at(task, budget.fidelity, seed)
    trained = train(build_model(cfg, task, seed=seed), task, hw, budget.train)
    digital = accuracy(trained.model, task, "test", default_device())
    return Trained(
        cfg, task, hw, trained.model, digital, trained.seconds, trained.epochs, trained.curves
    )


def restore_trained(
    cfg: ArchConfig,
    task: Task,
    weights: bytes,
    saved_on: HardwareConfig,
    trained_on: HardwareConfig,
    budget: Budget | None = None,
    epochs: int = 0,
) -> Trained:
    """A verified candidate's network as :func:`train_candidate` left it, from its stored
    ``weights`` (the state dict of its analog model on ``saved_on``): the trained weights kept,
    the ranges its measurement optimised dropped, for :func:`measure` to set them again on the
    chip it programs. Nothing is trained (``seconds`` 0; ``epochs``: those it was trained for)."""
    budget = budget or Budget()
    task = task_at(task, budget.fidelity, budget.train.seed)
    device = default_device()
    stored = trained_analog(cfg, task, saved_on, weights)
    model = to_analog(to_digital(stored), trained_on).to(device).eval()
    digital = accuracy(model, task, "test", device)
    return Trained(cfg, task, trained_on, model, digital, 0.0, epochs, [])


def measure(
    trained: Trained, hw: HardwareConfig, budget: Budget | None = None
) -> VerificationResult:
    """The accuracy over drift time of a trained candidate programmed on ``hw`` (which may differ
    from the chip it was trained for): DAC ranges calibrated on training data, post-training
    range optimisation, Monte Carlo over ``budget.mc_samples`` chips; with ``budget.analysis``
    the drift grid to 10 years and the layer sensitivity too; the replay record always.
    ``trained`` is left as it is; the same seed gives the same figures whichever way the model
    got here."""
    budget = budget or Budget()
    check_stop()
    device = default_device()
    seed = budget.train.seed
    task = trained.task
    start = time.perf_counter()
    if hw == trained.hardware:
        analog = analog_copy(trained.model, hw)
    else:
        analog = to_analog(to_digital(trained.model), hw).eval()
    calibration = [
        x for x, _ in task.batches("train", 256, device=device, limit=budget.calibration_examples)
    ]
    if hw.input_range is None:  # DAC ranges from training data, kept in the exported weights
        calibrate_input_ranges(analog, calibration)
    if budget.post_training is not None:  # optimised ranges, kept in the exported weights too
        analog = post_training_optimize(
            analog, hw, torch.cat(calibration), budget.post_training, seed
        )
    check_stop()
    test = (task.prepare(task.test.x, device), task.test.y.to(device))
    result = evaluate(analog, test, hw, budget.times, budget.mc_samples, seed)
    eval_seconds = time.perf_counter() - start
    mean = dict(zip(result.times, result.mean, strict=True))
    drift, sensitivity = (
        _analyses(analog, test, hw, budget, result) if budget.analysis else ({}, {})
    )
    fidelity = budget.fidelity.model_copy(
        update={"train_examples": len(task.train), "test_examples": len(task.test)}
    ).model_dump()
    return VerificationResult(
        arch_id=trained.cfg.id,
        arch=trained.cfg.model_dump(mode="json"),
        task=task.name,
        hardware=hw.model_dump(mode="json"),
        times=result.times,
        accuracy_mean=result.mean,
        accuracy_std=result.std,
        accuracy_1d=mean[ONE_DAY],
        avm=mean[ONE_SECOND] - mean[ONE_MONTH],
        digital_accuracy=trained.digital_accuracy,
        cost=cost(analog, hw, task.input_shape).to_dict(),
        train_seconds=trained.seconds,
        eval_seconds=eval_seconds,
        epochs=trained.epochs,
        curves=trained.curves,
        fidelity=fidelity,
        weights=_state_bytes(analog),
        trained_on=None if hw == trained.hardware else trained.hardware.model_dump(mode="json"),
        drift=drift,
        sensitivity=sensitivity,
        record=replay_record(
            trained.cfg,
            task,
            hw,
            trained.hardware,
            budget.model_dump(mode="json"),
            fidelity,
        ),
    )


def _analyses(
    analog: nn.Module,
    test: tuple[torch.Tensor, torch.Tensor],
    hw: HardwareConfig,
    budget: Budget,
    verified: EvaluationResult,
) -> tuple[dict, dict]:
    """The budget's analysis of a measured model: its accuracy over the drift grid (times,
    mean, std; ``seconds``: what it cost) and its layers' sensitivity, on the analysis's test
    subset. Where that is the whole test split, the grid's times the verification measured are
    taken from it: the same seed reads the same chips at a time, so they are what a new
    evaluation would give."""
    analysis, seed = budget.analysis, budget.train.seed
    start = time.perf_counter()
    labels = test[1]
    if analysis.test_examples is not None and analysis.test_examples < len(labels):
        index = balanced_subset(labels, analysis.test_examples, HELD_OUT_SEED).to(labels.device)
        test = (test[0][index], labels[index])
        verified = EvaluationResult((), ())  # measured on other images: not reused
    extra = [t for t in analysis.times if t not in verified.times]
    results = [verified]
    if extra:
        results.append(evaluate(analog, test, hw, extra, budget.mc_samples, seed))
    points = {
        t: (m, s)
        for result in results
        for t, m, s in zip(result.times, result.mean, result.std, strict=True)
    }
    drift = {
        "times": list(analysis.times),
        "mean": [points[t][0] for t in analysis.times],
        "std": [points[t][1] for t in analysis.times],
        "seconds": time.perf_counter() - start,
    }
    check_stop()
    sensitivity = layer_sensitivity(
        analog,
        test,
        hw,
        analysis.sensitivity_time,
        budget.mc_samples,
        seed,
        analysis.max_digital_layers,
    )
    return drift, sensitivity.to_dict()


def verify(
    cfg: ArchConfig, task: Task, hw: HardwareConfig, budget: Budget | None = None
) -> VerificationResult:
    """Train ``cfg`` on ``task`` for ``hw`` and measure its accuracy over drift time, at the
    budget's fidelity."""
    return measure(train_candidate(cfg, task, hw, budget), hw, budget)


def verify_on_chips(
    cfg: ArchConfig,
    task: Task,
    chips: list[HardwareConfig],
    budget: Budget | None = None,
    trained_on: HardwareConfig | None = None,
) -> list[VerificationResult]:
    """Train ``cfg`` once (for ``trained_on``, default the first chip) and measure it on every
    chip: most of a verification's cost is training, and the chip mostly enters after it."""
    if not chips:
        raise ValueError("chips: give at least one chip")
    trained = train_candidate(cfg, task, trained_on or chips[0], budget)
    return [measure(trained, hw, budget) for hw in chips]


def _state_bytes(model: torch.nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getvalue()
