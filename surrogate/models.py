"""XGBoost surrogates of an architecture's accuracy on an analog chip, pooled over contexts.

One :class:`Surrogate` learns from the rows of many contexts (a task at a fidelity, on a chip;
:mod:`surrogate.context`). Its features are the architecture's (the encoding and what it costs
on the chip), the chip's parameters and the task profile's numbers, so that it predicts for
chips and tasks it has never seen, and sharpens with each context's own rows. It holds
- ``rank``: a pairwise-ranking booster of the 1-day accuracy with one query per context: it
  learns orders within a context, never across contexts whose accuracies are not comparable;
- ``accuracy_1d``: a bagged ensemble of regressors of the accuracy itself, whose disagreement
  is part of the uncertainty;
- ``avm`` (accuracy lost over a month) and ``spread_1d`` (std over programmed chips).
Rows carry weights: a job's own rows (in-domain) can count for more than the pooled ones.

:meth:`Surrogate.bind` gives the model of one context, with the interface the search uses
(``extractor``, ``predict``, ``score``). Its predicted accuracy is the ranker's score mapped
monotonically (isotonic fit) onto the regressors' accuracy over a reference sample of
architectures in that context: ranking by the prediction is ranking by the ranker. The
uncertainty adds to the ensemble spread a novelty term that grows with the distance to the
nearest training row (standardized features), wider far from the data than near it.
Saved as one JSON document: each booster in XGBoost's own JSON format, the training features,
the contexts with their task profiles, and the metadata.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from sklearn.isotonic import IsotonicRegression
from sklearn.neighbors import KDTree

from surrogate.context import TASK_NAMES, Context, TaskProfile
from surrogate.features import FEATURE_VERSION, FeatureExtractor, full_encodings

TARGETS = ("accuracy_1d", "avm", "spread_1d")


class SurrogateMismatch(ValueError):
    """A surrogate file of another feature version than this code's."""


@dataclass
class SurrogateParams:
    n_estimators: int = 300
    max_depth: int = 3  # chosen by 5-fold cross-validation on the shipped digits data
    learning_rate: float = 0.05
    ensemble: int = 4
    subsample: float = 0.8
    seed: int = 0


@dataclass
class Group:
    """The rows of one context: encodings ``[N, 25]`` (rows of 22 read as dense, see
    :func:`~surrogate.features.full_encodings`), their measured targets, a row weight."""

    context: Context
    encodings: np.ndarray
    targets: dict[str, np.ndarray]
    weight: float = 1.0

    def __post_init__(self) -> None:
        missing = set(TARGETS) - set(self.targets)
        if missing:
            raise ValueError(f"targets: missing {sorted(missing)}")
        self.encodings = full_encodings(self.encodings)


def features(context: Context, encodings: np.ndarray) -> np.ndarray:
    """The surrogate's features of architectures in a context: the extractor's (architecture
    and chip), then the task profile's."""
    extractor = FeatureExtractor(context.task.input_shape, context.task.num_classes, context.hw)
    own = extractor.transform(encodings)
    task = np.broadcast_to(context.task.features(), (len(own), len(TASK_NAMES)))
    return np.concatenate([own, task], axis=1)


def feature_names(context: Context) -> tuple[str, ...]:
    extractor = FeatureExtractor(context.task.input_shape, context.task.num_classes, context.hw)
    return (*extractor.names, *TASK_NAMES)


