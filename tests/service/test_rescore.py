"""A finished job's candidates re-scored on other chips, their reprogramming intervals and layer
sensitivity, their replay records, and the 4xx of it all."""

import io
import json
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from service.auth import create_key
from service.cli import app
from service.models import Candidate, Job
from service.runner import Runner
from tests.service.local_service import local_service

CHIP = {"preset": "pcm", "tile_rows": 256, "tile_cols": 256}  # the shipped surrogate's chip
JOB = {
    "task": "digits",
    "hardware": {**CHIP, "max_tiles": 64},
    "budget": {
        "trials": 60,
        "top_k": 2,
        "train_epochs": 2,
        "mc_samples": 2,
        "train_examples": 400,
        "test_examples": 100,
        "post_training": False,
    },
    "seed": 0,
}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with (
        local_service(tmp_path_factory.mktemp("rescore")) as client,
        ThreadPoolExecutor(1) as one_at_a_time,
    ):
        # training draws its noise from torch's global generator, which threads running
        # verifications side by side would share: one at a time, as a worker process does
        client.runner = Runner(client.settings, client.database, one_at_a_time)
        job = client.post("/v1/jobs", json=JOB).json()
        assert client.runner.run_once()
        assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "succeeded"
        client.job_id = job["id"]
        with client.database.session() as session:
            client.other_key = create_key(session, "someone else")[1]
        yield client


def _rescore(service, job_id: str, hardware: dict) -> dict:
    response = service.post(f"/v1/jobs/{job_id}/rescore", json={"hardware": hardware})
    assert response.status_code == 202, response.text
    child = response.json()
    assert response.headers["location"] == f"/v1/jobs/{child['id']}"
    assert child["status"] == "queued" and child["parent_id"] == service.job_id
    assert service.runner.run_once()
    done = service.get(f"/v1/jobs/{child['id']}").json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0, done
    return done


def _verified(service, job_id: str, **params) -> dict[str, dict]:
    response = service.get(f"/v1/jobs/{job_id}/candidates", params=params)
    assert response.status_code == 200, response.text
    return {c["architecture_id"]: c for c in response.json() if c["verified"]}


def _figures(report: dict) -> dict:
    """What a computation found, without what it took."""
    return {k: v for k, v in report.items() if k != "seconds"}


def _means(candidate: dict) -> list[float]:
    return [point["mean"] for point in candidate["accuracy"]]


def test_rescores_differ_on_other_chips_and_equal_on_the_same_one(service):
    original = _verified(service, service.job_id)
    assert len(original) == 2
    for hardware in ({**CHIP, "preset": "rram"}, {**CHIP, "adc_bits": 4}):
        child = _rescore(service, service.job_id, hardware)
        assert child["request"]["hardware"]["preset"] == hardware["preset"]
        info = child["rescore"]
        assert info["verified"] == 2 and info["front"] >= 1
        assert info["front_predicted"] and "pooled surrogate" in info["note"]
        rescored = _verified(service, child["id"])
        assert rescored.keys() == original.keys()
        for arch_id, candidate in rescored.items():
            before = original[arch_id]
            assert candidate["digital_accuracy"] == before["digital_accuracy"]  # same weights
            assert candidate["tiles"] == before["tiles"]  # same tiles
            assert _means(candidate) != _means(before)  # another chip
            assert candidate["fidelity"] == before["fidelity"]
        front = service.get(f"/v1/jobs/{child['id']}/candidates").json()
        assert all(c["predicted"]["accuracy_1d"] > 0 for c in front)  # on this chip

    same = _rescore(service, service.job_id, CHIP)
    assert same["rescore"]["front_predicted"]  # rows of this chip shipped
    parent_front = service.get(f"/v1/jobs/{service.job_id}/candidates").json()
    child_front = service.get(f"/v1/jobs/{same['id']}/candidates").json()
    assert {c["architecture_id"] for c in child_front} == {
        c["architecture_id"] for c in parent_front
    }
    for arch_id, candidate in _verified(service, same["id"]).items():
        before = original[arch_id]
        assert candidate["accuracy"] == before["accuracy"]  # same chip, same seeds
        assert candidate["drift"] == before["drift"]
        assert _figures(candidate["sensitivity"]) == _figures(before["sensitivity"])
    children = service.get("/v1/jobs", params={"parent": service.job_id}).json()
    assert children["total"] == 3 and {j["parent_id"] for j in children["items"]} == {
        service.job_id
    }
    # a rescore of a rescore re-scores the original job
    again = service.post(f"/v1/jobs/{same['id']}/rescore", json={"hardware": CHIP}).json()
    assert again["parent_id"] == service.job_id
    assert service.post(f"/v1/jobs/{again['id']}/cancel").json()["status"] == "cancelled"


