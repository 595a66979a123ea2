"""The FastAPI application: REST API under /v1, the dashboard at /, and the job runner."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from service import __version__, dashboard
from service.db import Database, upgrade
from service.errors import database_error, internal_error
from service.routers import catalog, datasets, jobs, keys, me
from service.runner import RunnerProcess
from service.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        upgrade(settings.database_url)
        app.state.database = Database(settings.database_url)
        datasets.remove_stale_uploads(settings.data_dir / "datasets")
        runner = RunnerProcess(settings) if settings.runner else None
        yield
        if runner is not None:
            runner.stop()

    app = FastAPI(
        title="xbarnas",
        version=__version__,
        description="Neural-architecture search for analog in-memory-computing chips.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(DBAPIError, database_error)  # 503 while the database is out
    app.add_exception_handler(PoolTimeoutError, database_error)
    app.add_exception_handler(Exception, internal_error)  # a 500 without a trace

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok", "version": __version__}

    app.include_router(jobs.router)
    app.include_router(catalog.router)
    app.include_router(datasets.router)
    app.include_router(me.router)
    app.include_router(keys.router)
    app.include_router(dashboard.router)
    app.mount("/static", dashboard.static, name="static")
    return app
