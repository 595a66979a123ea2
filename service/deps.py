"""FastAPI dependencies: the settings and a database session per request."""

from collections.abc import Iterator

from fastapi import Request
from sqlalchemy.orm import Session

from service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.database.session() as session:
        yield session
