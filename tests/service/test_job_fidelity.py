"""A job's budget names the fidelity of its verification and of the surrogate data it collects;
both are recorded (candidate, API, surrogate rows) and never fitted together."""

import json

import pytest
from sqlalchemy import select

from search.collect import CHEAP_BUDGET, collection_budget
from search.fidelity import Fidelity
from search.pipeline import surrogate_path
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
    "collect_architectures": 10,
    "collect_train_examples": 100,
    "collect_test_examples": 50,
    "collect_epochs": 1,
    "collect_mc_samples": 1,
}
JOB = {"task": "digits", "hardware": HW, "budget": BUDGET, "seed": 0}


@pytest.fixture
def service(tmp_path):
    with local_service(tmp_path, auth=False) as client:
        yield client


def test_a_job_records_its_fidelities_and_keeps_their_rows_apart(service):
    submitted = service.post("/v1/jobs", json=JOB)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert service.runner.run_once() is True
    assert service.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"
    final = {"train_examples": 200, "test_examples": 100, "epochs": 1, "mc_samples": 2}
    (verified,) = [
        c for c in service.get(f"/v1/jobs/{job['id']}/candidates").json() if c["verified"]
    ]
    assert verified["fidelity"] == final
    with service.database.session() as session:
        stored = session.scalars(select(Candidate).where(Candidate.verified.is_not(None))).one()
        assert stored.fidelity == final
    hw = HardwareConfig.preset("pcm", tile_rows=128, tile_cols=128)
    rows = SampleStore(service.database.engine).rows("digits", hw.config_hash())
    collected = [r for r in rows if r["source"] == "collect"]
    assert len(collected) == 10 and len(rows) == 11
    assert {(r["budget"]["train_examples"], r["budget"]["test_examples"]) for r in collected} == {
        (100, 50)
    }
    assert [r["budget"]["train_examples"] for r in rows if r["source"] == "search"] == [200]
    cheap = Fidelity(train_examples=100, test_examples=50, epochs=1, mc_samples=1)
    path = surrogate_path(service.settings.data_dir / "surrogates", "digits", hw, cheap)
    refitted = json.loads(path.read_text())["metadata"]
    assert refitted["n_samples"] == 10  # the job's verification at another fidelity stayed out
    assert refitted["fidelity"] == cheap.model_dump()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"train_examples": 5}, "train_examples"),
        ({"test_examples": 0}, "test_examples"),
        ({"collect_train_examples": -1}, "collect_train_examples"),
        ({"collect_epochs": 0}, "collect_epochs"),
        ({"collect_mc_samples": 1000}, "collect_mc_samples"),
        ({"collect_architectures": 3}, "collect_architectures"),
    ],
)
def test_bad_fidelities_are_refused_naming_the_field(service, change, field):
    response = service.post("/v1/jobs", json={**JOB, "budget": {**BUDGET, **change}})
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])


def test_by_default_jobs_verify_on_whole_splits_and_collect_at_the_cheap_budget():
    spec = BudgetSpec()
    assert spec.train_examples is None and spec.test_examples is None
    collection = collection_budget(
        spec.collect_train_examples,
        spec.collect_test_examples,
        spec.collect_epochs,
        spec.collect_mc_samples,
    )
    assert collection == CHEAP_BUDGET