@dataclass
class Surrogate:
    params: SurrogateParams = field(default_factory=SurrogateParams)
    metadata: dict[str, Any] = field(default_factory=dict)
    boosters: dict[str, list[xgb.Booster]] = field(default_factory=dict)
    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> profile, chip
    _train_features: np.ndarray | None = None
    _reference: np.ndarray | None = None  # distinct training encodings: calibration sample
    _residual_std: float = 0.0

    # --- fitting -------------------------------------------------------------------------------
    def _xgb_params(self, objective: str, seed: int) -> dict[str, Any]:
        p = self.params
        ranking = {  # pairs drawn across the whole list, not only around its top
            "lambdarank_pair_method": "mean",
            "lambdarank_num_pair_per_sample": 16,
        }
        return {
            **(ranking if objective.startswith("rank:") else {}),
            "objective": objective,
            "max_depth": p.max_depth,
            "eta": p.learning_rate,
            "subsample": p.subsample,
            "colsample_bytree": 0.8,
            "min_child_weight": 1.0,
            "seed": seed,
            # One thread: thousands of rows gain little from more, and while verifications keep
            # the cores busy, OpenMP barriers made a refit 25x slower (81 s against 3.3 s).
            "nthread": 1,
        }

    def fit(self, groups: list[Group]) -> Surrogate:
        """Fit every booster on the groups' rows (each row weighted by its group's weight)."""
        groups = [g for g in groups if len(g.encodings)]
        rows = sum(len(g.encodings) for g in groups)
        if rows < 10:
            raise ValueError(f"groups: {rows} rows are too few to fit")
        x = np.concatenate([features(g.context, g.encodings) for g in groups])
        weights = np.concatenate([np.full(len(g.encodings), g.weight) for g in groups])
        target = {
            name: np.concatenate([np.asarray(g.targets[name], np.float64) for g in groups])
            for name in TARGETS
        }
        sizes = [len(g.encodings) for g in groups]
        p = self.params
        ranker = self._ranker(x, target["accuracy_1d"], sizes, [g.weight for g in groups])
        self.boosters = {"rank": [ranker], "accuracy_1d": []}
        rng = np.random.default_rng(p.seed)
        out_of_bag: list[list[float]] = [[] for _ in range(rows)]
        for member in range(p.ensemble):
            bag = rng.integers(0, rows, rows)  # bootstrap resample
            booster = self._regressor(
                x[bag], target["accuracy_1d"][bag], weights[bag], p.seed + 1 + member
            )
            self.boosters["accuracy_1d"].append(booster)
            held_out = np.setdiff1d(np.arange(rows), bag)
            for i, value in zip(held_out, self._predict(booster, x[held_out]), strict=True):
                out_of_bag[i].append(value)
        errors = [target["accuracy_1d"][i] - np.mean(v) for i, v in enumerate(out_of_bag) if v]
        self._residual_std = float(np.std(errors)) if errors else 0.0
        for name in ("avm", "spread_1d"):
            self.boosters[name] = [self._regressor(x, target[name], weights, p.seed)]
        self._remember_training_set(x, np.concatenate([g.encodings for g in groups]))
        self.contexts = {}
        for g in groups:
            known = self.contexts.setdefault(
                g.context.key,
                {
                    "task": g.context.task.to_dict(),
                    "hardware": g.context.hw.model_dump(mode="json"),
                    "rows": 0,
                },
            )
            known["rows"] += len(g.encodings)
        self.metadata.update(
            feature_version=FEATURE_VERSION,
            n_samples=rows,
            fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return self

    def _ranker(
        self, x: np.ndarray, accuracy: np.ndarray, sizes: list[int], group_weights: list[float]
    ) -> xgb.Booster:
        data = xgb.DMatrix(x, label=accuracy)
        data.set_group(sizes)  # one query per context: orders within a context only
        data.set_weight(np.asarray(group_weights, dtype=np.float64))
        return xgb.train(
            self._xgb_params("rank:pairwise", self.params.seed), data, self.params.n_estimators
        )

    def _regressor(
        self, x: np.ndarray, values: np.ndarray, weights: np.ndarray, seed: int
    ) -> xgb.Booster:
        data = xgb.DMatrix(x, label=values, weight=weights)
        return xgb.train(self._xgb_params("reg:squarederror", seed), data, self.params.n_estimators)

    def _remember_training_set(self, x: np.ndarray, encodings: np.ndarray) -> None:
        self._train_features = x
        self._reference = np.unique(encodings, axis=0)
        self._mean = x.mean(0)
        self._scale = x.std(0) + 1e-9
        standardized = (x - self._mean) / self._scale
        self._tree = KDTree(standardized)
        distances, _ = self._tree.query(standardized, k=min(2, len(x)))
        self._typical_distance = float(np.median(distances[:, -1])) + 1e-9

    # --- prediction ----------------------------------------------------------------------------
    def _predict(self, booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
        # Threads pay off only for large batches; for small ones they cost ~50x.
        booster.set_param("nthread", 0 if len(x) >= 20_000 else 1)
        return booster.inplace_predict(x, validate_features=False)

    def _require_fitted(self) -> None:
        if not self.boosters:
            raise ValueError("surrogate: not fitted")

    def profile(self, task: str, fidelity: str) -> TaskProfile | None:
        """The profile of a task at a fidelity the surrogate learnt from (None: unknown)."""
        for known in self.contexts.values():
            profile = TaskProfile.from_dict(known["task"])
            if (profile.name, profile.fidelity) == (task, fidelity):
                return profile
        return None

    def rows_of(self, context: Context) -> int:
        """How many rows of ``context`` the surrogate was fitted on."""
        return self.contexts.get(context.key, {}).get("rows", 0)

    def bind(self, context: Context) -> BoundSurrogate:
        """The model of one context."""
        self._require_fitted()
        return BoundSurrogate(self, context)

    # --- files ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._require_fitted()
        document = {
            "format": "xbarnas-surrogate",
            "metadata": {
                **self.metadata,
                "feature_version": FEATURE_VERSION,
                "params": self.params.__dict__,
                "residual_std": self._residual_std,
            },
            "contexts": self.contexts,
            "training_features": np.round(self._train_features, 6).tolist(),
            "reference_encodings": self._reference.astype(float).tolist(),
            "boosters": {
                name: [json.loads(b.save_raw("json").decode()) for b in members]
                for name, members in self.boosters.items()
            },
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # written aside, then renamed: a reader (another runner on a shared data directory)
        # sees the old file or the new one, never half of one
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        partial.write_text(json.dumps(document, separators=(",", ":")))
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> Surrogate:
        """Read a surrogate; refuse one of another feature version (refit it)."""
        try:
            document = json.loads(Path(path).read_text())
            meta = document["metadata"]
        except (OSError, json.JSONDecodeError, KeyError) as error:
            raise ValueError(f"surrogate: {Path(path).name} is not a surrogate file") from error
        if meta.get("feature_version") != FEATURE_VERSION:
            raise SurrogateMismatch(
                f"surrogate: {Path(path).name} uses feature version "
                f"{meta.get('feature_version')}, this code {FEATURE_VERSION}; refit it"
            )
        surrogate = cls(
            params=SurrogateParams(**meta["params"]),
            metadata={k: v for k, v in meta.items() if k not in ("params", "residual_std")},
            contexts=document["contexts"],
        )
        surrogate.boosters = {
            name: [_booster(raw) for raw in members]
            for name, members in document["boosters"].items()
        }
        surrogate._residual_std = meta["residual_std"]
        surrogate._remember_training_set(
            np.asarray(document["training_features"]),
            np.asarray(document["reference_encodings"]),
        )
        return surrogate


class BoundSurrogate:
    """A surrogate's predictions for one context (task profile on a chip)."""

    def __init__(self, surrogate: Surrogate, context: Context) -> None:
        self.surrogate, self.context = surrogate, context
        self.task, self.hw = context.task.name, context.hw
        self.extractor = FeatureExtractor(
            context.task.input_shape, context.task.num_classes, context.hw
        )
        self.metadata = {**surrogate.metadata, "context": context.key}
        reference = features(context, surrogate._reference)
        scores = surrogate._predict(surrogate.boosters["rank"][0], reference)
        accuracy = np.mean(
            [surrogate._predict(b, reference) for b in surrogate.boosters["accuracy_1d"]], 0
        )
        self._calibration = IsotonicRegression(out_of_bounds="clip").fit(scores, accuracy)
        self._score_scale = float(np.std(scores)) + 1e-12

    @property
    def in_domain_rows(self) -> int:
        return self.surrogate.rows_of(self.context)

    def _calibrated(self, rank_score: np.ndarray) -> np.ndarray:
        """Accuracy from ranker scores; a tiny tie-break keeps the ranker's strict order where
        the monotone map is flat."""
        tie_break = 1e-6 * np.tanh(rank_score / self._score_scale)
        return self._calibration.predict(rank_score) + tie_break

    def score(self, encodings: np.ndarray) -> np.ndarray:
        """Predicted 1-day accuracy (the calibrated ranker): the fast path."""
        x = features(self.context, encodings)
        return self._calibrated(self.surrogate._predict(self.surrogate.boosters["rank"][0], x))

    def predict(self, encodings: np.ndarray) -> dict[str, np.ndarray]:
        """Every prediction: ``accuracy_1d`` and its ``accuracy_1d_std``, ``rank_score``,
        ``avm``, ``spread_1d``."""
        s = self.surrogate
        x = features(self.context, encodings)
        members = np.stack([s._predict(b, x) for b in s.boosters["accuracy_1d"]])
        distance, _ = s._tree.query((x - s._mean) / s._scale, k=1)
        novelty = s._residual_std * distance[:, 0] / s._typical_distance
        rank_score = s._predict(s.boosters["rank"][0], x)
        return {
            "accuracy_1d": self._calibrated(rank_score),
            "accuracy_1d_std": np.sqrt(members.var(0) + novelty**2),
            "rank_score": rank_score,
            "avm": s._predict(s.boosters["avm"][0], x),
            "spread_1d": s._predict(s.boosters["spread_1d"][0], x),
        }


def _booster(raw: dict[str, Any]) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(raw).encode()))
    return booster
