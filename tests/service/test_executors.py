"""Verification through each kind of executor the service can use, Dask included."""

import pytest
from distributed import LocalCluster

from search.collect import submit_verification
from search.space import ArchConfig
from search.training import TrainConfig
from search.verify import Budget, VerificationResult
from service.runner import make_executor
from service.settings import Settings
from simulator import HardwareConfig

CFG = ArchConfig(out_channel0=8, M=1, R=(1,), B=(1,), convblock=("A",), widenfact=(1.0,))
BUDGET = Budget(train=TrainConfig(epochs=1), mc_samples=2, times=(1.0, 86400.0, 2592000.0))


def _verify(executor) -> VerificationResult:
    future = submit_verification(executor, CFG, "digits", None, HardwareConfig(), BUDGET)
    (result,) = future.result(timeout=300)
    return VerificationResult.from_dict(result)


@pytest.mark.parametrize("kind", ["threads", "local"])
def test_local_executors(kind):
    executor = make_executor(Settings(executor=kind, workers=1))
    try:
        result = _verify(executor)
    finally:
        executor.shutdown()
    assert result.arch_id == CFG.id and result.weights


def test_a_dask_scheduler_address():
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        executor = make_executor(Settings(executor=cluster.scheduler_address))
        try:
            result = _verify(executor)
        finally:
            executor.shutdown()
    assert result.arch_id == CFG.id and 0 <= result.accuracy_1d <= 1
