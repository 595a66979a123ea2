"""Verification with in-situ analog training: pulses train the candidate, its device weights are
programmed onto the inference chip."""

from search.space import ArchConfig
from search.tasks import load_task
from search.training import InSituTraining, TrainConfig
from search.verify import Budget, verify
from simulator import HardwareConfig
from simulator.pulsed import PulsedConfig

SMALL = ArchConfig(
    out_channel0=8, M=2, R=(1, 1), B=(1, 1), convblock=("A", "A"), widenfact=(1.0, 2.0)
)


def test_verify_trains_a_candidate_in_situ_and_evaluates_its_device_weights():
    in_situ = InSituTraining(pulsed=PulsedConfig.preset("ideal"), lr=0.5)
    train = TrainConfig(epochs=1, batch_size=16, in_situ=in_situ)
    budget = Budget(train=train, mc_samples=2, times=(1.0, 86400.0, 2592000.0), post_training=None)
    assert Budget.model_validate_json(budget.model_dump_json()) == budget
    result = verify(SMALL, load_task("digits"), HardwareConfig.preset("pcm"), budget)
    assert result.epochs == 1 and len(result.curves) == 1
    assert result.digital_accuracy > 0.6  # an untrained network guesses (about 0.1)
    assert result.accuracy_1d > 0.5
