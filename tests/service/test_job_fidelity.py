"""A job's budget names the fidelity of its verification and of the surrogate rows its active
loop verifies; both are recorded (candidate, API, surrogate rows) and are contexts apart."""

import pytest
from sqlalchemy import select

from search.collect import CHEAP_BUDGET, task_collection_budget
from search.fidelity import Fidelity
from service.models import Candidate
from service.schemas import BudgetSpec
from simulator import HardwareConfig
from surrogate.store import SampleStore
from tests.service.local_service import local_service

HW = {"preset": "pcm", "tile_rows": 128, "tile_cols": 128, "max_tiles": 8}  # nothing shipped
BUDGET = {
    "trials": 60,
    "top_k": 1,
    "train_epochs": 1,
    "mc_samples": 2,
    "train_examples": 200,
    "test_examples": 100,
    "post_training": False,
    "collect_architectures": 4,
    "collect_batch": 2,
    "collect_train_examples": 400,
    "collect_test_examples": 50,
    "collect_epochs": 3,
    "collect_mc_samples": 1,
}
JOB = {"task": "digits", "hardware": HW, "budget": BUDGET, "seed": 0}


@pytest.fixture
def service(tmp_path):
    with local_service(tmp_path, auth=False) as client:
        yield client


def test_a_job_on_a_new_chip_runs_its_loop_and_records_both_fidelities(service):
    submitted = service.post("/v1/jobs", json=JOB)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    assert service.runner.run_once() is True
    job = service.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job["error"]
    final = {"train_examples": 200, "test_examples": 100, "epochs": 1, "mc_samples": 2}
    verified = [c for c in service.get(f"/v1/jobs/{job_id}/candidates").json() if c["verified"]]
    assert verified and all(c["fidelity"] == final for c in verified)
    with service.database.session() as session:
        stored = session.scalars(select(Candidate).where(Candidate.verified.is_not(None))).all()
        assert all(c.fidelity == final for c in stored)
    hw = HardwareConfig.preset("pcm", tile_rows=128, tile_cols=128)
    rows = SampleStore(service.database.engine).rows("digits", hw.config_hash())
    looped = [r for r in rows if r["source"] == f"job:{job_id}"]
    assert len(looped) == 4 and len({r["arch_id"] for r in looped}) == 4
    assert {(r["budget"]["train_examples"], r["budget"]["test_examples"]) for r in looped} == {
        (400, 50)
    }
    assert {r["budget"]["train_examples"] for r in rows if r["source"] == "search"} == {200}
    record = job["surrogate"]
    numbers = [r["number"] for r in record["rounds"]]  # a round short of candidates adds one
    assert len(numbers) >= 2 and numbers == list(range(1, len(numbers) + 1))
    assert [len(r["architectures"]) <= 2 for r in record["rounds"]] == [True] * len(numbers)
    assert sum(len(r["architectures"]) for r in record["rounds"]) == 4
    assert record["rounds"][-1]["prospective_tau"] is not None
    quality = record["quality"]
    assert quality["in_domain_rows"] == 4  # the job's own rows, never its final verifications
    assert quality["context"].startswith("digits/train400-test50-e3-mc1@")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"train_examples": 5}, "train_examples"),
        ({"test_examples": 0}, "test_examples"),
        ({"collect_train_examples": -1}, "collect_train_examples"),
        ({"collect_epochs": 0}, "collect_epochs"),
        ({"collect_mc_samples": 1000}, "collect_mc_samples"),
        ({"collect_architectures": -1}, "collect_architectures"),
        ({"collect_batch": 0}, "collect_batch"),
    ],
)
def test_bad_fidelities_are_refused_naming_the_field(service, change, field):
    response = service.post("/v1/jobs", json={**JOB, "budget": {**BUDGET, **change}})
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])


def test_by_default_jobs_verify_on_whole_splits_and_collect_at_the_tasks_cheap_fidelity():
    spec = BudgetSpec()
    assert spec.train_examples is None and spec.test_examples is None
    given = (
        spec.collect_train_examples,
        spec.collect_test_examples,
        spec.collect_epochs,
        spec.collect_mc_samples,
    )
    assert task_collection_budget("digits", *given) == CHEAP_BUDGET
    fashion = task_collection_budget("fashion-mnist", *given).fidelity
    assert fashion == Fidelity(train_examples=6000, test_examples=2000, epochs=3, mc_samples=2)
