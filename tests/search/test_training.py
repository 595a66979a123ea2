"""Training on digits and verification of architectures."""

import io
import statistics
import time

import pytest
import torch
from pydantic import ValidationError

from search.baselines import RESNET8
from search.model import build_model
from search.space import ArchConfig
from search.tasks import load_task
from search.training import TrainConfig, accuracy, train
from search.verify import Budget, verify
from simulator import HardwareConfig, cost, default_device

PCM = HardwareConfig.preset("pcm")
SMALL = ArchConfig(
    out_channel0=8, M=2, R=(1, 1), B=(1, 1), convblock=("A", "A"), widenfact=(1.0, 2.0)
)


@pytest.fixture(scope="module")
def digits():
    return load_task("digits")


def test_digits_training_reaches_90_percent_within_a_minute(digits):
    start = time.perf_counter()
    result = train(build_model(RESNET8, digits), digits, PCM, TrainConfig(epochs=20))
    seconds = time.perf_counter() - start
    assert accuracy(result.model, digits, "test", default_device()) >= 0.9
    assert seconds < 60
    assert 1 <= result.best_epoch <= result.epochs <= 20
    assert [c["epoch"] for c in result.curves] == list(range(1, result.epochs + 1))
    assert result.val_accuracy == max(c["val_accuracy"] for c in result.curves)


def test_early_stopping_and_time_limit(digits):
    result = train(
        build_model(SMALL, digits), digits, PCM, TrainConfig(epochs=200, patience=2, max_seconds=3)
    )
    assert result.epochs < 200


def test_training_is_reproducible(digits):
    config = TrainConfig(epochs=2, seed=3)
    a = train(build_model(SMALL, digits, seed=3), digits, PCM, config)
    b = train(build_model(SMALL, digits, seed=3), digits, PCM, config)
    assert a.curves == b.curves
    c = train(build_model(SMALL, digits, seed=4), digits, PCM, config)
    assert c.curves != a.curves


def test_training_picks_reproducible_cuda_kernels(digits):
    # on CUDA, cuDNN's benchmarked kernels made two seeded trainings differ (H200)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    try:
        train(build_model(SMALL, digits, seed=3), digits, PCM, TrainConfig(epochs=1, seed=3))
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, False


def test_verify_reports_drift_accuracy_avm_and_cost(digits):
    budget = Budget(train=TrainConfig(epochs=3), mc_samples=4)
    result = verify(SMALL, digits, PCM, budget)
    assert result.times == (1.0, 3600.0, 86400.0, 2592000.0, 31536000.0)
    assert result.accuracy_1d == result.accuracy_at(86400.0)[0]
    assert result.avm == pytest.approx(
        result.accuracy_at(1.0)[0] - result.accuracy_at(2592000.0)[0]
    )
    assert all(s >= 0 for s in result.accuracy_std)
    assert 0.5 < result.digital_accuracy <= 1
    assert result.cost == cost(build_model(SMALL, digits), PCM, digits.input_shape).to_dict()
    assert result.arch_id == SMALL.id and result.task == "digits"
    assert ArchConfig.model_validate(result.arch) == SMALL
    ranges = [v for k, v in _weights(result).items() if k.endswith("weight_range")]
    assert ranges and all(torch.isfinite(r).all() for r in ranges)  # post-training optimised


def test_verify_without_post_training_keeps_the_default_ranges(digits):
    budget = Budget(train=TrainConfig(epochs=1), mc_samples=2, post_training=None)
    weights = _weights(verify(SMALL, digits, PCM, budget))
    assert all(torch.isnan(v).all() for k, v in weights.items() if k.endswith("weight_range"))


def _weights(result) -> dict[str, torch.Tensor]:
    return torch.load(io.BytesIO(result.weights))


def test_budget_needs_the_reported_times():
    with pytest.raises(ValidationError, match="times"):
        Budget(times=(1.0, 3600.0))
    with pytest.raises(ValidationError, match="mc_samples"):
        Budget(mc_samples=0)


def test_hardware_aware_training_loses_less_at_one_day(digits):
    """Averaged over seeds, HWA-trained networks lose less accuracy to the chip at 1 day."""
    drops = {}
    for hwa in (True, False):
        losses = []
        for seed in range(3):
            train_config = TrainConfig(seed=seed, epochs=15, **({} if hwa else {"hwa": None}))
            budget = Budget(
                train=train_config,
                times=(1.0, 86400.0, 2592000.0),
                mc_samples=20,
                post_training=None,  # the effect of training alone
            )
            result = verify(SMALL, digits, PCM, budget)
            losses.append(result.digital_accuracy - result.accuracy_1d)
        drops[hwa] = statistics.mean(losses)
    assert drops[True] < drops[False]