def test_reprogramming_and_sensitivity_per_verified_candidate(service):
    default = _verified(service, service.job_id)
    loose = _verified(service, service.job_id, tolerance=5)
    for arch_id, candidate in default.items():
        times = [point["time_seconds"] for point in candidate["drift"]]
        assert times[0] == 1.0 and times[-1] == 315360000.0 and len(times) == 17
        for point in candidate["accuracy"]:  # the verification's times are on the grid
            assert point in candidate["drift"]
        timing = candidate["reprogramming"]
        assert timing["tolerance_points"] == 1.0
        assert timing["threshold"] == pytest.approx(timing["reference_accuracy"] - 0.01)
        assert {"seconds", "label"} <= timing["mean"].keys()
        looser = loose[arch_id]["reprogramming"]
        assert (looser["mean"]["seconds"] or float("inf")) >= (
            timing["mean"]["seconds"] or float("inf")
        )
        sensitivity = candidate["sensitivity"]
        assert sensitivity["analog_accuracy"] == pytest.approx(candidate["accuracy_1d"], abs=1e-6)
        assert sensitivity["t_seconds"] == 86400.0 and sensitivity["n_samples"] == 2
        names = [layer["name"] for layer in sensitivity["layers"]]
        assert names and len(sensitivity["keep_digital"]) == min(2, len(names))
        assert set(sensitivity["keep_digital"][0]["layers"]) <= set(names)
    bad = service.get(f"/v1/jobs/{service.job_id}/candidates", params={"tolerance": 0})
    assert bad.status_code == 422 and "tolerance" in bad.json()["detail"][0]["loc"]


def test_the_analog_bundle_manifest_carries_the_answers(service):
    arch_id, candidate = next(iter(_verified(service, service.job_id).items()))
    bundle = service.get(
        f"/v1/architectures/{arch_id}/export", params={"format": "analog", "job": service.job_id}
    )
    assert bundle.status_code == 200
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(bundle.content)).read("manifest.json"))
    assert manifest["reprogramming"]["mean"] == candidate["reprogramming"]["mean"]
    assert len(manifest["reprogramming"]["drift"]["times"]) == 17
    layers = [layer["name"] for layer in manifest["layers"]]
    assert [layer["name"] for layer in manifest["sensitivity"]["layers"]] == layers
    assert manifest["keep_digital"] == candidate["sensitivity"]["keep_digital"]


def test_the_record_replays_from_the_command_line(service, tmp_path):
    arch_id = next(iter(_verified(service, service.job_id)))
    response = service.get(f"/v1/architectures/{arch_id}/record", params={"job": service.job_id})
    assert response.status_code == 200
    document = response.json()
    assert document["job_id"] == service.job_id
    assert document["record"]["data_checksum"] and document["record"]["xbarnas_version"]
    path = tmp_path / "record.json"
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["replay", arch_id, "--record", str(path)])
    assert result.exit_code == 0, result.output
    assert "DIFFERS" not in result.output and result.output.count("agrees") == 6
    document["figures"]["accuracy_mean"] = [m + 0.2 for m in document["figures"]["accuracy_mean"]]
    path.write_text(json.dumps(document))
    result = CliRunner().invoke(app, ["replay", arch_id, "--record", str(path)])
    assert result.exit_code == 1 and "DIFFERS" in result.output


class InProcessClient:
    """The CLI's HTTP client, answered by the in-process service."""

    def __init__(self, service) -> None:
        self.service = service

    def json(self, method: str, path: str, body=None):
        response = self.service.request(method, path, json=body)
        assert response.status_code < 400, response.text
        return response.json()

    def job(self, job_id: str) -> dict:
        return self.json("GET", f"/v1/jobs/{job_id}")

    def rescore(self, job_id: str, hardware: dict) -> dict:
        return self.json("POST", f"/v1/jobs/{job_id}/rescore", {"hardware": hardware})


