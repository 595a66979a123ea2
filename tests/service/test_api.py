"""The REST API with a real database and the runner driving the real pipeline."""

import io
import zipfile

import numpy as np
import pytest

from service.auth import create_key
from service.schemas import JobCreate
from simulator import HardwareConfig
from surrogate.fitting import shipped_surrogate
from tests.service.local_service import local_service

JOB = {
    "task": "digits",
    "hardware": {"preset": "pcm", "tile_rows": 256, "tile_cols": 256, "max_tiles": 16},
    "objectives": ["accuracy_1d", "tiles"],
    "budget": {
        "trials": 100,
        "top_k": 1,
        "train_epochs": 2,
        "mc_samples": 2,
        "post_training": False,  # 3/4 of a small verification's time
    },
    "seed": 0,
}


@pytest.fixture
def service(tmp_path):
    with local_service(tmp_path) as client:
        with client.database.session() as session:
            client.other_key = create_key(session, "someone else")[1]
        yield client


def test_a_job_runs_to_success_and_its_model_downloads(service):
    response = service.post("/v1/jobs", json=JOB)
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] == "queued" and job["progress"] == 0
    assert service.runner.run_once() is True
    assert service.runner.run_once() is False  # queue empty
    done = service.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0, done
    candidates = service.get(f"/v1/jobs/{job['id']}/candidates").json()
    verified = [c for c in candidates if c["verified"]]
    assert len(verified) == 1 and candidates[0]["verified"]
    assert all(c["tiles"] <= 16 for c in candidates)
    measured = [c for c in candidates if c["measured"]]  # the shipped digits rows of this chip
    assert measured and all(set(c["measured"]) == {"accuracy_1d", "avm"} for c in measured)
    assert [a["time_seconds"] for a in verified[0]["accuracy"]][:3] == [1.0, 3600.0, 86400.0]
    assert verified[0]["accuracy_1d"] == verified[0]["accuracy"][2]["mean"]
    arch = verified[0]["architecture_id"]
    assert service.get(f"/v1/architectures/{arch}").json()["architecture_id"] == arch
    onnx = service.get(f"/v1/architectures/{arch}/export", params={"format": "onnx"})
    assert onnx.status_code == 200 and onnx.content
    assert f'filename="xbarnas-{arch}.onnx"' in onnx.headers["content-disposition"]
    bundle = service.get(f"/v1/architectures/{arch}/export", params={"format": "analog"})
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    bad = service.get(f"/v1/architectures/{arch}/export", params={"format": "tflite"})
    assert bad.status_code == 422 and "format" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task": "mnist"}, "task"),
        ({"hardware": {"tile_rows": -256}}, "tile_rows"),
        ({"budget": {"trials": 10**7}}, "trials"),
        ({"objectives": ["speed"]}, "objectives"),
        ({"colour": "red"}, "colour"),
        ({"hardware": {"read_noise_scale": -0.5}}, "read_noise_scale"),
        ({"hardware": {"adc_bits": 30}}, "adc_bits"),
        ({"hardware": {"adc_bits": "eight"}}, "adc_bits"),
        ({"hardware": {"drift_compensation": "maybe"}}, "drift_compensation"),
        ({"hardware": {"out_bound": 0}}, "out_bound"),  # the preset's 8-bit ADC needs a bound
        ({"hardware": {"preset": "ideal", "adc_bits": 6}}, "out_bound"),  # ideal has none
    ],
)
def test_bad_jobs_are_refused_naming_the_field(service, change, field):
    response = service.post("/v1/jobs", json={**JOB, **change})
    assert response.status_code == 422
    assert any(field in [str(part) for part in error["loc"]] for error in response.json()["detail"])


