"""Verification at a fidelity: balanced seeded subsets, recorded with the result, and surrogate
rows of different fidelities never fitted together."""

import json

import numpy as np
import pytest
import torch

from search.baselines import RESNET8
from search.collect import CHEAP_BUDGET, budget_hash, collection_budget, result_row
from search.fidelity import Fidelity, balanced_subset, task_at
from search.space import ArchConfig, SearchSpace
from search.surrogates import SHIPPED_PROFILES, ProfileBook, SurrogateSource, by_context
from search.tasks import load_task, make_task
from search.training import TrainConfig
from search.verify import Budget, VerificationResult, verify
from simulator import HardwareConfig
from surrogate.context import Context, TaskProfile
from surrogate.store import SampleStore

HW = HardwareConfig.preset("pcm", tile_rows=128, tile_cols=128)  # no shipped data
TIMES = (1.0, 86400.0, 2592000.0)
SMALL = ArchConfig(
    out_channel0=8, M=1, R=(1,), B=(1,), convblock=("A",), widenfact=(1.0,)
)  # seconds to train on 8x8 digits


def _counts(labels: torch.Tensor, index: torch.Tensor) -> list[int]:
    return torch.bincount(labels[index]).tolist()


def test_subsets_are_balanced_as_far_as_the_classes_allow():
    labels = torch.tensor([0] * 50 + [1] * 3 + [2] * 20 + [3] * 20)
    index = balanced_subset(labels, 40, seed=0)
    counts = _counts(labels, index)
    assert sum(counts) == 40 and counts[1] == 3  # the small class gives all it has
    others = [counts[0], counts[2], counts[3]]
    assert max(others) - min(others) <= 1
    assert len(set(index.tolist())) == 40 and torch.equal(index, index.sort().values)
    digits = load_task("digits").train.y
    counts = _counts(digits, balanced_subset(digits, 205, seed=3))
    assert sum(counts) == 205 and max(counts) - min(counts) <= 1
    assert len(balanced_subset(labels, 1000, seed=0)) == len(labels)  # more than there is: all
    with pytest.raises(ValueError, match="n"):
        balanced_subset(labels, -1, seed=0)


def test_subsets_are_deterministic_in_the_seed():
    labels = load_task("digits").train.y
    first = balanced_subset(labels, 100, seed=1)
    assert torch.equal(first, balanced_subset(labels, 100, seed=1))
    assert not torch.equal(first, balanced_subset(labels, 100, seed=2))


def test_a_task_at_a_fidelity_keeps_the_full_normalisation():
    rng = np.random.default_rng(0)
    task = make_task("synthetic", rng.integers(0, 256, (300, 1, 4, 4)), np.arange(300) % 3)
    small = task_at(task, Fidelity(train_examples=30, test_examples=9, epochs=1, mc_samples=1), 0)
    assert (len(small.train), len(small.val), len(small.test)) == (30, 9, 9)
    assert (small.mean, small.std, small.scale) == (task.mean, task.std, task.scale)
    assert _counts(small.train.y, torch.arange(30)) == [10, 10, 10]
    example = small.train.x[:1]
    assert torch.equal(small.prepare(example), task.prepare(example))
    assert task_at(task, Fidelity(test_examples=1000, epochs=1, mc_samples=1), 0) is task


def test_verify_at_a_fidelity_uses_the_subset_and_records_it():
    task = load_task("digits")
    at = Budget(
        train=TrainConfig(epochs=1, seed=4),
        mc_samples=1,
        times=TIMES,
        post_training=None,
        train_examples=120,
        test_examples=50,
    )
    result = verify(SMALL, task, HW, at)
    assert result.fidelity == {
        "train_examples": 120,
        "test_examples": 50,
        "epochs": 1,
        "mc_samples": 1,
    }
    assert round(result.digital_accuracy * 50, 6) == round(result.digital_accuracy * 50)
    # the same figures as a whole-split verification of the subset task: nothing else was used
    whole = at.model_copy(update={"train_examples": None, "test_examples": None})
    direct = verify(SMALL, task_at(task, at.fidelity, seed=4), HW, whole)
    assert (result.digital_accuracy, result.accuracy_1d) == (
        direct.digital_accuracy,
        direct.accuracy_1d,
    )
    again = VerificationResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.fidelity == result.fidelity
    old = {k: v for k, v in result.to_dict().items() if k != "fidelity"}  # stored before
    assert VerificationResult.from_dict(old).fidelity == {}


