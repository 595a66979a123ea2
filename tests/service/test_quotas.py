"""Per-key quotas: 429 with Retry-After over each, slots freed by finished jobs, GET /v1/me."""

import io
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import create_key
from service.leases import claim_next, finish, heartbeat
from service.settings import Settings

EXPIRY = datetime(2100, 1, 1, tzinfo=UTC)
JOB = {"task": "digits", "budget": {"trials": 100, "top_k": 1, "train_epochs": 2, "mc_samples": 2}}


@contextmanager
def serving(tmp_path, **quotas):
    """A client with a key (and a second key's headers as ``client.other``) on a fresh
    service with the given settings."""
    settings = Settings(
        **{"database_url": f"sqlite:///{tmp_path / 'xbarnas.db'}", **quotas},
        runner=False,
        data_dir=tmp_path / "data",
        executor="threads",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        client.database = app.state.database
        with client.database.session() as session:
            client.key, plaintext = create_key(session, "tester")
            client.headers["Authorization"] = f"Bearer {plaintext}"
            other = create_key(session, "other", expires_at=EXPIRY)[1]
            client.other = {"Authorization": f"Bearer {other}"}
        yield client


def _npz(examples: int) -> bytes:
    rng = np.random.default_rng(examples)
    buffer = io.BytesIO()
    x = rng.random((examples, 1, 6, 6)).astype(np.float32)
    np.savez(buffer, x=x, y=np.arange(examples) % 2)
    return buffer.getvalue()


def _assert_over_quota(response, *words: str) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) > 0
    detail = response.json()["detail"]
    assert detail.startswith("quota: ") and all(word in detail for word in words), detail


def test_active_jobs_over_the_quota_get_429_until_one_finishes(tmp_path):
    with serving(tmp_path, quota_active_jobs=2) as client:
        first, second = (client.post("/v1/jobs", json=JOB).json()["id"] for _ in range(2))
        refused = client.post("/v1/jobs", json=JOB)
        _assert_over_quota(refused, "2 active jobs (queued or running) per key")
        assert refused.headers["retry-after"] == "60"  # no running job has an ETA yet

        sessions = client.database.sessions
        assert claim_next(sessions, "runner-test", 60.0) == first
        heartbeat(sessions, first, "runner-test", 60.0, eta_seconds=41.2)
        assert client.post("/v1/jobs", json=JOB).headers["retry-after"] == "42"
        assert client.post("/v1/jobs", json=JOB, headers=client.other).status_code == 202

        assert finish(sessions, first, "runner-test", "succeeded")
        third = client.post("/v1/jobs", json=JOB)
        assert third.status_code == 202
        assert client.post("/v1/jobs", json=JOB).status_code == 429
        assert client.post(f"/v1/jobs/{second}/cancel").json()["status"] == "cancelled"
        assert client.post("/v1/jobs", json=JOB).status_code == 202
        assert client.get("/v1/jobs").json()["total"] == 4


def test_a_job_larger_than_one_job_may_be_gets_429(tmp_path):
    with serving(tmp_path, quota_job_trials=100, quota_job_work=40) as client:
        budget = {**JOB["budget"], "collect_architectures": 0}
        trials = client.post("/v1/jobs", json={**JOB, "budget": {**budget, "trials": 101}})
        _assert_over_quota(trials, "budget.trials is at most 100", "asks 101")
        heavy = {**budget, "top_k": 2, "train_epochs": 5, "mc_samples": 5}  # 50
        work = client.post("/v1/jobs", json={**JOB, "budget": heavy})
        _assert_over_quota(work, "top_k x train_epochs x mc_samples", "at most 40", "asks 50")
        rows = {**budget, "collect_architectures": 3, "collect_epochs": 2, "collect_mc_samples": 7}
        collecting = client.post("/v1/jobs", json={**JOB, "budget": rows})  # 1x2x2 + 3x2x7
        _assert_over_quota(collecting, "collect_architectures x their epochs", "asks 46")
        fits = {**budget, "top_k": 2, "train_epochs": 4, "mc_samples": 5}  # 40
        assert client.post("/v1/jobs", json={**JOB, "budget": fits}).status_code == 202
        assert client.get("/v1/jobs").json()["total"] == 1


def test_default_quotas_accept_the_example_job_and_refuse_an_absurd_one(tmp_path):
    with serving(tmp_path) as client:
        assert client.post("/v1/jobs", json={}).status_code == 202  # the dashboard form's default
        absurd = {"trials": 20_000, "top_k": 10, "train_epochs": 100, "mc_samples": 100}
        _assert_over_quota(client.post("/v1/jobs", json={"budget": absurd}), "8000")
        hoarding = {"collect_architectures": 5000}  # at digits' cheap 6 epochs x 8 chips
        _assert_over_quota(client.post("/v1/jobs", json={"budget": hoarding}), "asks 240128")


