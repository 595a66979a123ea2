"""A service on a fresh SQLite database, driven in-process through FastAPI's TestClient."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import create_key
from service.runner import Runner
from service.settings import Settings


@contextmanager
def local_service(tmp_path: Path, **overrides) -> Iterator[TestClient]:
    """A client of a service without a runner process: ``client.runner.run_once()`` runs the next
    queued job in threads; ``client.settings`` and ``client.database`` are the service's. With
    authentication on, requests carry a key named ``tester``."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'xbarnas.db'}",
        runner=False,
        data_dir=tmp_path / "data",
        executor="threads",
        **overrides,
    )
    app = create_app(settings)
    with TestClient(app) as client, ThreadPoolExecutor(2) as executor:
        client.runner = Runner(settings, app.state.database, executor)
        client.settings, client.database = settings, app.state.database
        if settings.auth:
            with client.database.session() as session:
                client.headers["Authorization"] = f"Bearer {create_key(session, 'tester')[1]}"
        yield client
