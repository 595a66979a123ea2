"""Request and response bodies of the REST API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from search.collect import task_collection_budget
from search.driver import Constraints, Objective
from search.reprogramming import Reprogramming
from search.space import RANK_FRACTIONS, SearchSpace
from search.tasks import BUILTIN_TASKS
from search.training import InSituTraining, TrainConfig
from search.verify import Analysis, Budget
from service.errors import scrub_paths
from simulator import HardwareConfig, PostTraining
from simulator.pulsed import PulsedConfig
from simulator.sensitivity import SensitivityReport

DATASET_TASK = re.compile(r"dataset-[0-9a-f]{32}")


CHIP_OVERRIDES = tuple(
    name for name in HardwareConfig.model_fields if name not in ("device", "tile_rows", "tile_cols")
)
"""The fields of :class:`HardwareConfig` a job may set over its preset (device and tile geometry
are the preset and the tile fields themselves)."""
ZERO_MEANS = {
    "dac_bits": "exact",
    "adc_bits": "exact",
    "input_range": "calibrated",
    "out_bound": "none",
}
"""Overrides whose 0 stands for HardwareConfig's None (exact converter, calibrated input range, no
output bound), so that a form and JSON can say it while empty/null keeps the preset's value."""
CHIP_OVERRIDE_EXTRA = {"x-group": "Chip overrides", "x-empty": "preset's value"}


def _override(title: str, description: str, **constraints: Any) -> Any:
    """An optional override of the preset's value of the HardwareConfig field of the same name."""
    return Field(
        None,
        title=title,
        description=f"{description} Empty: the preset's value.",
        json_schema_extra=CHIP_OVERRIDE_EXTRA,
        allow_inf_nan=False,
        **constraints,
    )


class HardwareSpec(BaseModel):
    """The chip: a preset, its tile geometry, the job's hard limits, and overrides of the preset."""

    model_config = ConfigDict(extra="forbid", title="Hardware")

    preset: Literal["pcm", "rram", "ideal"] = Field(
        "pcm", title="Device preset", description="Device physics: PCM, RRAM or ideal devices."
    )
    tile_rows: int = Field(256, gt=0, le=4096, title="Tile rows", description="Crossbar inputs.")
    tile_cols: int = Field(
        256, gt=0, le=4096, title="Tile columns", description="Crossbar outputs."
    )
    max_tiles: int | None = Field(
        64, ge=1, le=100_000, title="Max tiles", description="Tiles on the chip (empty: no limit)."
    )
    max_params: int | None = Field(None, ge=1, title="Max parameters")
    max_energy_nj: float | None = Field(
        None, gt=0, title="Max energy (nJ)", description="Per inference."
    )
    max_latency_us: float | None = Field(
        None, gt=0, title="Max latency (µs)", description="Per inference."
    )
    training_device: Literal["ideal", "linear_step", "soft_bounds", "rram", "rram_zero_shift"] = (
        Field(
            "rram_zero_shift",
            title="Training device",
            description="Pulsed device preset of in-situ (analog) training.",
        )
    )
    g_max: float | None = _override(
        "Max conductance (µS)", "Largest programmable conductance.", gt=0
    )
    dac_bits: int | None = _override(
        "DAC bits", "Input DAC resolution; 0 = exact inputs.", ge=0, le=24
    )
    adc_bits: int | None = _override(
        "ADC bits", "Output ADC resolution; 0 = exact outputs.", ge=0, le=24
    )
    input_range: float | None = _override(
        "DAC input range",
        "DAC full scale in activation units; 0 = calibrated per tile from data.",
        ge=0,
    )
    out_bound: float | None = _override(
        "Output bound",
        "ADC full scale in normalized units (a full-scale input on a device at g_max gives 1); "
        "0 = no bound, only with an exact ADC (ADC bits 0).",
        ge=0,
    )
    out_noise: float | None = _override(
        "Output noise", "Std of additive output noise, normalized units; 0 = none.", ge=0
    )
    prog_noise_scale: float | None = _override(
        "Programming noise scale", "Multiplier of the device's programming noise.", ge=0
    )
    read_noise_scale: float | None = _override(
        "Read noise scale", "Multiplier of the device's read (1/f) noise.", ge=0
    )
    drift_scale: float | None = _override(
        "Drift scale", "Multiplier of the device's drift exponent.", ge=0
    )
    drift_compensation: bool | None = _override(
        "Drift compensation", "Global drift compensation per tile."
    )
    column_scaling: bool | None = _override(
        "Column scaling", "One weight-to-conductance scale per column (off: one per tile)."
    )

    @model_validator(mode="after")
    def _valid_chip(self) -> HardwareSpec:
        """The chip is built here, so that its own rules (an ADC needs an output bound) are 422s
        naming the field, not failures of the job."""
        try:
            self.config()
        except ValidationError as error:
            raise _located(error) from None
        return self

    def config(self) -> HardwareConfig:
        """The chip: the preset with this spec's tile geometry and the overrides given."""
        return HardwareConfig.preset(self.preset, **self._config_fields())

    def _config_fields(self) -> dict[str, Any]:
        """What this spec sets over its preset, in HardwareConfig's terms (0 -> None)."""
        given = {name: getattr(self, name) for name in ("tile_rows", "tile_cols", *CHIP_OVERRIDES)}
        return {
            name: None if name in ZERO_MEANS and value == 0 else value
            for name, value in given.items()
            if value is not None
        }

    def constraints(self) -> Constraints:
        return Constraints(
            max_tiles=self.max_tiles,
            max_params=self.max_params,
            max_energy_nj=self.max_energy_nj,
            max_latency_us=self.max_latency_us,
        )