def test_data_set_count_and_bytes_over_the_quota_get_429_and_leave_no_file(tmp_path):
    size = len(_npz(60))
    with serving(tmp_path, quota_datasets=2, quota_dataset_bytes=2 * size + 100) as client:
        first = client.post("/v1/datasets", files={"file": ("a.npz", _npz(60))})
        assert first.status_code == 201, first.text
        too_big = client.post("/v1/datasets", files={"file": ("b.npz", _npz(80))})
        _assert_over_quota(too_big, f"{2 * size + 100:,} bytes of stored data sets per key")
        assert client.post("/v1/datasets", files={"file": ("c.npz", _npz(60))}).status_code == 201
        too_many = client.post("/v1/datasets", files={"file": ("d.npz", _npz(10))})
        _assert_over_quota(too_many, "2 stored data sets per key")
        other = client.post(
            "/v1/datasets", files={"file": ("e.npz", _npz(60))}, headers=client.other
        )
        assert other.status_code == 201
        assert len(client.get("/v1/datasets").json()) == 2
        assert len(list((tmp_path / "data").rglob("*.npz"))) == 3


def test_deleting_a_data_set_frees_its_quota_unless_a_job_uses_it(tmp_path):
    with serving(tmp_path, quota_datasets=1) as client:
        dataset = client.post("/v1/datasets", files={"file": ("a.npz", _npz(60))}).json()
        _assert_over_quota(
            client.post("/v1/datasets", files={"file": ("b.npz", _npz(60))}), "1 stored data sets"
        )
        job = client.post("/v1/jobs", json={**JOB, "task": dataset["task"]}).json()
        in_use = client.delete(f"/v1/datasets/{dataset['id']}")
        assert in_use.status_code == 409 and "cancel it first" in in_use.json()["detail"]
        assert (
            client.delete(f"/v1/datasets/{dataset['id']}", headers=client.other).status_code == 404
        )
        client.post(f"/v1/jobs/{job['id']}/cancel")
        assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
        assert not list((tmp_path / "data").rglob("*.npz"))
        assert client.post("/v1/datasets", files={"file": ("c.npz", _npz(60))}).status_code == 201


def test_me_shows_the_key_and_its_usage(tmp_path):
    with serving(tmp_path, quota_active_jobs=3, quota_datasets=4) as client:
        client.post("/v1/jobs", json=JOB)
        upload = client.post("/v1/datasets", files={"file": ("a.npz", _npz(60))})
        assert upload.status_code == 201, upload.text
        me = client.get("/v1/me").json()
        assert (me["id"], me["name"], me["expires_at"]) == (client.key.id, "tester", None)
        quotas = me["quotas"]
        assert quotas["active_jobs"] == {"limit": 3, "used": 1}
        assert quotas["datasets"] == {"limit": 4, "used": 1}
        stored = quotas["dataset_bytes"]
        assert stored["limit"] == 4 * 2**30 and 0 < stored["used"] <= len(_npz(60)) * 2
        assert (quotas["job_trials"], quotas["job_work"]) == (20_000, 8_000)
        other = client.get("/v1/me", headers=client.other).json()
        assert other["name"] == "other" and other["quotas"]["active_jobs"]["used"] == 0
        assert datetime.fromisoformat(other["expires_at"]) == EXPIRY
        assert datetime.fromisoformat(me["created_at"]).tzinfo is not None
        assert client.get("/v1/me", headers={"Authorization": ""}).status_code == 401


def test_without_auth_the_anonymous_owner_has_the_same_quotas(tmp_path):
    with serving(tmp_path, auth=False, quota_active_jobs=1) as client:
        assert client.post("/v1/jobs", json=JOB).status_code == 202
        _assert_over_quota(client.post("/v1/jobs", json=JOB), "1 active jobs")
        me = client.get("/v1/me").json()
        assert me["id"] is None and me["quotas"]["active_jobs"] == {"limit": 1, "used": 1}


def _burst(client, count: int) -> list[int]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: client.post("/v1/jobs", json=JOB).status_code, range(count)))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_burst_of_parallel_jobs_gets_exactly_the_quota(tmp_path, request, database):
    url = f"sqlite:///{tmp_path / 'xbarnas.db'}"
    if database == "postgresql":
        url = request.getfixturevalue("postgres_url").render_as_string(hide_password=False)
    with serving(tmp_path, database_url=url, quota_active_jobs=5) as client:
        statuses = _burst(client, 30)
        assert sorted(statuses) == [202] * 5 + [429] * 25
        assert client.get("/v1/jobs").json()["total"] == 5
