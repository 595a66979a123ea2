"""What users see of errors: the problem, never a server path or a stack trace."""

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from service.app import create_app
from service.errors import scrub_paths, user_message
from service.models import Job
from service.settings import Settings
from tests.service.local_service import local_service

LIGHT_JOB = {"budget": {"trials": 10, "top_k": 1, "train_epochs": 1, "mc_samples": 1}}


@pytest.mark.parametrize(
    ("text", "data_dir", "shown"),
    [
        (
            "npz: /srv/xbarnas/data/datasets/dataset-1.npz is gone",
            None,
            "npz: dataset-1.npz is gone",
        ),
        ("[Errno 2] No such file: '/tmp/a b/x.npz'", None, "[Errno 2] No such file: 'x.npz'"),
        ('"./data/d 1.npz" or "/"', None, '"d 1.npz" or "/"'),
        ("cannot read ./data/jobs/7/trials.jsonl:3", None, "cannot read trials.jsonl:3"),
        ("in ~/models/digits.pt (line 2)", None, "in digits.pt (line 2)"),
        ("data/datasets/d.npz and var/x", Path("data"), "d.npz and var/x"),
        ("'data/d.npz' missing", Path("data"), "'d.npz' missing"),
        ("see https://example.org/docs/errors, 1/2 and/or 3", None, None),
        ("no path here", Path("/srv/data"), None),
    ],
)
def test_scrub_paths_keeps_file_names_only(text, data_dir, shown):
    assert scrub_paths(text, data_dir) == (shown or text)


def test_user_message_has_no_class_and_no_path():
    missing = FileNotFoundError(2, "No such file or directory", "/srv/data/datasets/d.npz")
    assert user_message(missing) == "[Errno 2] No such file or directory: 'd.npz'"
    assert user_message(MemoryError()) == "MemoryError (no details)"


@pytest.fixture
def service(tmp_path):
    with local_service(tmp_path) as client:
        yield client


def _run_to_failure(service: TestClient, job: dict) -> str:
    job_id = service.post("/v1/jobs", json=job).json()["id"]
    assert service.runner.run_once() is True
    failed = service.get(f"/v1/jobs/{job_id}").json()
    assert failed["status"] == "failed", failed
    return failed["error"]


def test_a_job_whose_data_set_vanished_says_so_without_a_server_path(service, tmp_path):
    rng = np.random.default_rng(0)
    upload = io.BytesIO()
    np.savez(upload, x=rng.normal(size=(120, 8)).astype("float32"), y=np.arange(120) % 3)
    response = service.post("/v1/datasets", files={"file": ("blobs.npz", upload.getvalue())})
    assert response.status_code == 201, response.text
    dataset = response.json()
    (stored,) = (tmp_path / "data" / "datasets").glob("*.npz")
    stored.unlink()
    error = _run_to_failure(service, {**LIGHT_JOB, "task": dataset["task"]})
    assert dataset["id"] in error and "/" not in error, error


def test_a_failure_naming_a_server_path_shows_its_file_name_and_logs_the_trace(
    service, tmp_path, caplog
):
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "jobs").write_text("")  # a file where the jobs' folder belongs
    with caplog.at_level(logging.ERROR, logger="xbarnas.runner"):
        error = _run_to_failure(service, LIGHT_JOB)
    assert "Not a directory" in error and "/" not in error, error
    assert "Traceback" not in error and "Error:" not in error
    logged = caplog.records[-1]
    assert logged.exc_info and str(tmp_path) in str(logged.exc_info[1])  # the server log has all


def test_errors_stored_before_scrubbing_show_no_paths(service):
    job_id = service.post("/v1/jobs", json=LIGHT_JOB).json()["id"]
    with service.database.session() as session:
        job = session.get(Job, job_id)
        job.status, job.error = "failed", "TaskError: npz: /srv/data/datasets/d-1.npz is gone\n"
        session.commit()
    shown = service.get(f"/v1/jobs/{job_id}").json()["error"]
    assert shown == "TaskError: npz: d-1.npz is gone\n"
    listed = service.get("/v1/jobs").json()["items"][0]["error"]
    assert listed == shown


def test_unexpected_errors_and_database_outages_answer_plain_json(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", runner=False, auth=False)
    app = create_app(settings)

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("/srv/secret/path went wrong")

    @app.get("/outage")
    def outage() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    with TestClient(app, raise_server_exceptions=False) as client:
        crash = client.get("/broken")
        assert crash.status_code == 500 and crash.json() == {"detail": "internal server error"}
        unavailable = client.get("/outage")
        assert unavailable.status_code == 503
        assert unavailable.json() == {"detail": "database unavailable, retry shortly"}
        assert int(unavailable.headers["retry-after"]) > 0