def test_the_budget_hash_changes_with_the_fidelity_only():
    assert "train_examples" not in CHEAP_BUDGET.model_dump()  # whole splits hash as before
    assert collection_budget() == CHEAP_BUDGET
    hashes = {
        budget_hash(b)
        for b in (
            CHEAP_BUDGET,
            collection_budget(train_examples=500),
            collection_budget(train_examples=600),
            collection_budget(test_examples=500),
            collection_budget(epochs=2),
            collection_budget(mc_samples=2),
        )
    }
    assert len(hashes) == 6
    unoptimised = collection_budget(post_training=False)  # measured otherwise: own rows
    assert unoptimised.fidelity == CHEAP_BUDGET.fidelity
    assert budget_hash(unoptimised) != budget_hash(CHEAP_BUDGET)
    at = collection_budget(train_examples=500)
    assert Budget.model_validate_json(at.model_dump_json()) == at
    assert Fidelity.of_budget(at.model_dump(mode="json")) == at.fidelity
    assert Fidelity.of_budget(CHEAP_BUDGET.model_dump(mode="json")).train_examples is None


def _result(cfg: ArchConfig, budget: Budget, accuracy: float) -> VerificationResult:
    """A verification's figures, made up (the real path from result to row stays)."""
    return VerificationResult(
        arch_id=cfg.id,
        arch=cfg.model_dump(mode="json"),
        task="digits",
        hardware=HW.model_dump(mode="json"),
        times=TIMES,
        accuracy_mean=(accuracy, accuracy, accuracy),
        accuracy_std=(0.01, 0.01, 0.01),
        accuracy_1d=accuracy,
        avm=0.0,
        digital_accuracy=accuracy,
        cost={"tiles": 1},
        train_seconds=0.0,
        eval_seconds=0.0,
        epochs=budget.train.epochs,
        fidelity=budget.fidelity.model_dump(),
    )


def test_rows_of_different_fidelities_are_kept_apart(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    rng = np.random.default_rng(0)
    configs = list({SearchSpace.tiny().sample(rng) for _ in range(30)})[:24]
    cheap = collection_budget(train_examples=200, epochs=2)
    final = Budget(train=TrainConfig(epochs=8), mc_samples=8, times=TIMES)
    for i, cfg in enumerate(configs[:12]):
        assert store.add(result_row(_result(cfg, cheap, 0.5 + i / 100), cheap))
    for cfg in configs[12:]:  # job verifications at the final fidelity
        assert store.add(result_row(_result(cfg, final, 0.99), final, "search"))
    assert store.add(result_row(_result(configs[0], final, 0.99), final, "search"))  # same arch
    contexts = by_context(store.all_rows())
    cheap_key = ("digits", HW.config_hash(), cheap.fidelity.tag())
    final_key = ("digits", HW.config_hash(), final.fidelity.tag())
    assert {k: len(v) for k, v in contexts.items()} == {cheap_key: 12, final_key: 13}
    book = json.loads(SHIPPED_PROFILES.read_text())  # profiles known, not probed here
    for budget, probe, examples in ((cheap, 0.4, 200), (final, 0.9, 1258)):
        profile = TaskProfile(
            "digits", (1, 8, 8), 10, examples, budget.train.epochs, probe, budget.fidelity.tag()
        )
        book[ProfileBook.key("digits", budget.fidelity.tag())] = profile.to_dict()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "profiles.json").write_text(json.dumps(book))
    source = SurrogateSource(store, tmp_path / "models")
    at_cheap = Context(source.profiles.get("digits", cheap.fidelity.tag()), HW)
    pooled, own = source.groups(at_cheap)
    assert len(own.encodings) == 12
    at_final = [g for g in pooled if g.context.task.fidelity == final.fidelity.tag()]
    assert len(at_final) == 1 and len(at_final[0].encodings) == 13  # a context of its own
    bound = source.fitted(at_cheap)
    assert bound.in_domain_rows == 12
    assert bound.surrogate.rows_of(at_final[0].context) == 13
    predicted = bound.score(SearchSpace.encode_many(configs[:12]))
    assert predicted.max() < 0.7  # the 0.99s of the other fidelity never reached it
    assert bound.score(SearchSpace.encode_many([RESNET8]))[0] < 0.7
    assert source.fitted(at_cheap).surrogate.metadata == bound.surrogate.metadata  # kept
