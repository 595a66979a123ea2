"""Database engine, sessions and migrations (Alembic) of the service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from surrogate.store import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x78626172  # PostgreSQL advisory lock key of schema upgrades ("xbar")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema. On PostgreSQL, servers starting
    together take turns (an advisory lock): the first migrates, the others find it done."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:  # the lock is released when this transaction ends
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            command.upgrade(alembic_config(url), "head")
    finally:
        engine.dispose()


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session