def _located(error: ValidationError) -> ValidationError:
    """HardwareConfig's errors, each at the field it names: a rule across fields puts the field
    first in its message (``"out_bound: ..."``)."""
    lines = [
        {
            "type": line["type"],
            "loc": line["loc"] or _named_field(line["msg"]),
            "input": line["input"],
            **({"ctx": line["ctx"]} if "ctx" in line else {}),
        }
        for line in error.errors()
    ]
    return ValidationError.from_exception_data(error.title, lines)


def _named_field(message: str) -> tuple[str, ...]:
    match = re.match(r"(?:Value error, )?(\w+): ", message)
    return (match[1],) if match else ()


class BudgetSpec(BaseModel):
    """What the job may spend: surrogate-scored trials, then verified candidates."""

    model_config = ConfigDict(extra="forbid", title="Budget")

    trials: int = Field(
        400, ge=10, le=20_000, title="Trials", description="Architectures scored by the search."
    )
    top_k: int = Field(2, ge=1, le=10, title="Verified", description="Pareto candidates verified.")
    train_epochs: int = Field(8, ge=1, le=100, title="Training epochs")
    mc_samples: int = Field(
        8, ge=1, le=100, title="Chips", description="Programmed chips per drift time."
    )
    train_examples: int | None = Field(
        None,
        ge=10,
        le=10_000_000,
        title="Training examples",
        description="Verification trains on a class-balanced subset of this many training "
        "examples, drawn with the job's seed (empty: all).",
    )
    test_examples: int | None = Field(
        None,
        ge=10,
        le=10_000_000,
        title="Test examples",
        description="Verification measures on class-balanced subsets of this many validation "
        "and test examples (empty: all).",
    )
    collect_architectures: int = Field(
        24,
        ge=0,
        le=5000,
        title="Surrogate rows",
        description="Where the surrogate knows too little of the task and chip: architectures "
        "the active loop verifies at the collection fidelity (0: none, search at once).",
    )
    collect_batch: int = Field(
        4,
        ge=1,
        le=256,
        title="Rows per round",
        description="Architectures verified per round of the active loop, between refits.",
    )
    collect_train_examples: int | None = Field(
        None,
        ge=10,
        le=10_000_000,
        title="Collection training examples",
        description="Fidelity of the surrogate rows: training subset (empty: the task's cheap "
        "fidelity, e.g. all of digits, 6000 of Fashion-MNIST).",
    )
    collect_test_examples: int | None = Field(
        None,
        ge=10,
        le=10_000_000,
        title="Collection test examples",
        description="Fidelity of the surrogate rows: validation and test subsets (empty: the "
        "task's cheap fidelity).",
    )
    collect_epochs: int | None = Field(
        None,
        ge=1,
        le=100,
        title="Collection training epochs",
        description="Empty: the task's cheap fidelity (6 on digits, 3 on Fashion-MNIST).",
    )
    collect_mc_samples: int | None = Field(
        None,
        ge=1,
        le=100,
        title="Collection chips",
        description="Fidelity of the surrogate rows: programmed chips per drift time (empty: the "
        "task's cheap fidelity).",
    )
    post_training: bool = Field(
        True,
        title="Post-training range optimisation",
        description="Tune each tile column's conductance range and each tile's DAC input range "
        "on calibration data before verifying (ranges go into the analog bundle); the collected "
        "surrogate data is measured the same way.",
    )
    training: Literal["digital", "analog"] = Field(
        "digital",
        title="Training",
        description="digital: hardware-aware training of float weights; analog: in-situ "
        "training by pulses on the hardware's training device.",
    )