def test_the_command_line_rescores_the_jobs_chip_with_changes(service, monkeypatch):
    monkeypatch.setattr("service.cli._client", lambda server, key: InProcessClient(service))
    runner = threading.Thread(target=service.runner.run_forever)
    runner.start()
    try:
        command = ["rescore", service.job_id, "--preset", "rram", "--adc-bits", "6"]
        result = CliRunner().invoke(app, command)
    finally:
        service.runner.stop()
        runner.join()
    assert result.exit_code == 0, result.output
    child_id = result.output.splitlines()[0]
    hardware = service.get(f"/v1/jobs/{child_id}").json()["request"]["hardware"]
    assert (hardware["preset"], hardware["adc_bits"], hardware["tile_rows"]) == ("rram", 6, 256)
    assert "predicted again" in result.output and f"{child_id}: succeeded" in result.output
    table = [line for line in result.output.splitlines() if line.split()[1:2] == ["after"]]
    assert len(table) == 2  # both verified candidates, before and after
    assert all(line.split()[0] in _verified(service, service.job_id) for line in table)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hardware": {"adc_bits": 30}}, "adc_bits"),
        ({"hardware": {"preset": "sram"}}, "preset"),
        ({"hardware": {"tile_rows": 0}}, "tile_rows"),
        ({"hardware": {"out_bound": 0}}, "out_bound"),  # the preset's ADC needs a bound
        ({"hardware": CHIP, "colour": "red"}, "colour"),
        ({}, "hardware"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(service, body, field):
    response = service.post(f"/v1/jobs/{service.job_id}/rescore", json=body)
    assert response.status_code == 422
    assert any(field in map(str, error["loc"]) for error in response.json()["detail"])


def test_other_owners_jobs_and_architectures_are_not_found(service):
    arch_id = next(iter(_verified(service, service.job_id)))
    other = {"Authorization": f"Bearer {service.other_key}"}
    for path in (f"/v1/jobs/{service.job_id}/rescore", "/v1/jobs/no-such-job/rescore"):
        response = service.post(path, json={"hardware": CHIP}, headers=other)
        assert response.status_code == 404 and "not found" in response.json()["detail"]
    record = service.get(f"/v1/architectures/{arch_id}/record", headers=other)
    assert record.status_code == 404
    listed = service.get("/v1/jobs", params={"parent": service.job_id}, headers=other).json()
    assert listed["total"] == 0


def test_unfinished_and_old_jobs_answer_409_saying_why(service):
    queued = service.post("/v1/jobs", json=JOB).json()
    response = service.post(f"/v1/jobs/{queued['id']}/rescore", json={"hardware": CHIP})
    assert response.status_code == 409 and "queued" in response.json()["detail"]
    service.post(f"/v1/jobs/{queued['id']}/cancel")
    with service.database.session() as session:  # a job verified before weights were stored
        old = session.get(Job, service.job_id)
        copy = Job(request=old.request, owner_id=old.owner_id, status="succeeded")
        session.add(copy)
        session.flush()
        for row in old.candidates:
            if row.verified is not None:
                verified = {k: v for k, v in row.verified.items() if k != "record"}
                session.add(
                    Candidate(
                        job_id=copy.id,
                        architecture_id=row.architecture_id,
                        architecture=row.architecture,
                        predicted=row.predicted,
                        cost=row.cost,
                        verified=verified,
                    )
                )
        session.commit()
        copy_id = copy.id
    response = service.post(f"/v1/jobs/{copy_id}/rescore", json={"hardware": CHIP})
    assert response.status_code == 409
    assert "before trained weights were stored" in response.json()["detail"]
    arch_id = next(iter(_verified(service, copy_id)))
    record = service.get(f"/v1/architectures/{arch_id}/record", params={"job": copy_id})
    assert record.status_code == 409 and "before replay records" in record.json()["detail"]


def test_a_rescore_counts_against_the_active_jobs_quota(service):
    with service.database.session() as session:  # fill the quota with queued jobs
        owner = session.get(Job, service.job_id).owner_id
        session.execute(update(Job).where(Job.status == "queued").values(status="cancelled"))
        session.add_all(
            Job(request=JOB, owner_id=owner, status="queued")
            for _ in range(service.settings.quota_active_jobs)
        )
        session.commit()
    response = service.post(f"/v1/jobs/{service.job_id}/rescore", json={"hardware": CHIP})
    assert response.status_code == 429 and "active jobs" in response.json()["detail"]
    with service.database.session() as session:
        session.execute(update(Job).where(Job.status == "queued").values(status="cancelled"))
        session.commit()
