"""Verification records, their replay, and re-measuring stored weights without retraining."""

import dataclasses

import pytest
import torch

from search.baselines import RESNET8
from search.collect import budget_hash
from search.fidelity import task_at
from search.model import trained_analog
from search.record import data_checksum
from search.replay import ReplayRefused, replay
from search.tasks import load_task
from search.training import TrainConfig
from search.verify import Analysis, Budget, measure, restore_trained, train_candidate
from simulator import HardwareConfig, evaluate
from simulator.version import device_model_version

PCM = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
RRAM = HardwareConfig.preset("rram", tile_rows=256, tile_cols=256)
BUDGET = Budget(
    train=TrainConfig(epochs=1, seed=3),
    mc_samples=2,
    train_examples=300,
    test_examples=100,
    post_training=None,
    analysis=Analysis(times=(1.0, 60.0, 3600.0, 86400.0, 2592000.0, 3.1536e7, 3.1536e8)),
)


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


@pytest.fixture(scope="module")
def verified(digits):
    return measure(train_candidate(RESNET8, digits, PCM, BUDGET), PCM, BUDGET)


def _figures(result) -> dict:
    return {
        "times": list(result.times),
        "accuracy_mean": list(result.accuracy_mean),
        "accuracy_std": list(result.accuracy_std),
        "digital_accuracy": result.digital_accuracy,
    }


def test_the_record_names_every_input(verified, digits):
    record = verified.record
    assert record["architecture_id"] == RESNET8.id and record["task"] == "digits"
    assert record["chip"] == record["trained_on"] == PCM.model_dump(mode="json")
    assert record["device_model"] == device_model_version(PCM)
    assert record["device_model"].startswith("pcm-aihwkit-pcmlike/")
    assert record["seeds"]["training"] == record["seeds"]["chips"] == 3
    assert record["budget"] == BUDGET.model_dump(mode="json")
    assert record["examples"] == {"train": 300, "val": 100, "test": 100}
    assert record["fidelity"] == verified.fidelity
    assert record["torch_threads"] == torch.get_num_threads()
    assert record["data_checksum"] != data_checksum(digits)  # of the subsets, not the whole task


def test_the_drift_grid_is_what_a_full_evaluation_of_the_stored_model_gives(verified, digits):
    grid = verified.drift
    assert grid["times"] == list(BUDGET.analysis.times) and grid["seconds"] > 0
    subset = task_at(digits, BUDGET.fidelity, 3)  # the examples the verification measured
    analog = trained_analog(RESNET8, subset, PCM, verified.weights)
    data = (subset.prepare(subset.test.x), subset.test.y)
    fresh = evaluate(analog, data, PCM, grid["times"], BUDGET.mc_samples, seed=3)
    assert grid["mean"] == pytest.approx(list(fresh.mean), abs=1e-6)
    assert grid["std"] == pytest.approx(list(fresh.std), abs=1e-6)
    for t, mean in zip(verified.times, verified.accuracy_mean, strict=True):
        assert grid["mean"][grid["times"].index(t)] == mean  # taken from the verification
    sensitivity = verified.sensitivity
    assert sensitivity["analog_accuracy"] == pytest.approx(verified.accuracy_1d, abs=1e-6)
    assert sensitivity["exact_accuracy"] == pytest.approx(verified.digital_accuracy, abs=1e-6)
    assert len(sensitivity["layers"]) == 10 and len(sensitivity["keep_digital"]) == 2


def test_stored_weights_measure_as_the_trained_network_did(verified, digits):
    restored = restore_trained(RESNET8, digits, verified.weights, PCM, PCM, BUDGET, epochs=1)
    again = measure(restored, PCM, BUDGET)
    assert again.accuracy_mean == verified.accuracy_mean  # same chip, same seeds
    assert again.accuracy_std == verified.accuracy_std
    assert again.digital_accuracy == verified.digital_accuracy
    assert again.drift["mean"] == verified.drift["mean"]
    assert again.train_seconds == 0.0 and again.epochs == 1 and again.trained_on is None
    on_rram = measure(restored, RRAM, BUDGET.model_copy(update={"analysis": None}))
    assert on_rram.trained_on == PCM.model_dump(mode="json")
    assert on_rram.record["chip"] == RRAM.model_dump(mode="json")
    assert on_rram.record["device_model"].startswith("rram-wan2022/")
    assert on_rram.digital_accuracy == verified.digital_accuracy
    assert on_rram.accuracy_mean != verified.accuracy_mean


def test_a_replay_agrees_with_the_stored_figures(verified, digits):
    result = replay(verified.record, _figures(verified), digits)
    assert result.agrees and result.differences == []
    assert [f.replayed_mean for f in result.figures] == list(verified.accuracy_mean)
    assert result.replayed_digital == verified.digital_accuracy
    assert all(f.standard_error >= 0.01 for f in result.figures)  # one test example of 100
    tampered = {**_figures(verified), "accuracy_mean": [m + 0.05 for m in verified.accuracy_mean]}
    assert not replay(verified.record, tampered, digits).agrees


def test_a_replay_on_other_data_is_refused(verified, digits):
    other = dataclasses.replace(digits, test=digits.val)
    with pytest.raises(ReplayRefused, match="data checksum"):
        replay(verified.record, _figures(verified), other)


def test_budgets_without_analysis_hash_as_before():
    assert "analysis" not in Budget().model_dump()
    assert budget_hash(Budget()) == budget_hash(Budget.model_validate(Budget().model_dump()))
    with pytest.raises(ValueError, match="1 s"):
        Analysis(times=(10.0, 100.0))
