"""Dockerfile and docker-compose.yml, checked without a Docker engine: services, their wiring
and the ``XBARNAS_*`` settings they set."""

import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from service.settings import Settings

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _environment(compose: dict, service: str) -> dict[str, str]:
    return compose["services"][service].get("environment", {})


def test_every_xbarnas_variable_is_a_setting(compose):
    fields = {f"XBARNAS_{name.upper()}" for name in Settings.model_fields}
    dockerfile = set(re.findall(r"\b(XBARNAS_[A-Z_]+)=", (ROOT / "Dockerfile").read_text()))
    used = {v for s in compose["services"] for v in _environment(compose, s)}
    assert {v for v in used if v.startswith("XBARNAS_")} | dockerfile <= fields


def test_services_are_wired_to_each_other(compose):
    services = compose["services"]
    assert set(services) == {"api", "postgres", "dask-scheduler", "dask-worker"}
    port = services["dask-scheduler"]["command"][
        services["dask-scheduler"]["command"].index("--port") + 1
    ]
    scheduler = f"tcp://dask-scheduler:{port}"
    api = _environment(compose, "api")
    assert api["XBARNAS_EXECUTOR"] == scheduler
    assert services["dask-worker"]["command"][:3] == ["dask", "worker", scheduler]
    url = make_url(api["XBARNAS_DATABASE_URL"])
    database = _environment(compose, "postgres")
    assert (url.drivername, url.host, url.port) == ("postgresql+psycopg", "postgres", 5432)
    assert (url.database, url.password) == (database["POSTGRES_DB"], database["POSTGRES_PASSWORD"])
    assert services["api"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_volumes_persist_the_database_and_share_the_data(compose):
    assert set(compose["volumes"]) == {"postgres-data", "data"}
    assert "postgres-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    for service in ("api", "dask-worker"):  # uploaded data sets are read by the workers
        data_dir = _environment(compose, service)["XBARNAS_DATA_DIR"]
        assert f"data:{data_dir}" in compose["services"][service]["volumes"]


def test_workers_can_be_scaled(compose):
    worker = compose["services"]["dask-worker"]
    assert "ports" not in worker and "container_name" not in worker  # no clash between copies
    assert worker["command"][worker["command"].index("--nthreads") + 1] == "1"


def test_the_image_is_slim_cpu_only_unprivileged_and_probed():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.M)
    assert "--index-url https://download.pytorch.org/whl/cpu" in dockerfile
    assert re.search(r"^USER (?!root)\w+$", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", dockerfile, re.M)
    assert dockerfile.rstrip().endswith('CMD ["xbarnas", "serve"]')
