"""A stopped job's running verification ends at its next mini-batch, in a thread or a process."""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from search.baselines import RESNET8
from search.collect import local_executor, verify_job
from search.stopping import StoppableExecutor, Stopped, check_stop, sweep_stop_files
from search.training import TrainConfig
from search.verify import Budget
from simulator import HardwareConfig

PCM = HardwareConfig.preset("pcm", tile_rows=128, tile_cols=128)
# minutes of training; a broken stop fails the test after max_seconds, not after 1000 epochs
ENDLESS = Budget(
    train=TrainConfig(epochs=1000, patience=1000, max_seconds=60), mc_samples=2, post_training=None
)


def _mark_then_verify(marker: str) -> list[dict]:
    Path(marker).touch()
    return verify_job(
        RESNET8.to_json(), "digits", (), PCM.model_dump_json(), ENDLESS.model_dump_json()
    )


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_a_stopped_verification_ends_within_seconds_and_frees_its_worker(tmp_path, pool):
    shared = ThreadPoolExecutor(1) if pool == "threads" else local_executor(1)
    with shared:
        job = StoppableExecutor(shared, tmp_path / "stops" / "job")
        running = job.submit(_mark_then_verify, str(tmp_path / "started"))
        queued = job.submit(_mark_then_verify, str(tmp_path / "never"))
        _wait_for(tmp_path / "started", 60)
        time.sleep(1.0)  # well into its 1000 epochs (minutes)
        stopped_at = time.monotonic()
        job.stop()
        with pytest.raises(Stopped):
            running.result(timeout=30)
        with pytest.raises(Stopped):
            queued.result(timeout=30)
        assert time.monotonic() - stopped_at < 15
        assert not (tmp_path / "never").exists()  # stopped before it began
        # the shared pool runs the next job's work at once, outside the stop file
        assert shared.submit(check_stop).result(timeout=10) is None


def test_the_stop_file_reaches_only_its_own_tasks(tmp_path):
    with ThreadPoolExecutor(1) as shared:
        stopped = StoppableExecutor(shared, tmp_path / "a")
        other = StoppableExecutor(shared, tmp_path / "b")
        stopped.stop()
        with pytest.raises(Stopped):
            stopped.submit(check_stop).result()
        assert other.submit(check_stop).result() is None
    check_stop()  # outside any task: nothing to stop


def test_old_stop_files_are_swept_and_recent_ones_kept(tmp_path):
    old, recent = tmp_path / "old", tmp_path / "recent"
    for path in (old, recent):
        path.touch()
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    sweep_stop_files(tmp_path)
    assert not old.exists() and recent.exists()
    sweep_stop_files(tmp_path / "missing")  # no folder yet: nothing to do
