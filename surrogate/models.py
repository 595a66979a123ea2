"""XGBoost surrogates of an architecture's accuracy on an analog chip.

One :class:`Surrogate` serves one task on one chip (hardware-config hash). It holds
- ``rank``: a pairwise-ranking booster (``rank:pairwise``) of the 1-day accuracy. It orders
  architectures; an isotonic (monotone) calibration, fitted on out-of-fold ranker scores, turns
  its score into a predicted accuracy, so ranking by the prediction is ranking by the ranker;
- ``accuracy_1d``: a bagged ensemble of regressors whose disagreement is part of the uncertainty;
- ``avm`` (accuracy lost over a month) and ``spread_1d`` (std over programmed chips): regressors.
The uncertainty of ``accuracy_1d`` adds to the ensemble spread a novelty term that grows with the
distance to the nearest training architecture (standardized features), so that it is wider far
from the data than near it. Saved as one JSON document: each booster in XGBoost's own JSON format,
with the metadata (feature version, task, hardware, data size, calibration, held-out metrics).
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

from simulator import HardwareConfig
from surrogate.features import FEATURE_VERSION, FeatureExtractor

TARGETS = ("accuracy_1d", "avm", "spread_1d")


class SurrogateMismatch(ValueError):
    """A surrogate asked to serve another task, chip or feature version than it was fitted for."""


@dataclass
class SurrogateParams:
    n_estimators: int = 300
    max_depth: int = 3  # chosen by 5-fold cross-validation on the shipped digits data
    learning_rate: float = 0.05
    ensemble: int = 4
    subsample: float = 0.8
    seed: int = 0


@dataclass
class Surrogate:
    task: str
    input_shape: tuple[int, ...]
    num_classes: int
    hw: HardwareConfig
    params: SurrogateParams = field(default_factory=SurrogateParams)
    metadata: dict[str, Any] = field(default_factory=dict)
    boosters: dict[str, list[xgb.Booster]] = field(default_factory=dict)
    _train_features: np.ndarray | None = None
    _residual_std: float = 0.0

    def __post_init__(self) -> None:
        self.extractor = FeatureExtractor(self.input_shape, self.num_classes, self.hw)
        self._tree: KDTree | None = None

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
            # One thread: hundreds of rows gain nothing from more, and while verifications keep
            # the cores busy, OpenMP barriers made a refit 25x slower (81 s against 3.3 s).
            "nthread": 1,
        }

    def fit(self, encodings: np.ndarray, targets: dict[str, np.ndarray]) -> Surrogate:
        """Fit every booster on ``[N, 22]`` encodings and their measured targets."""
        missing = set(TARGETS) - set(targets)
        if missing:
            raise ValueError(f"targets: missing {sorted(missing)}")
        if len(encodings) < 10:
            raise ValueError(f"encodings: {len(encodings)} architectures are too few to fit")
        features = self.extractor.transform(encodings)
        accuracy = np.asarray(targets["accuracy_1d"], dtype=np.float64)
        p = self.params
        self.boosters = {"rank": [self._ranker(features, accuracy)], "accuracy_1d": []}
        self._calibrate(features, accuracy)
        rng = np.random.default_rng(p.seed)
        out_of_bag = [[] for _ in range(len(accuracy))]
        for member in range(p.ensemble):
            bag = rng.integers(0, len(accuracy), len(accuracy))  # bootstrap resample
            booster = self._regressor(features[bag], accuracy[bag], p.seed + 1 + member)
            self.boosters["accuracy_1d"].append(booster)
            held_out = np.setdiff1d(np.arange(len(accuracy)), bag)
            for i, value in zip(held_out, self._predict(booster, features[held_out]), strict=True):
                out_of_bag[i].append(value)
        errors = [accuracy[i] - np.mean(v) for i, v in enumerate(out_of_bag) if v]
        self._residual_std = float(np.std(errors)) if errors else 0.0
        for name in ("avm", "spread_1d"):
            values = np.asarray(targets[name], dtype=np.float64)
            self.boosters[name] = [self._regressor(features, values, p.seed)]
        self._remember_training_set(features)
        self.metadata.update(
            feature_version=FEATURE_VERSION,
            task=self.task,
            hardware_hash=self.hw.config_hash(),
            n_samples=len(accuracy),
            fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        return self

    def _ranker(self, features: np.ndarray, accuracy: np.ndarray) -> xgb.Booster:
        data = xgb.DMatrix(features, label=accuracy, feature_names=list(self.extractor.names))
        data.set_group([len(accuracy)])  # one query: rank all architectures against each other
        return xgb.train(
            self._xgb_params("rank:pairwise", self.params.seed), data, self.params.n_estimators
        )

    def _calibrate(self, features: np.ndarray, accuracy: np.ndarray, folds: int = 5) -> None:
        """Monotone map from ranker score to accuracy, fitted on out-of-fold scores."""
        order = np.random.default_rng(self.params.seed).permutation(len(accuracy))
        scores = np.empty(len(accuracy))
        for part in np.array_split(order, folds):
            rest = np.setdiff1d(order, part)
            scores[part] = self._predict(
                self._ranker(features[rest], accuracy[rest]), features[part]
            )
        # scores of different folds share no scale: standardize each fold's scores first
        for part in np.array_split(order, folds):
            scores[part] = (scores[part] - scores[part].mean()) / (scores[part].std() + 1e-12)
        full = self._predict(self.boosters["rank"][0], features)
        self._score_scale = (float(full.mean()), float(full.std() + 1e-12))
        isotonic = IsotonicRegression(out_of_bounds="clip").fit(scores, accuracy)
        self._calibration = (isotonic.X_thresholds_.tolist(), isotonic.y_thresholds_.tolist())

    def _calibrated(self, rank_score: np.ndarray) -> np.ndarray:
        """Accuracy from ranker scores; a 1e-6 tie-break keeps the ranker's strict order."""
        mean, std = self._score_scale
        x, y = self._calibration
        z = (rank_score - mean) / std
        return np.interp(z, x, y) + 1e-6 * np.tanh(z)

    def _regressor(self, features: np.ndarray, values: np.ndarray, seed: int) -> xgb.Booster:
        data = xgb.DMatrix(features, label=values, feature_names=list(self.extractor.names))
        return xgb.train(self._xgb_params("reg:squarederror", seed), data, self.params.n_estimators)

    def _remember_training_set(self, features: np.ndarray) -> None:
        self._train_features = features
        self._mean = features.mean(0)
        self._scale = features.std(0) + 1e-9
        standardized = (features - self._mean) / self._scale
        self._tree = KDTree(standardized)
        distances, _ = self._tree.query(standardized, k=2)
        self._typical_distance = float(np.median(distances[:, 1])) + 1e-9

    # --- prediction ----------------------------------------------------------------------------
    def _predict(self, booster: xgb.Booster, features: np.ndarray) -> np.ndarray:
        # Threads pay off only for large batches; for small ones they cost ~50x.
        booster.set_param("nthread", 0 if len(features) >= 20_000 else 1)
        return booster.inplace_predict(features, validate_features=False)

    def _require_fitted(self) -> None:
        if not self.boosters:
            raise ValueError("surrogate: not fitted")

    def score(self, encodings: np.ndarray) -> np.ndarray:
        """Predicted 1-day accuracy (the calibrated ranker): the fast path."""
        self._require_fitted()
        features = self.extractor.transform(encodings)
        return self._calibrated(self._predict(self.boosters["rank"][0], features))

    def predict(self, encodings: np.ndarray) -> dict[str, np.ndarray]:
        """Every prediction: ``accuracy_1d`` and its ``accuracy_1d_std``, ``rank_score``,
        ``avm``, ``spread_1d``."""
        self._require_fitted()
        features = self.extractor.transform(encodings)
        members = np.stack([self._predict(b, features) for b in self.boosters["accuracy_1d"]])
        distance, _ = self._tree.query((features - self._mean) / self._scale, k=1)
        novelty = self._residual_std * distance[:, 0] / self._typical_distance
        rank_score = self._predict(self.boosters["rank"][0], features)
        return {
            "accuracy_1d": self._calibrated(rank_score),
            "accuracy_1d_std": np.sqrt(members.var(0) + novelty**2),
            "rank_score": rank_score,
            "avm": self._predict(self.boosters["avm"][0], features),
            "spread_1d": self._predict(self.boosters["spread_1d"][0], features),
        }

    # --- files ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        self._require_fitted()
        document = {
            "format": "xbarnas-surrogate",
            "metadata": {
                **self.metadata,
                "task": self.task,
                "input_shape": list(self.input_shape),
                "num_classes": self.num_classes,
                "hardware": self.hw.model_dump(mode="json"),
                "hardware_hash": self.hw.config_hash(),
                "feature_version": FEATURE_VERSION,
                "params": self.params.__dict__,
                "residual_std": self._residual_std,
                "score_scale": list(self._score_scale),
                "calibration": list(self._calibration),
            },
            "training_features": self._train_features.tolist(),
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
    def load(
        cls, path: Path, task: str | None = None, hw: HardwareConfig | None = None
    ) -> Surrogate:
        """Read a surrogate; with ``task``/``hw``, refuse one fitted for anything else."""
        try:
            document = json.loads(Path(path).read_text())
            meta = document["metadata"]
        except (OSError, json.JSONDecodeError, KeyError) as error:
            raise ValueError(f"surrogate: {path} is not a surrogate file: {error}") from error
        if meta.get("feature_version") != FEATURE_VERSION:
            raise SurrogateMismatch(
                f"surrogate: {path} uses feature version {meta.get('feature_version')}, "
                f"this code {FEATURE_VERSION}; refit it"
            )
        if task is not None and meta["task"] != task:
            raise SurrogateMismatch(
                f"surrogate: {path} was fitted for task {meta['task']!r}, not {task!r}"
            )
        if hw is not None and meta["hardware_hash"] != hw.config_hash():
            raise SurrogateMismatch(
                f"surrogate: {path} was fitted for another chip (hardware {meta['hardware_hash']},"
                f" asked for {hw.config_hash()})"
            )
        surrogate = cls(
            task=meta["task"],
            input_shape=tuple(meta["input_shape"]),
            num_classes=meta["num_classes"],
            hw=HardwareConfig.model_validate(meta["hardware"]),
            params=SurrogateParams(**meta["params"]),
            metadata={
                k: v
                for k, v in meta.items()
                if k not in ("hardware", "params", "score_scale", "calibration")
            },
        )
        surrogate.boosters = {
            name: [_booster(raw) for raw in members]
            for name, members in document["boosters"].items()
        }
        surrogate._residual_std = meta["residual_std"]
        surrogate._score_scale = tuple(meta["score_scale"])
        surrogate._calibration = tuple(meta["calibration"])
        surrogate._remember_training_set(np.asarray(document["training_features"]))
        return surrogate


def _booster(raw: dict[str, Any]) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(json.dumps(raw).encode()))
    return booster