def test_a_rule_across_chip_fields_is_a_422_at_the_field(service):
    response = service.post("/v1/jobs", json={**JOB, "hardware": {"adc_bits": 6, "out_bound": 0}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "hardware", "out_bound"]
    assert "out_bound" in error["msg"] and "ADC" in error["msg"]


def test_a_job_with_chip_overrides_stores_them_and_runs_on_that_chip(service):
    overrides = {"adc_bits": 6, "out_bound": 12.5, "dac_bits": 0, "read_noise_scale": 2.0}
    overrides |= {"drift_compensation": False, "column_scaling": True}
    body = {**JOB, "hardware": {**JOB["hardware"], "preset": "rram", **overrides}}
    response = service.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    stored = service.get(f"/v1/jobs/{response.json()['id']}").json()["request"]["hardware"]
    assert {name: stored[name] for name in overrides} == overrides
    chip = JobCreate.model_validate({**JOB, "hardware": stored}).hardware.config()
    expected = overrides | {"dac_bits": None}  # 0 bits: an exact DAC
    assert chip == HardwareConfig.preset("rram", tile_rows=256, tile_cols=256, **expected)
    assert chip.g_max == 40.0 and chip.prog_noise_scale == 1.0  # the preset's, not overridden


def test_a_job_without_overrides_keeps_its_chip_and_the_shipped_surrogate(service):
    job_id = service.post("/v1/jobs", json=JOB).json()["id"]
    stored = service.get(f"/v1/jobs/{job_id}").json()["request"]
    for request in (JOB, stored):  # as sent before overrides existed, and as stored now
        chip = JobCreate.model_validate(request).hardware.config()
        assert chip == HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    # the chip of the shipped surrogate's rows: its jobs search at once
    assert any(key.endswith(chip.config_hash()) for key in shipped_surrogate().contexts)


def test_malformed_json_is_a_4xx(service):
    response = service.post(
        "/v1/jobs", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_list_cancel_and_missing_jobs(service):
    ids = [service.post("/v1/jobs", json=JOB).json()["id"] for _ in range(3)]
    page = service.get("/v1/jobs", params={"limit": 2}).json()
    assert page["total"] == 3 and [j["id"] for j in page["items"]] == ids[::-1][:2]
    cancelled = service.post(f"/v1/jobs/{ids[0]}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert service.post(f"/v1/jobs/{ids[0]}/cancel").status_code == 409
    assert service.get("/v1/jobs/nope").status_code == 404
    assert service.get("/v1/architectures/nope").status_code == 404
    assert {t["name"] for t in service.get("/v1/tasks").json()} >= {"digits", "cifar10"}


def test_a_failing_job_records_its_error(service):
    job = service.post("/v1/jobs", json={**JOB, "task": "vww"}).json()
    service.runner.run_once()
    failed = service.get(f"/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and "does not exist" in failed["error"]


def test_keys_are_required_and_jobs_are_private(service):
    job_id = service.post("/v1/jobs", json=JOB).json()["id"]
    anonymous = service.get("/v1/jobs", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and "authorization" in anonymous.json()["detail"]
    wrong = service.get("/v1/jobs", headers={"Authorization": "Bearer xbn_nope"})
    assert wrong.status_code == 401
    other = {"Authorization": f"Bearer {service.other_key}"}
    assert service.get(f"/v1/jobs/{job_id}", headers=other).status_code == 404
    assert service.get("/v1/jobs", headers=other).json()["total"] == 0
    assert service.post(f"/v1/jobs/{job_id}/cancel", headers=other).status_code == 404
    token = service.headers["Authorization"].split()[1]
    by_query = service.get(
        f"/v1/jobs/{job_id}", params={"token": token}, headers={"Authorization": ""}
    )
    assert by_query.status_code == 401  # keys stay out of URLs (and so out of access logs)


def test_events_stream_progress_until_the_end(service):
    job_id = service.post("/v1/jobs", json=JOB).json()["id"]
    service.post(f"/v1/jobs/{job_id}/cancel")
    with service.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    assert body.startswith("event: progress\ndata: ")
    assert '"status": "cancelled"' in body


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_an_uploaded_dataset_becomes_a_task(service):
    rng = np.random.default_rng(0)
    content = _npz(
        x=rng.random((120, 1, 6, 6)).astype(np.float32), y=(rng.random(120) > 0.5).astype(np.int64)
    )
    response = service.post(
        "/v1/datasets", files={"file": ("blobs.npz", content)}, data={"name": "blobs"}
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["input_shape"] == [1, 6, 6] and dataset["num_classes"] == 2
    assert dataset["task"] in {t["name"] for t in service.get("/v1/tasks").json()}
    job = service.post(
        "/v1/jobs", json={**JOB, "task": dataset["task"], "budget": {**JOB["budget"], "trials": 20}}
    )
    assert job.status_code == 202, job.text
    other = {"Authorization": f"Bearer {service.other_key}"}
    refused = service.post("/v1/jobs", json={**JOB, "task": dataset["task"]}, headers=other)
    assert refused.status_code == 422 and "task" in refused.json()["detail"]


def test_bad_uploads_are_refused(service):
    bad = _npz(x=np.zeros((10, 3, 4)), y=np.zeros(10))
    response = service.post("/v1/datasets", files={"file": ("bad.npz", bad)})
    assert response.status_code == 422 and response.json()["detail"].startswith("file: x:")
    junk = service.post("/v1/datasets", files={"file": ("junk.npz", b"hello")})
    assert junk.status_code == 422
    missing = service.post("/v1/datasets")
    assert missing.status_code == 422


def test_cancel_is_honoured_within_seconds_while_verifying(service):
    import threading
    import time

    long_job = {
        **JOB,
        "hardware": {**JOB["hardware"], "max_tiles": 64},  # larger networks: minutes each
        "budget": {**JOB["budget"], "top_k": 2, "train_epochs": 100},
    }
    job_id = service.post("/v1/jobs", json=long_job).json()["id"]
    worker = threading.Thread(target=service.runner.run_once)
    worker.start()
    deadline = time.monotonic() + 120
    while not service.get(f"/v1/jobs/{job_id}").json()["phase"].startswith("verify"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    asked = time.monotonic()
    service.post(f"/v1/jobs/{job_id}/cancel")
    while service.get(f"/v1/jobs/{job_id}").json()["status"] == "running":
        time.sleep(0.2)
    assert time.monotonic() - asked < 10
    assert service.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    worker.join(timeout=30)
    assert not worker.is_alive()
    # its two verifications (minutes of training each) stopped too: both workers are free
    both = threading.Barrier(2, timeout=20)
    for meeting in [service.runner.executor.submit(both.wait) for _ in range(2)]:
        meeting.result(timeout=30)
