"""Optuna evolutionary search over the space, scored by the surrogate, under hardware constraints.

The study lives in memory (Optuna's fastest storage); every completed generation is appended to
a JSON-lines journal, so a search that dies resumes from the journal: the finished trials are
re-added to a fresh in-memory study and the search goes on where it stopped. Trials are asked a
generation at a time and scored in one vectorized surrogate call.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict, Field, model_validator

from search.baselines import BASELINES
from search.space import ArchConfig, SearchSpace
from surrogate.features import FeatureExtractor
from surrogate.models import BoundSurrogate

Objective = Literal["accuracy_1d", "avm", "tiles", "energy", "latency", "params"]
MAXIMIZED = {"accuracy_1d"}


class Constraints(BaseModel):
    """Hard limits; a candidate beyond any of them is infeasible."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_tiles: int | None = Field(None, ge=1)
    max_params: int | None = Field(None, ge=1)
    max_energy_nj: float | None = Field(None, gt=0)
    max_latency_us: float | None = Field(None, gt=0)


class SearchConfig(BaseModel):
    """How to search: objectives, constraints, evolutionary settings, budget, seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    objectives: tuple[Objective, ...] = ("accuracy_1d", "tiles")
    constraints: Constraints = Field(default_factory=Constraints)
    trials: int = Field(2000, ge=1, le=1_000_000)
    population: int = Field(50, ge=2, le=10_000)
    algorithm: Literal["nsga2", "nsga3", "random"] = "nsga2"
    mutation_prob: float | None = Field(None, ge=0, le=1, description="None: 1/params.")
    crossover: Literal["uniform", "blxalpha", "sbx", "vsbx", "undx", "spx"] = "uniform"
    crossover_prob: float = Field(0.9, ge=0, le=1)
    start_from_baselines: bool = Field(
        True,
        description="The first generation of an evolutionary search holds the hand-designed "
        "networks (ResNet-8, ...) and the best measured ones of the search's context that lie "
        "in the space and within the limits, so the search starts from them.",
    )
    seed: int = 0

    @model_validator(mode="after")
    def _objectives(self) -> SearchConfig:
        if not self.objectives or len(set(self.objectives)) != len(self.objectives):
            raise ValueError("objectives: give one or more distinct objectives")
        return self


@dataclass
class Candidate:
    """One scored architecture: predictions, cost, feasibility."""

    config: ArchConfig
    predicted: dict[str, float]
    cost: dict[str, float]
    constraints: dict[str, float]  # cost / limit - 1 per limit: feasible when all are <= 0
    trial: int
    measured: dict[str, float] = field(default_factory=dict)  # where the context has rows of it

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())

    def estimate(self, name: str) -> float:
        """The context's measured ``accuracy_1d`` or ``avm`` where it has rows of this
        architecture, else the surrogate's prediction."""
        return self.measured.get(name, self.predicted[name])

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture_id": self.config.id,
            "architecture": self.config.model_dump(mode="json"),
            "predicted": self.predicted,
            "cost": self.cost,
            "feasible": self.feasible,
            "trial": self.trial,
            **({"measured": self.measured} if self.measured else {}),
        }


def feature_costs(extractor: FeatureExtractor, encodings: np.ndarray) -> dict[str, np.ndarray]:
    """Tiles, parameters, energy (nJ) and latency (us) of encoded architectures on the
    extractor's chip, in closed form."""
    features = extractor.transform(encodings)
    column = {name: features[:, i] for i, name in enumerate(extractor.names)}
    return {
        "tiles": column["tiles"],
        "params": np.round(10 ** column["log_params"]),
        "energy": column["energy_nj"],
        "latency": column["latency_us"],
    }


MEASURED_TARGETS = ("accuracy_1d", "avm")