class JobCreate(BaseModel):
    """A search job."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task": "digits",
                    "hardware": {
                        "preset": "pcm",
                        "tile_rows": 256,
                        "tile_cols": 256,
                        "max_tiles": 64,
                    },
                    "objectives": ["accuracy_1d", "tiles"],
                    "budget": {"trials": 400, "top_k": 2, "train_epochs": 8, "mc_samples": 8},
                    "seed": 0,
                }
            ]
        },
    )

    task: str = Field("digits", title="Task", description="A built-in task or an uploaded one.")
    hardware: HardwareSpec = Field(default_factory=HardwareSpec)
    objectives: list[Objective] = Field(
        default_factory=lambda: ["accuracy_1d", "tiles"],
        min_length=1,
        title="Objectives",
        description="What the search optimizes; accuracies are maximized, costs minimized.",
    )
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    space: Literal["tiny", "full"] = Field(
        "tiny", title="Search space", description="tiny: small inputs and chips; full: AnalogNAS."
    )
    low_rank: bool = Field(
        False,
        title="Low-rank layers",
        description="Search the rank too: the classifier and the widest macro-blocks' "
        "convolutions may each be two low-rank analog layers (rank 1/8, 1/4 or 1/2 of the "
        "layer's, or dense), which need fewer tiles.",
    )
    head: Literal["linear", "random_features"] = Field(
        "linear",
        title="Head",
        description="linear: a trained analog classifier; random_features: a fixed random "
        "projection programmed on the tiles (arc-cosine features, no training) feeding a "
        "trained digital readout.",
    )
    head_features: int = Field(
        256,
        ge=8,
        le=8192,
        title="Random features",
        description="Features of a random_features head (its projection's tile columns).",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, title="Seed")

    def search_space(self) -> SearchSpace:
        """The space the job searches: its bounds, head and rank dimension."""
        space = SearchSpace.tiny() if self.space == "tiny" else SearchSpace()
        if self.head == "random_features":
            space = space.with_head(self.head_features)
        return space.with_ranks(RANK_FRACTIONS) if self.low_rank else space

    def train_config(self) -> TrainConfig:
        """How verification trains each candidate."""
        in_situ = None
        if self.budget.training == "analog":
            in_situ = InSituTraining(pulsed=PulsedConfig.preset(self.hardware.training_device))
        return TrainConfig(epochs=self.budget.train_epochs, seed=self.seed, in_situ=in_situ)

    def verification_budget(self) -> Budget:
        """What verifying one candidate spends (a rescore of the job measures with it too): the
        job's fidelity, its seed, post-training, and the reprogramming and sensitivity
        analyses."""
        return Budget(
            train=self.train_config(),
            mc_samples=self.budget.mc_samples,
            post_training=PostTraining() if self.budget.post_training else None,
            train_examples=self.budget.train_examples,
            test_examples=self.budget.test_examples,
            analysis=Analysis(),
        )

    def collection_budget(self) -> Budget:
        """The budget of the job's surrogate rows (the task's cheap fidelity unless the job
        names another), and so the context of its surrogate."""
        return task_collection_budget(
            self.task,
            self.budget.collect_train_examples,
            self.budget.collect_test_examples,
            self.budget.collect_epochs,
            self.budget.collect_mc_samples,
            self.budget.post_training,
        )

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in BUILTIN_TASKS and not DATASET_TASK.fullmatch(task):
            raise ValueError(
                f"unknown task {task!r}; built-in: {sorted(BUILTIN_TASKS)}, or an uploaded "
                "data set's task (dataset-ID)"
            )
        return task

    @field_validator("objectives")
    @classmethod
    def _distinct(cls, objectives: list[str]) -> list[str]:
        if len(set(objectives)) != len(objectives):
            raise ValueError("objectives must be distinct")
        return objectives

    @field_validator("head")
    @classmethod
    def _head_trains_digitally(cls, head: str, info: ValidationInfo) -> str:
        budget = info.data.get("budget")
        if head == "random_features" and budget is not None and budget.training == "analog":
            raise ValueError(
                "a random-feature head trains a digital readout; in-situ (analog) training "
                "(budget.training) does not apply to it"
            )
        return head


class RescoreCreate(BaseModel):
    """A re-scoring of a finished job's candidates on another chip (no retraining)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"hardware": {"preset": "rram", "adc_bits": 6}}]},
    )

    hardware: HardwareSpec = Field(description="The chip, as a job's (limits are not applied).")


