"""The FastAPI application. For now: health and service information; the API grows here."""

from fastapi import FastAPI

from service import __version__


def create_app() -> FastAPI:
    app = FastAPI(
        title="xbarnas",
        version=__version__,
        description="Neural-architecture search for analog in-memory-computing chips.",
    )

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        """Liveness probe."""
        return {"status": "ok", "version": __version__}

    return app