@dataclass(frozen=True)
class Measurements:
    """What the search's context has measured: the mean of each target over an architecture's
    rows. Where the surrogate was fitted on an architecture, its measurement is the better
    estimate: the model smooths it towards its neighbours."""

    configs: dict[str, ArchConfig]
    values: dict[str, dict[str, float]]

    @classmethod
    def of_rows(cls, rows: Sequence[dict[str, Any]]) -> Measurements:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            grouped.setdefault(row["arch_id"], []).append(row)
        return cls(
            {arch: ArchConfig.model_validate(group[0]["arch"]) for arch, group in grouped.items()},
            {
                arch: {t: float(np.mean([r[t] for r in group])) for t in MEASURED_TARGETS}
                for arch, group in grouped.items()
            },
        )

    def best(self) -> list[ArchConfig]:
        """The measured architectures, most accurate first."""
        order = sorted(self.values, key=lambda arch: -self.values[arch]["accuracy_1d"])
        return [self.configs[arch] for arch in order]


class Scorer:
    """Objective values and constraint violations of many architectures at once; an
    architecture with ``measurements`` is ranked by them instead of its prediction."""

    def __init__(
        self,
        surrogate: BoundSurrogate,
        config: SearchConfig,
        measurements: Measurements | None = None,
    ) -> None:
        self.surrogate = surrogate
        self.config = config
        self.extractor: FeatureExtractor = surrogate.extractor
        self.measurements = measurements or Measurements({}, {})

    def candidates(self, configs: Sequence[ArchConfig], trials: Sequence[int]) -> list[Candidate]:
        encodings = SearchSpace.encode_many(list(configs))
        predicted = self.surrogate.predict(encodings)
        cost = feature_costs(self.extractor, encodings)
        limits = self._limits()
        return [
            Candidate(
                config=cfg,
                predicted={k: float(v[i]) for k, v in predicted.items()},
                cost={k: float(v[i]) for k, v in cost.items()},
                constraints={k: float(cost[k][i] / limit - 1.0) for k, limit in limits.items()},
                trial=trial,
                measured=self.measured(cfg),
            )
            for i, (cfg, trial) in enumerate(zip(configs, trials, strict=True))
        ]

    def _limits(self) -> dict[str, float]:
        limits = self.config.constraints
        given = {
            "tiles": limits.max_tiles,
            "params": limits.max_params,
            "energy": limits.max_energy_nj,
            "latency": limits.max_latency_us,
        }
        return {name: float(limit) for name, limit in given.items() if limit is not None}

    def measured(self, cfg: ArchConfig) -> dict[str, float]:
        """The context's measurements of ``cfg`` (empty where it has none)."""
        return dict(self.measurements.values.get(cfg.id, {}))

    def values(self, candidate: Candidate) -> list[float]:
        """The objective values Optuna sees (minimized or maximized per objective)."""
        out = []
        for objective in self.config.objectives:
            if objective in MEASURED_TARGETS:
                out.append(candidate.estimate(objective))
            else:
                out.append(candidate.cost[objective])
        return out


