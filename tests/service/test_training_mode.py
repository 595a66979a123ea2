"""Jobs choose digital or in-situ analog training (and the pulsed device) for verification."""

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import create_key
from service.schemas import JobCreate
from service.settings import Settings
from simulator.pulsed import PULSED_PRESETS, PulsedConfig


@pytest.fixture
def client(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'xbarnas.db'}", runner=False, data_dir=tmp_path
    )
    app = create_app(settings)
    with TestClient(app) as client:
        with app.state.database.session() as session:
            client.headers["Authorization"] = f"Bearer {create_key(session, 'tester')[1]}"
        yield client


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"budget": {"training": "quantum"}}, "training"),
        ({"hardware": {"training_device": "pcm"}}, "training_device"),
    ],
)
def test_bad_training_choices_are_refused_naming_the_field(client, job, field):
    response = client.post("/v1/jobs", json=job)
    assert response.status_code == 422
    assert any(field in [str(part) for part in e["loc"]] for e in response.json()["detail"])


def test_analog_jobs_train_in_situ_on_the_chosen_device(client):
    request = {"budget": {"training": "analog"}, "hardware": {"training_device": "rram"}}
    assert client.post("/v1/jobs", json=request).status_code == 202
    config = JobCreate.model_validate(request).train_config()
    assert config.in_situ.pulsed == PulsedConfig.preset("rram")
    digital = JobCreate().train_config()
    assert digital.in_situ is None and "in_situ" not in digital.model_dump()


def test_every_pulsed_preset_is_offered():
    field = JobCreate.model_json_schema()["$defs"]["HardwareSpec"]["properties"]["training_device"]
    assert sorted(field["enum"]) == sorted(PULSED_PRESETS)
