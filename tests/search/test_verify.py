"""Verification: one training measured on many chips gives what a verification per chip gives."""

import numpy as np
import pytest

from search.baselines import RESNET8
from search.tasks import load_task
from search.training import TrainConfig
from search.verify import Analysis, Budget, verify, verify_on_chips
from simulator import HardwareConfig

PCM = HardwareConfig.preset("pcm", tile_rows=128, tile_cols=128)
RRAM = HardwareConfig.preset("rram", tile_rows=128, tile_cols=128, adc_bits=4)
BUDGET = Budget(
    train=TrainConfig(epochs=1),
    mc_samples=2,
    train_examples=300,
    test_examples=100,
    times=(1.0, 86400.0, 2592000.0),
    post_training=None,
)


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


def test_chips_share_one_training(digits):
    on_pcm, on_rram = verify_on_chips(RESNET8, digits, [PCM, RRAM], BUDGET)
    alone = verify(RESNET8, digits, PCM, BUDGET)
    # the first chip is the training chip: the same figures as a verification of its own
    assert on_pcm.accuracy_mean == alone.accuracy_mean
    assert on_pcm.trained_on is None and on_pcm.hardware == PCM.model_dump(mode="json")
    # the other chip measures the same trained network, and says which chip it was trained for
    assert on_rram.trained_on == PCM.model_dump(mode="json")
    assert on_rram.hardware == RRAM.model_dump(mode="json")
    assert on_rram.digital_accuracy == on_pcm.digital_accuracy
    assert on_rram.accuracy_mean != on_pcm.accuracy_mean  # a 4-bit ADC changes the figures
    used = {"train_examples": 300, "test_examples": 100, "epochs": 1, "mc_samples": 2}
    assert on_rram.fidelity == on_pcm.fidelity == used


def test_no_chips_is_an_error(digits):
    with pytest.raises(ValueError, match="chips"):
        verify_on_chips(RESNET8, digits, [], BUDGET)


def test_analyses_of_a_large_test_split_take_a_fixed_subset(digits):
    budget = BUDGET.model_copy(update={"analysis": Analysis(test_examples=60)})
    result = verify(RESNET8, digits, PCM, budget)
    assert len(result.drift["times"]) == 17 and result.drift["times"][0] == 1.0
    # every figure of the grid counts correct answers out of 60 images on each of the 2 chips
    counts = np.asarray(result.drift["mean"]) * 60 * budget.mc_samples
    assert np.allclose(counts, np.round(counts), atol=1e-3)
    whole = verify(RESNET8, digits, PCM, BUDGET.model_copy(update={"analysis": Analysis()}))
    grid = dict(zip(whole.drift["times"], whole.drift["mean"], strict=True))
    assert grid[86400.0] == whole.accuracy_1d  # the split is small: the verification's reused