class TrialJournal:
    """Completed trials appended as JSON lines, flushed to disk once per generation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def recover(self) -> list[dict[str, Any]]:
        """The journaled trials; a torn last line (a killed writer) is cut off the file."""
        if not self.path.is_file():
            return []
        records, valid = [], 0
        data = self.path.read_bytes()
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            valid += len(line)
        if valid < len(data):
            with self.path.open("r+b") as file:
                file.truncate(valid)
        return records

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write("".join(json.dumps(r) + "\n" for r in records))
            file.flush()
            os.fsync(file.fileno())


def _distributions(space: SearchSpace) -> dict[str, Any]:
    """The fixed Optuna search space :meth:`SearchSpace.suggest` uses."""
    study = optuna.create_study()
    trial = study.ask()
    space.suggest(trial)
    return dict(trial.distributions)


@dataclass
class SearchResult:
    candidates: list[Candidate]
    pareto: list[Candidate]
    scorer: Scorer  # what ranked the candidates (their measurements, the limits)
    resumed_trials: int = 0

    def feasible(self) -> list[Candidate]:
        return [c for c in self.candidates if c.feasible]


Progress = Callable[[int, int], None]


def _sampler(config: SearchConfig):
    crossovers = {
        "uniform": optuna.samplers.nsgaii.UniformCrossover,
        "blxalpha": optuna.samplers.nsgaii.BLXAlphaCrossover,
        "sbx": optuna.samplers.nsgaii.SBXCrossover,
        "vsbx": optuna.samplers.nsgaii.VSBXCrossover,
        "undx": optuna.samplers.nsgaii.UNDXCrossover,
        "spx": optuna.samplers.nsgaii.SPXCrossover,
    }
    common = dict(
        population_size=config.population,
        mutation_prob=config.mutation_prob,
        crossover=crossovers[config.crossover](),
        crossover_prob=config.crossover_prob,
        seed=config.seed,
    )
    if config.algorithm == "random":
        return optuna.samplers.RandomSampler(seed=config.seed)
    if config.algorithm == "nsga3":
        with warnings.catch_warnings():  # "experimental" in Optuna: we rely on its documented API
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.NSGAIIISampler(**common)
    return optuna.samplers.NSGAIISampler(**common)


def run_search(
    space: SearchSpace,
    surrogate: BoundSurrogate,
    config: SearchConfig,
    journal: TrialJournal | None = None,
    progress: Progress | None = None,
    measurements: Measurements | None = None,
) -> SearchResult:
    """Evolve ``config.trials`` architectures; returns all candidates and the feasible front.
    Measured architectures of the context are scored by their ``measurements``."""
    scorer = Scorer(surrogate, config, measurements)
    sampler = _sampler(config)
    directions = ["maximize" if o in MAXIMIZED else "minimize" for o in config.objectives]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=directions, sampler=sampler)
    distributions = _distributions(space)
    records = journal.recover() if journal else []
    candidates: list[Candidate] = []
    for record in records[: config.trials]:
        study.add_trial(_frozen(record, distributions))
        cfg = ArchConfig.model_validate(record["architecture"])
        candidates.append(
            Candidate(
                cfg,
                record["predicted"],
                record["cost"],
                record["constraints"],
                record["number"],
                scorer.measured(cfg),
            )
        )
    resumed = len(candidates)
    if not records and config.start_from_baselines and config.algorithm != "random":
        for cfg in _starting_points(space, scorer):
            study.enqueue_trial(space.params(cfg))
    while len(candidates) < config.trials:
        size = min(config.population, config.trials - len(candidates))
        trials = [study.ask() for _ in range(size)]
        configs = [space.suggest(trial) for trial in trials]
        scored = scorer.candidates(configs, [t.number for t in trials])
        for trial, candidate in zip(trials, scored, strict=True):
            for name, value in candidate.constraints.items():
                trial.set_constraint(name, value)
            study.tell(trial, scorer.values(candidate))
        candidates.extend(scored)
        if journal:
            journal.append(
                [_record(t, c, scorer.values(c)) for t, c in zip(trials, scored, strict=True)]
            )
        if progress:
            progress(len(candidates), config.trials)
    return SearchResult(candidates, pareto_front(candidates, scorer), scorer, resumed)


def _starting_points(space: SearchSpace, scorer: Scorer) -> list[ArchConfig]:
    """The first generation's known networks: the hand designs and the best measured ones (a
    quarter of the population at most), those inside the space that meet the limits; an
    infeasible one would only pull the first generations towards networks the chip cannot
    hold."""
    best_measured = scorer.measurements.best()
    known = list({cfg.id: cfg for cfg in [*BASELINES.values(), *best_measured]}.values())
    inside = [cfg for cfg in known if space.contains(cfg)]
    if not inside:
        return []
    feasible = [c.config for c in scorer.candidates(inside, [-1] * len(inside)) if c.feasible]
    hand_ids = {cfg.id for cfg in BASELINES.values()}
    hand = [cfg for cfg in feasible if cfg.id in hand_ids]
    measured = [cfg for cfg in feasible if cfg.id not in hand_ids]
    return hand + measured[: scorer.config.population // 4]


def _record(trial: optuna.Trial, candidate: Candidate, values: list[float]) -> dict[str, Any]:
    return {
        "number": trial.number,
        "params": trial.params,
        "constraints": candidate.constraints,
        "predicted": candidate.predicted,
        "cost": candidate.cost,
        "architecture": candidate.config.model_dump(mode="json"),
        "values": values,
    }


def _frozen(record: dict[str, Any], distributions: dict[str, Any]) -> FrozenTrial:
    """A journal record as a completed Optuna trial."""
    return optuna.trial.create_trial(
        params=record["params"],
        distributions={k: distributions[k] for k in record["params"]},
        values=record["values"],
        constraints=record["constraints"],
        state=TrialState.COMPLETE,
    )


def _feasible_unique(candidates: Sequence[Candidate]) -> list[Candidate]:
    unique: dict[str, Candidate] = {}
    for c in candidates:
        if c.feasible:
            unique.setdefault(c.config.id, c)
    return list(unique.values())


def _fronts(pool: list[Candidate], scorer: Scorer) -> Iterator[list[Candidate]]:
    """Successive non-dominated fronts of ``pool`` (first the Pareto front), computed lazily."""
    signs = np.array([-1.0 if o in MAXIMIZED else 1.0 for o in scorer.config.objectives])
    values = np.array([scorer.values(c) for c in pool]).reshape(len(pool), -1) * signs
    remaining = np.arange(len(pool))
    while len(remaining):
        v = values[remaining]
        better_or_equal = np.all(v[None, :, :] <= v[:, None, :], axis=2)
        strictly_better = np.any(v[None, :, :] < v[:, None, :], axis=2)
        dominated = np.any(better_or_equal & strictly_better, axis=1)
        yield [pool[i] for i in remaining[~dominated]]
        remaining = remaining[dominated]


def pareto_front(candidates: Sequence[Candidate], scorer: Scorer) -> list[Candidate]:
    """The feasible non-dominated candidates (one per architecture), best accuracy first."""
    pool = _feasible_unique(candidates)
    if not pool:
        return []
    return sorted(next(_fronts(pool, scorer)), key=lambda c: -c.estimate("accuracy_1d"))


def diverse_top_k(candidates: Sequence[Candidate], k: int, scorer: Scorer) -> list[Candidate]:
    """``k`` distinct feasible candidates from the best fronts, not near-duplicates.

    With one objective: the ``k`` best. With several: spread along the Pareto front (extended by
    the next fronts when it holds fewer than ``k``): the most accurate first, then each next one
    the farthest, in normalized objective space, from those already chosen.
    """
    pool = _feasible_unique(candidates)
    if not pool:
        return []
    if len(scorer.config.objectives) == 1:
        sign = -1.0 if scorer.config.objectives[0] in MAXIMIZED else 1.0
        return sorted(pool, key=lambda c: sign * scorer.values(c)[0])[:k]
    chosen_pool: list[Candidate] = []
    for front in _fronts(pool, scorer):
        if len(chosen_pool) >= k:
            break
        chosen_pool += front
    if len(chosen_pool) <= k:
        return sorted(chosen_pool, key=lambda c: -c.estimate("accuracy_1d"))
    values = np.array([scorer.values(c) for c in chosen_pool])
    span = values.max(0) - values.min(0)
    normalized = (values - values.min(0)) / np.where(span > 0, span, 1)
    chosen = [int(np.argmax([c.estimate("accuracy_1d") for c in chosen_pool]))]
    while len(chosen) < k:
        distance = np.min(
            np.linalg.norm(normalized[:, None, :] - normalized[None, chosen, :], axis=2), axis=1
        )
        distance[chosen] = -1
        chosen.append(int(np.argmax(distance)))
    return [chosen_pool[i] for i in chosen]
