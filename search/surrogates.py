"""Which surrogate a search uses: the pooled model of every known row, bound to a job's context.

A context is a task at the fidelity of its surrogate rows (its :class:`TaskProfile`, with the
accuracy of a fixed small probe network at that fidelity as a measure of difficulty) on a chip.
The shipped model was fitted on the rows shipped with the package (``surrogate/data``: grids of
chips for digits and Fashion-MNIST); a job fits it anew on every known row (shipped and in the
database) with its own context's rows weighted as in-domain, and keeps that fit per context, so a
chip or task it has never seen starts from the others' rows instead of from nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from search.collect import task_collection_budget
from search.fidelity import Fidelity
from search.space import ArchConfig
from search.tasks import Task
from search.training import TrainConfig
from search.verify import Budget, train_candidate
from simulator import HardwareConfig
from surrogate.context import Context, TaskProfile
from surrogate.fitting import DATA_DIR, fit_pooled, group, shipped_rows, shipped_surrogate
from surrogate.models import BoundSurrogate, Group, Surrogate, SurrogateMismatch
from surrogate.store import SampleStore

# The probe of a task's difficulty: a fixed small network, trained digitally at the fidelity.
PROBE = ArchConfig(out_channel0=8, M=1, R=(1,), B=(1,), convblock=("A",), widenfact=(1.0,))
SHIPPED_PROFILES = DATA_DIR / "profiles.json"


def probe_profile(task: Task, fidelity: Fidelity, seed: int = 0) -> TaskProfile:
    """The profile of ``task`` at ``fidelity``: its shape, training-set size, epochs, and the
    test accuracy ``PROBE`` reaches when trained digitally at that fidelity."""
    budget = Budget(
        train=TrainConfig(epochs=fidelity.epochs, seed=seed, hwa=None),
        mc_samples=1,
        train_examples=fidelity.train_examples,
        test_examples=fidelity.test_examples,
        post_training=None,
    )
    trained = train_candidate(PROBE, task, HardwareConfig.preset("ideal"), budget)
    return TaskProfile(
        name=task.name,
        input_shape=task.input_shape,
        num_classes=task.num_classes,
        train_examples=len(trained.task.train),
        epochs=fidelity.epochs,
        probe_accuracy=trained.digital_accuracy,
        fidelity=fidelity.tag(),
    )


class ProfileBook:
    """Known task profiles: those shipped, and those measured here (kept in ``path``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._profiles: dict[str, dict[str, Any]] = {}
        for source in (SHIPPED_PROFILES, self.path):
            if source.is_file():
                self._profiles.update(json.loads(source.read_text()))

    @staticmethod
    def key(task: str, fidelity: str) -> str:
        return f"{task}/{fidelity}"

    def get(self, task: str, fidelity: str) -> TaskProfile | None:
        known = self._profiles.get(self.key(task, fidelity))
        return TaskProfile.from_dict(known) if known else None

    def profile(self, task: Task, fidelity: Fidelity) -> TaskProfile:
        """The known profile, or a new one measured with the probe (and kept)."""
        known = self.get(task.name, fidelity.tag())
        if known is not None:
            return known
        profile = probe_profile(task, fidelity)
        self._profiles[self.key(task.name, fidelity.tag())] = profile.to_dict()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}.tmp")
        partial.write_text(json.dumps(self._profiles, indent=1, sort_keys=True))
        partial.replace(self.path)
        return profile


def row_fidelity(row: dict[str, Any]) -> str:
    return Fidelity.of_budget(row["budget"]).tag()


def by_context(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """Rows by context key (task, chip hash, fidelity tag), one per (architecture, seed, budget):
    a later row replaces an earlier one of the same key."""
    keyed: dict[tuple, dict[tuple, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        context = (row["task"], row["hardware_hash"], row_fidelity(row))
        keyed[context][(row["arch_id"], row["seed"], row["budget_hash"])] = row
    return {key: list(found.values()) for key, found in keyed.items()}


def groups_of(
    rows: dict[tuple[str, str, str], list[dict[str, Any]]], profiles: ProfileBook
) -> list[Group]:
    """The groups of the contexts whose task profile is known, in a stable order."""
    groups = []
    for (task, _, fidelity), found in sorted(rows.items()):
        profile = profiles.get(task, fidelity)
        if profile is not None:
            hw = HardwareConfig.model_validate(found[0]["hardware"])
            groups.append(group(Context(profile, hw), found))
    return groups


class SurrogateSource:
    """The rows, profiles and fitted models of one deployment (a data directory and a store)."""

    def __init__(self, store: SampleStore, models_dir: Path) -> None:
        self.store, self.models_dir = store, Path(models_dir)
        self.profiles = ProfileBook(self.models_dir / "profiles.json")

    def context(self, task: Task, hw: HardwareConfig, fidelity: Fidelity) -> Context:
        return Context(self.profiles.profile(task, fidelity), hw)

    def rows(self) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
        """Every known row (shipped, then the database's), by context key."""
        return by_context([*shipped_rows(), *self.store.all_rows()])

    def own_rows(self, context: Context) -> list[dict[str, Any]]:
        """The rows of ``context`` itself (shipped and the database's)."""
        return self.rows().get(_key(context), [])

    def groups(self, context: Context) -> tuple[list[Group], Group | None]:
        """The groups of every other context whose task profile is known, and ``context``'s
        own (None without rows)."""
        rows = self.rows()
        own_rows = rows.pop(_key(context), None)
        own = group(context, own_rows) if own_rows else None
        return groups_of(rows, self.profiles), own

    def fitted(self, context: Context) -> BoundSurrogate:
        """The model of ``context``: the one fitted for it here, or the shipped one, when it
        was fitted on exactly the rows known now; else a new fit on them (kept)."""
        pooled, own = self.groups(context)
        rows = {g.context.key: len(g.encodings) for g in [*pooled, *([own] if own else [])]}
        path = self.models_dir / f"pooled-{_context_hash(context)}.json"
        for candidate in (_load(path), shipped_surrogate()):
            fitted_on = {k: v["rows"] for k, v in (candidate.contexts if candidate else {}).items()}
            if fitted_on == rows:
                return candidate.bind(context)
        surrogate = fit_pooled(pooled, own)
        surrogate.save(path)
        return surrogate.bind(context)


def _key(context: Context) -> tuple[str, str, str]:
    return (context.task.name, context.hw.config_hash(), context.task.fidelity)


def _context_hash(context: Context) -> str:
    return hashlib.sha256(context.key.encode()).hexdigest()[:16]


def _load(path: Path) -> Surrogate | None:
    if not path.is_file():
        return None
    try:
        return Surrogate.load(path)
    except SurrogateMismatch:  # fitted by an older version: refit
        return None


def shipped_model(task: str, hw: HardwareConfig) -> BoundSurrogate:
    """The shipped pooled model, bound to a task with a shipped profile (at its cheap
    collection fidelity) on ``hw``."""
    surrogate = shipped_surrogate()
    fidelity = task_collection_budget(task).fidelity.tag()
    profile = ProfileBook(SHIPPED_PROFILES).get(task, fidelity)
    if surrogate is None or profile is None:
        raise ValueError(f"task: nothing shipped for {task!r} at {fidelity}")
    return surrogate.bind(Context(profile, hw))