class RescoreInfo(BaseModel):
    """What a rescore job measures, and whether it could predict its front again."""

    parent_id: str = Field(description="The job whose trained candidates are re-scored.")
    verified: int = Field(description="Verified candidates measured again on this chip.")
    front: int = Field(description="Unverified candidates of the parent's Pareto front.")
    front_predicted: bool = Field(
        description="Whether a surrogate of this chip predicted the unverified candidates again; "
        "false: they carry no prediction (their cost is on this chip)."
    )
    surrogate: str | None = Field(None, description="The surrogate that predicted them.")
    note: str


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str
    phase: str
    progress: float
    eta_seconds: float | None
    error: str | None
    request: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    best_accuracy_1d: float | None = Field(
        None, description="Best verified accuracy after 1 day of drift, so far."
    )
    surrogate: dict | None = Field(
        None,
        description="The job's surrogate: the active loop's rounds (architectures verified at "
        "the collection fidelity, what the model had predicted for them, its Kendall tau on "
        "rows it had not seen) and, when done, its quality on the job's task and chip.",
    )
    parent_id: str | None = Field(None, description="A rescore job: the job it re-scores.")
    rescore: RescoreInfo | None = Field(None, description="A rescore job: what it re-scores.")

    @field_validator("error")
    @classmethod
    def _no_server_paths(cls, error: str | None) -> str | None:
        """Errors stored before they were scrubbed (by the runner) show no server paths either."""
        return scrub_paths(error) if error else error


class JobPage(BaseModel):
    items: list[JobOut]
    total: int
    offset: int
    limit: int


class DriftAccuracy(BaseModel):
    time_seconds: float
    mean: float
    std: float


class CandidateOut(BaseModel):
    architecture_id: str
    architecture: dict
    predicted: dict
    measured: dict | None = Field(
        None,
        description="Mean 1-day accuracy and AVM of the rows the job's surrogate context has of "
        "this architecture (its cheap fidelity): the search ranked it by these, not the "
        "prediction.",
    )
    pareto: bool
    verified: bool
    accuracy_1d: float | None
    accuracy: list[DriftAccuracy]
    avm: float | None
    digital_accuracy: float | None
    fidelity: dict | None = Field(
        None,
        description="What the verified figures were measured with: training and test examples, "
        "epochs, programmed chips per drift time.",
    )
    tiles: int
    params: int
    energy_nj: float
    latency_us: float
    drift: list[DriftAccuracy] = Field(
        default_factory=list,
        description="Verified: accuracy over the drift grid to 10 years (empty when verified "
        "before it was measured: re-score on the same chip to get it).",
    )
    reprogramming: Reprogramming | None = Field(
        None,
        description="Verified: when the mean accuracy, and its lower band (mean - 2 std over "
        "chips), fall the request's tolerance below the 1-second accuracy.",
    )
    sensitivity: SensitivityReport | None = Field(
        None,
        description="Verified: each analog layer's 1-day accuracy drop when only it is analog, "
        "gain when only it is exact, and which layers to keep digital.",
    )


class RecordedFigures(BaseModel):
    """A verified candidate's stored figures (accuracies as fractions, std over chips)."""

    times: list[float]
    accuracy_mean: list[float]
    accuracy_std: list[float]
    digital_accuracy: float


class RecordOut(BaseModel):
    """What reproduces a verified figure, and the figure."""

    architecture_id: str
    job_id: str
    record: dict[str, Any] = Field(
        description="Versions (xbarnas, torch, device model), architecture, task and data "
        "checksum, budget and fidelity, seeds, the chip and the chip it was trained for."
    )
    figures: RecordedFigures


class TaskOut(BaseModel):
    name: str
    description: str


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    task: str
    name: str
    input_shape: list[int]
    num_classes: int
    examples: int
    created_at: datetime


class QuotaUsage(BaseModel):
    limit: int
    used: int


class Quotas(BaseModel):
    """A key's quotas and what it uses of them; over one, the API answers 429."""

    active_jobs: QuotaUsage = Field(description="Queued or running jobs.")
    datasets: QuotaUsage = Field(description="Stored data sets.")
    dataset_bytes: QuotaUsage = Field(description="Bytes of stored data sets.")
    job_trials: int = Field(description="Most budget.trials of one job.")
    job_work: int = Field(
        description="Most verification work of one job: budget.top_k x train_epochs x "
        "mc_samples plus collect_architectures x their epochs x chips."
    )


class MeOut(BaseModel):
    """The caller's key (null fields when authentication is off) and its quotas."""

    id: int | None
    name: str | None
    created_at: datetime | None
    expires_at: datetime | None
    quotas: Quotas


class KeyOut(BaseModel):
    """An API key's record; the key itself is shown once, when it is created, never again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None


class ExportLink(BaseModel):
    """A download that needs no other credential, for one architecture and format, briefly."""

    url: str = Field(description="Path and signed query of the download.")
    expires_at: datetime | None = Field(description="None: authentication is off, no expiry.")


class SessionCreate(BaseModel):
    """The dashboard's sign-in: an API key, exchanged for a session cookie."""

    key: str = Field(min_length=1, max_length=200)
