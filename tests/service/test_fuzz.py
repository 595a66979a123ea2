"""Property-based fuzzing of the OpenAPI schema: no request makes the API answer 5xx."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from service.app import create_app
from service.auth import create_key
from service.db import Database, upgrade
from service.settings import Settings

FOLDER = Path(tempfile.mkdtemp(prefix="xbarnas-fuzz-"))
SETTINGS = Settings(
    database_url=f"sqlite:///{FOLDER / 'xbarnas.db'}",
    runner=False,
    data_dir=FOLDER / "data",
    executor="threads",
)
APP = create_app(SETTINGS)
upgrade(SETTINGS.database_url)
APP.state.database = Database(SETTINGS.database_url)  # what the lifespan does when serving
with APP.state.database.session() as session:
    KEY = create_key(session, "fuzz")[1]

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call(headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
