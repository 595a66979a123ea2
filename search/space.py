"""The AnalogNAS-style search space of ResNet-like networks.

A network is a first convolution with ``out_channel0`` channels, then ``M`` macro-blocks;
macro-block ``m`` stacks ``R[m]`` residual blocks of ``B[m]`` parallel branches of block type
``convblock[m]`` and widens the channels by ``widenfact[m]``; then global average pooling and a
linear classifier. The hyperparameter names and the encoding follow AnalogNAS (IBM's analog-nas),
so architectures can be compared with theirs one to one.

Beyond AnalogNAS (issue 17): ``rank_classifier`` and ``rank_wide`` factorise the classifier and
the branch convolutions of the widest macro-blocks into two low-rank layers (1.0: dense), and
``head_features`` > 0 replaces the classifier by a random-feature head (a fixed random projection
on the tiles, then a trained digital readout). Their defaults are left out of the JSON form, so
architectures without them keep their descriptions and ids.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from surrogate.features import (
    ENCODING_NAMES,
    EXTENSION_DEFAULTS,
    EXTENSION_NAMES,
    MAX_MACRO_BLOCKS,
    STAGE_FIELDS,
)

BlockType = Literal["A", "B", "C", "D"]
BLOCK_TYPES: tuple[BlockType, ...] = ("A", "B", "C", "D")
WIDEN_STEP = 0.5
RANK_FRACTIONS = (0.125, 0.25, 0.5, 1.0)  # the rank dimension of a search that enables it
DEFAULTS = dict(zip(EXTENSION_NAMES, EXTENSION_DEFAULTS, strict=True))


class ArchConfig(BaseModel):
    """One architecture of the space: an immutable, validated value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_channel0: int = Field(ge=1, description="Output channels of the first convolution.")
    M: int = Field(ge=1, le=MAX_MACRO_BLOCKS, description="Number of macro-blocks.")
    R: tuple[int, ...] = Field(description="Residual blocks per macro-block.")
    B: tuple[int, ...] = Field(description="Parallel branches per residual block.")
    convblock: tuple[BlockType, ...] = Field(description="Block type per macro-block.")
    widenfact: tuple[float, ...] = Field(description="Channel widening factor per macro-block.")
    rank_classifier: float = Field(
        1.0, gt=0, le=1, description="Rank fraction of the classifier (1: dense)."
    )
    rank_wide: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Rank fraction of the branch convolutions of the widest macro-blocks.",
    )
    head_features: int = Field(
        0, ge=0, le=65536, description="Random features of the head (0: a linear classifier)."
    )

    @field_validator("R", "B")
    @classmethod
    def _positive(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if any(v < 1 for v in values):
            raise ValueError("every value must be >= 1")
        return values

    @field_validator("widenfact")
    @classmethod
    def _widening(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if any(v <= 0 for v in values):
            raise ValueError("every value must be > 0")
        return tuple(float(v) for v in values)

    @model_validator(mode="after")
    def _one_value_per_macro_block(self) -> ArchConfig:
        for name in STAGE_FIELDS:
            if len(getattr(self, name)) != self.M:
                raise ValueError(f"{name}: needs one value per macro-block (M={self.M})")
        if self.head_features and self.rank_classifier != 1.0:
            raise ValueError(
                "rank_classifier: a random-feature head has no classifier to factorise"
            )
        return self

    @model_serializer(mode="wrap")
    def _defaults_left_out(self, handler: SerializerFunctionWrapHandler) -> dict:
        # architectures from before the extensions dump, hash and store as they did
        data = handler(self)
        for name, default in DEFAULTS.items():
            if data.get(name) == default:
                data.pop(name)
        return data

    def wide_blocks(self) -> list[int]:
        """The macro-blocks of the widest output (``rank_wide`` factorises their branches)."""
        widths = self.channels()[1:]
        return [m for m, width in enumerate(widths) if width == max(widths)]

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        return cls.model_validate_json(text)

    @property
    def id(self) -> str:
        """Stable identifier: the first 16 hex digits of the SHA-256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def channels(self) -> list[int]:
        """Output channels of the first convolution and of each macro-block."""
        widths = [self.out_channel0]
        for factor in self.widenfact:
            widths.append(max(1, round(widths[-1] * factor)))
        return widths

    def to_analognas(self) -> dict[str, Any]:
        """The flat form of AnalogNAS's data files (macro-blocks beyond M are zero)."""
        flat: dict[str, Any] = {"out_channel0": self.out_channel0, "M": self.M}
        for name in STAGE_FIELDS:
            values = getattr(self, name)
            for m in range(MAX_MACRO_BLOCKS):
                value = values[m] if m < self.M else 0
                if name == "convblock" and m < self.M:
                    value = BLOCK_TYPES.index(value) + 1
                flat[f"{name}{m + 1}"] = value
        return flat

    @classmethod
    def from_analognas(cls, flat: dict[str, Any]) -> ArchConfig:
        """Inverse of :meth:`to_analognas` (block types as 1..4 or letters)."""
        m = int(flat["M"])
        stages = {name: [flat[f"{name}{i + 1}"] for i in range(m)] for name in STAGE_FIELDS}
        stages["convblock"] = [
            BLOCK_TYPES[int(v) - 1] if not isinstance(v, str) else v for v in stages["convblock"]
        ]
        return cls(out_channel0=int(flat["out_channel0"]), M=m, **stages)


class SearchSpace(BaseModel):
    """Bounds of the space (inclusive); a job may narrow them with :meth:`narrow`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_channel0: tuple[int, int] = (8, 128)
    M: tuple[int, int] = (1, MAX_MACRO_BLOCKS)
    R: tuple[int, int] = (1, 16)
    B: tuple[int, int] = (1, 12)
    convblock: tuple[BlockType, ...] = BLOCK_TYPES
    widenfact: tuple[float, float] = (1.0, 4.0)
    rank_classifier: tuple[float, ...] = (1.0,)
    rank_wide: tuple[float, ...] = (1.0,)
    head_features: int = Field(0, ge=0, le=65536)

    @model_validator(mode="after")
    def _ordered_bounds(self) -> SearchSpace:
        for name in ("out_channel0", "M", "R", "B", "widenfact"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: lower bound {low} is above upper bound {high}")
            if low < (1 if name != "widenfact" else WIDEN_STEP):
                raise ValueError(f"{name}: lower bound {low} is too small")
        if any(bound / WIDEN_STEP != round(bound / WIDEN_STEP) for bound in self.widenfact):
            raise ValueError(f"widenfact: bounds must be multiples of {WIDEN_STEP}")
        if self.M[1] > MAX_MACRO_BLOCKS:
            raise ValueError(f"M: at most {MAX_MACRO_BLOCKS} macro-blocks")
        if not self.convblock or len(set(self.convblock)) != len(self.convblock):
            raise ValueError("convblock: give one or more distinct block types")
        for name in ("rank_classifier", "rank_wide"):
            choices = getattr(self, name)
            if not choices or len(set(choices)) != len(choices):
                raise ValueError(f"{name}: give one or more distinct rank fractions")
            if any(not 0 < f <= 1 for f in choices):
                raise ValueError(f"{name}: rank fractions must lie in (0, 1]")
        if self.head_features and self.rank_classifier != (1.0,):
            raise ValueError(
                "rank_classifier: a random-feature head has no classifier to factorise"
            )
        return self

    def with_ranks(self, fractions: tuple[float, ...] = RANK_FRACTIONS) -> SearchSpace:
        """This space with the rank dimension: the classifier (unless the head is random
        features) and the widest layers each take one of ``fractions``."""
        classifier = (1.0,) if self.head_features else tuple(fractions)
        return SearchSpace(
            **{**self.model_dump(), "rank_classifier": classifier, "rank_wide": tuple(fractions)}
        )

    def with_head(self, features: int) -> SearchSpace:
        """This space with a random-feature head of ``features`` features (0: linear)."""
        update: dict[str, Any] = {"head_features": features}
        if features:
            update["rank_classifier"] = (1.0,)
        return SearchSpace(**{**self.model_dump(), **update})

    def _searched(self) -> list[str]:
        """The extension fields with more than one choice (the others are fixed)."""
        return [n for n in ("rank_classifier", "rank_wide") if len(getattr(self, n)) > 1]

    def _fixed(self) -> dict[str, Any]:
        return {
            "rank_classifier": self.rank_classifier[0],
            "rank_wide": self.rank_wide[0],
            "head_features": self.head_features,
        }

    @classmethod
    def tiny(cls) -> SearchSpace:
        """Bounds for tiny inputs and tiny chips (8x8 digits, a few dozen tiles)."""
        return cls(out_channel0=(8, 32), M=(1, 3), R=(1, 3), B=(1, 3), widenfact=(1.0, 2.0))

    def narrow(self, **bounds: Any) -> SearchSpace:
        """A sub-space: each given bound must lie inside this space's."""
        narrowed = SearchSpace(**{**self.model_dump(), **bounds})
        for name, value in bounds.items():
            outer = getattr(self, name)
            inside = (
                set(value) <= set(outer)
                if name in ("convblock", "rank_classifier", "rank_wide")
                else outer[0] <= value[0] and value[1] <= outer[1]
            )
            if not inside:
                raise ValueError(f"{name}: {tuple(value)} is not inside {tuple(outer)}")
        return narrowed

    # --- membership --------------------------------------------------------------------------
    def violations(self, cfg: ArchConfig) -> list[str]:
        """Why ``cfg`` is outside the space (empty when it is inside)."""
        problems = []

        def check(name: str, value: float, low: float, high: float) -> None:
            if not low <= value <= high:
                problems.append(f"{name}={value} is outside [{low}, {high}]")

        check("out_channel0", cfg.out_channel0, *self.out_channel0)
        check("M", cfg.M, *self.M)
        for m in range(cfg.M):
            check(f"R{m + 1}", cfg.R[m], *self.R)
            check(f"B{m + 1}", cfg.B[m], *self.B)
            check(f"widenfact{m + 1}", cfg.widenfact[m], *self.widenfact)
            if cfg.widenfact[m] / WIDEN_STEP != round(cfg.widenfact[m] / WIDEN_STEP):
                problems.append(f"widenfact{m + 1}={cfg.widenfact[m]} is not a multiple of 0.5")
            if cfg.convblock[m] not in self.convblock:
                problems.append(f"convblock{m + 1}={cfg.convblock[m]} is not in {self.convblock}")
        for name in ("rank_classifier", "rank_wide"):
            if getattr(cfg, name) not in getattr(self, name):
                problems.append(f"{name}={getattr(cfg, name)} is not in {getattr(self, name)}")
        if cfg.head_features != self.head_features:
            problems.append(f"head_features={cfg.head_features} is not {self.head_features}")
        return problems

    def contains(self, cfg: ArchConfig) -> bool:
        return not self.violations(cfg)

    def validate_config(self, cfg: ArchConfig) -> ArchConfig:
        """``cfg`` itself, or a ValueError naming every value outside the space."""
        problems = self.violations(cfg)
        if problems:
            raise ValueError("architecture outside the search space: " + "; ".join(problems))
        return cfg

    # --- sampling and variation ----------------------------------------------------------------
    def _widen_choices(self) -> np.ndarray:
        return np.arange(self.widenfact[0], self.widenfact[1] + 1e-9, WIDEN_STEP)

    def _sample_stage(self, rng: np.random.Generator) -> dict[str, Any]:
        return {
            "R": int(rng.integers(self.R[0], self.R[1] + 1)),
            "B": int(rng.integers(self.B[0], self.B[1] + 1)),
            "convblock": str(rng.choice(self.convblock)),
            "widenfact": float(rng.choice(self._widen_choices())),
        }

    def sample(self, rng: np.random.Generator) -> ArchConfig:
        """A configuration drawn uniformly, value by value."""
        m = int(rng.integers(self.M[0], self.M[1] + 1))
        stages = [self._sample_stage(rng) for _ in range(m)]
        oc0 = int(rng.integers(self.out_channel0[0], self.out_channel0[1] + 1))
        extras = self._fixed()
        for name in self._searched():  # drawn last: dense spaces sample as before
            extras[name] = float(rng.choice(getattr(self, name)))
        return _assemble(oc0, stages, extras)

    def mutate(self, cfg: ArchConfig, rng: np.random.Generator) -> ArchConfig:
        """``cfg`` with one hyperparameter redrawn (adding or removing a macro-block for M)."""
        oc0, stages, extras = cfg.out_channel0, _stages(cfg), _extras(cfg)
        choices = ["out_channel0", "M", *STAGE_FIELDS, *self._searched()]
        for _ in range(1000):
            name = str(rng.choice(choices))
            if name in EXTENSION_NAMES:
                extras = {**extras, name: float(rng.choice(getattr(self, name)))}
            elif name == "out_channel0":
                oc0 = int(rng.integers(self.out_channel0[0], self.out_channel0[1] + 1))
            elif name == "M":
                m = int(rng.integers(self.M[0], self.M[1] + 1))
                stages = stages[:m] + [self._sample_stage(rng) for _ in range(m - len(stages))]
            else:
                m = int(rng.integers(len(stages)))
                stages[m] = {**stages[m], name: self._sample_stage(rng)[name]}
            mutated = _assemble(oc0, stages, extras)
            if mutated != cfg:
                return mutated
        raise ValueError("the search space holds a single architecture: nothing to mutate")

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator) -> ArchConfig:
        """Uniform crossover: each value from either parent, macro-block by macro-block."""
        pick = lambda x, y: x if rng.random() < 0.5 else y  # noqa: E731
        sa, sb = _stages(a), _stages(b)
        m = pick(a.M, b.M)
        stages = []
        for i in range(m):
            options = [s[i] for s in (sa, sb) if i < len(s)]
            first, second = options[0], options[-1]
            stages.append({name: pick(first[name], second[name]) for name in STAGE_FIELDS})
        oc0 = pick(a.out_channel0, b.out_channel0)
        extras = {**_extras(a), **{n: pick(getattr(a, n), getattr(b, n)) for n in self._searched()}}
        return _assemble(oc0, stages, extras)

    # --- numeric views ------------------------------------------------------------------------
    @staticmethod
    def encode(cfg: ArchConfig) -> np.ndarray:
        """Fixed-length vector: 22 values named by ``ENCODING_NAMES`` (AnalogNAS's order;
        macro-blocks beyond M are zero, block types are 1..4), then ``EXTENSION_NAMES``."""
        flat = cfg.to_analognas()
        values = [flat[name] for name in ENCODING_NAMES]
        values += [getattr(cfg, name) for name in EXTENSION_NAMES]
        return np.asarray(values, dtype=np.float64)

    @staticmethod
    def encode_many(configs: list[ArchConfig]) -> np.ndarray:
        """The encodings of many configurations: ``[N, 25]``."""
        return np.stack([SearchSpace.encode(cfg) for cfg in configs])

    def suggest(self, trial: Any) -> ArchConfig:
        """Draw a configuration from an Optuna trial.

        All 22 parameters are suggested every time (a fixed search space, which Optuna's
        evolutionary samplers need); macro-blocks beyond M are ignored. The rank fractions are
        suggested too where the space has more than one (categorical).
        """
        oc0 = trial.suggest_int("out_channel0", *self.out_channel0)
        m = trial.suggest_int("M", *self.M)
        stages = []
        for i in range(1, MAX_MACRO_BLOCKS + 1):
            stage = {
                "R": trial.suggest_int(f"R{i}", *self.R),
                "B": trial.suggest_int(f"B{i}", *self.B),
                "convblock": trial.suggest_categorical(f"convblock{i}", list(self.convblock)),
                "widenfact": trial.suggest_float(f"widenfact{i}", *self.widenfact, step=WIDEN_STEP),
            }
            stages.append(stage)
        extras = self._fixed()
        for name in self._searched():
            extras[name] = trial.suggest_categorical(name, list(getattr(self, name)))
        return _assemble(oc0, stages[:m], extras)

    def params(self, cfg: ArchConfig) -> dict[str, Any]:
        """The Optuna parameters :meth:`suggest` turns into ``cfg`` (to enqueue it as a trial);
        the unused macro-blocks beyond M repeat the last one."""
        self.validate_config(cfg)
        stages = _stages(cfg)
        stages += [stages[-1]] * (MAX_MACRO_BLOCKS - cfg.M)
        params: dict[str, Any] = {"out_channel0": cfg.out_channel0, "M": cfg.M}
        for i, stage in enumerate(stages, start=1):
            params.update({f"{name}{i}": value for name, value in stage.items()})
        params.update({name: getattr(cfg, name) for name in self._searched()})
        return params


def _extras(cfg: ArchConfig) -> dict[str, Any]:
    return {name: getattr(cfg, name) for name in EXTENSION_NAMES}


def _stages(cfg: ArchConfig) -> list[dict[str, Any]]:
    return [{name: getattr(cfg, name)[m] for name in STAGE_FIELDS} for m in range(cfg.M)]


def _assemble(
    out_channel0: int, stages: list[dict[str, Any]], extras: dict[str, Any] | None = None
) -> ArchConfig:
    return ArchConfig(
        out_channel0=out_channel0,
        M=len(stages),
        **{name: tuple(stage[name] for stage in stages) for name in STAGE_FIELDS},
        **(extras or {}),
    )
