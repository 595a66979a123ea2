"""Database engine, sessions and migrations (Alembic) of the service, and riding out a database
that is briefly gone (restarted, unreachable, or dropping connections)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from surrogate.store import SampleStore, make_engine

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
        """A session, closed at the end; when its connection was lost meanwhile, the rollback
        that closing does is the server's (an answered request does not fail afterwards)."""
        session = self.sessions()
        try:
            yield session
        finally:
            try:
                session.close()
            except Exception as error:
                if not unavailable(error):
                    raise


T = TypeVar("T")
log = logging.getLogger("xbarnas.db")
FIRST_RETRY_SECONDS = 0.25
LAST_RETRY_SECONDS = 5.0


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database is out of reach for now (down, unreachable, its
    connection dropped, no free connection) rather than that the statement is wrong."""
    if isinstance(error, PoolTimeoutError):
        return True
    if isinstance(error, OperationalError | InterfaceError):
        # SQLite's are mostly mistakes (no such table, bad syntax), but for a locked database
        return not isinstance(error.orig, sqlite3.Error) or "locked" in str(error.orig)
    return isinstance(error, DBAPIError) and error.connection_invalidated


def retry_unavailable(step: Callable[[], T], stop: threading.Event) -> T:
    """``step()``, run again (after a growing pause) while the database is unavailable, until it
    succeeds or ``stop`` is set (then the last error is raised). Each try must be a whole
    transaction that is safe to repeat: pooled connections the server dropped are replaced by the
    engine's pre-ping, a connection lost mid-transaction loses only that transaction."""
    pause = FIRST_RETRY_SECONDS
    while True:
        try:
            return step()
        except Exception as error:
            if not unavailable(error):
                raise
            log.warning("database unavailable, retrying in %.2g s: %s", pause, _reason(error))
            if stop.wait(pause):
                raise
            pause = min(2 * pause, LAST_RETRY_SECONDS)


def _reason(error: Exception) -> str:
    """The driver's message (SQLAlchemy's own adds the statement and a link)."""
    return str(getattr(error, "orig", None) or error).strip()


class RetryingSampleStore(SampleStore):
    """The surrogate rows of a runner's jobs: each read and write waits out a database outage."""

    def __init__(self, engine: Engine, stop: threading.Event) -> None:
        super().__init__(engine)
        self.stop = stop

    def keys(self, *args: Any) -> set[tuple[str, int]]:
        return retry_unavailable(partial(super().keys, *args), self.stop)

    def add(self, row: dict[str, Any]) -> bool:
        """Store one sample; a retry after a commit whose answer was lost finds it stored."""
        return retry_unavailable(partial(super().add, row), self.stop)

    def rows(self, *args: Any) -> list[dict[str, Any]]:
        return retry_unavailable(partial(super().rows, *args), self.stop)
