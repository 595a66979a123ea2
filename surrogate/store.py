"""Surrogate training data: one database row per verified (architecture, task, chip, seed, budget).

The rows live in the project's SQL database (SQLite by default, PostgreSQL for scale) and can be
exported to / imported from JSON lines, the format of the data files shipped with the package.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    make_url,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    """Metadata of the surrogate's tables."""


class SurrogateSample(Base):
    __tablename__ = "surrogate_samples"
    __table_args__ = (
        UniqueConstraint(
            "task", "hardware_hash", "arch_id", "seed", "budget_hash", name="uq_surrogate_sample"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(200), index=True)
    hardware_hash: Mapped[str] = mapped_column(String(64), index=True)
    hardware: Mapped[dict] = mapped_column(JSON)
    arch_id: Mapped[str] = mapped_column(String(64))
    arch: Mapped[dict] = mapped_column(JSON)
    encoding: Mapped[list] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    budget_hash: Mapped[str] = mapped_column(String(64))
    budget: Mapped[dict] = mapped_column(JSON)
    times: Mapped[list] = mapped_column(JSON)
    accuracy_mean: Mapped[list] = mapped_column(JSON)
    accuracy_std: Mapped[list] = mapped_column(JSON)
    accuracy_1d: Mapped[float] = mapped_column(Float)
    spread_1d: Mapped[float] = mapped_column(Float)
    avm: Mapped[float] = mapped_column(Float)
    digital_accuracy: Mapped[float] = mapped_column(Float)
    cost: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(200), default="collect")
    # the chip the network was trained for, when not the one measured (null: that one)
    trained_on: Mapped[dict | None] = mapped_column(JSON, nullable=True, default=None)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )


FIELDS = [c.name for c in SurrogateSample.__table__.columns if c.name not in ("id", "created_at")]
KEY = ("task", "hardware_hash", "arch_id", "seed", "budget_hash")


# A server database that is down or unreachable fails a checkout within seconds, not minutes.
CONNECT_TIMEOUT_SECONDS = 3
POOL_TIMEOUT_SECONDS = 5
POOL_RECYCLE_SECONDS = 1800
APPLICATION_NAME = "xbarnas"


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets WAL mode and a busy timeout for concurrent writers; a
    server database (PostgreSQL) gets a bounded connect and checkout wait, a ping of each pooled
    connection before use (one that the server dropped is replaced, not handed out) and an
    ``application_name`` (the URL's, if it has one)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    query = make_url(url).query
    connect_args = {
        name: value
        for name, value in (
            ("connect_timeout", CONNECT_TIMEOUT_SECONDS),
            ("application_name", APPLICATION_NAME),
        )
        if name not in query
    }
    return create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_timeout=POOL_TIMEOUT_SECONDS,
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@dataclass
class SampleStore:
    """Reads and writes surrogate samples through an SQLAlchemy engine."""

    engine: Engine

    @classmethod
    def open(cls, url: str) -> SampleStore:
        store = cls(make_engine(url))
        Base.metadata.create_all(store.engine)
        return store

    def keys(self, task: str, hardware_hash: str, budget_hash: str) -> set[tuple[str, int]]:
        """(arch_id, seed) of the rows stored for a task, chip and budget."""
        query = select(SurrogateSample.arch_id, SurrogateSample.seed).where(
            SurrogateSample.task == task,
            SurrogateSample.hardware_hash == hardware_hash,
            SurrogateSample.budget_hash == budget_hash,
        )
        with Session(self.engine) as session:
            return {(arch_id, seed) for arch_id, seed in session.execute(query)}

    def add(self, row: dict[str, Any]) -> bool:
        """Store one sample; False when a row with the same key is already there."""
        missing = set(FIELDS) - set(row) - {"source", "trained_on"}
        if missing:
            raise ValueError(f"row: missing fields {sorted(missing)}")
        with Session(self.engine) as session:
            session.add(SurrogateSample(**{k: row[k] for k in FIELDS if k in row}))
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def rows(self, task: str, hardware_hash: str) -> list[dict[str, Any]]:
        """All samples of a task on a chip, oldest first."""
        query = (
            select(SurrogateSample)
            .where(SurrogateSample.task == task, SurrogateSample.hardware_hash == hardware_hash)
            .order_by(SurrogateSample.id)
        )
        with Session(self.engine) as session:
            return [{k: getattr(s, k) for k in FIELDS} for s in session.scalars(query)]

    def all_rows(self) -> list[dict[str, Any]]:
        """Every sample of every task and chip, oldest first."""
        with Session(self.engine) as session:
            query = select(SurrogateSample).order_by(SurrogateSample.id)
            return [{k: getattr(s, k) for k in FIELDS} for s in session.scalars(query)]

    def export_jsonl(self, path: Path, task: str, hardware_hash: str) -> int:
        """Write a task's rows on a chip as JSON lines (gzip-compressed when ``path`` ends in
        ``.gz``)."""
        rows = self.rows(task, hardware_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(text.encode(), mtime=0))
        else:
            path.write_text(text)
        return len(rows)

    def import_jsonl(self, path: Path) -> int:
        """Add the rows of a JSON-lines file; returns how many were new."""
        return sum(self.add(row) for row in read_jsonl(path))


def read_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    """The rows of a JSON-lines file (gzip-compressed when its name ends in ``.gz``)."""
    path = Path(path)
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as file:
        for number, line in enumerate(file, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not JSON: {error}") from error


def read_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The rows of JSON-lines files, or of every ``*.jsonl`` / ``*.jsonl.gz`` in a folder."""
    files = [
        found
        for path in map(Path, paths)
        for found in (
            sorted([*path.glob("*.jsonl"), *path.glob("*.jsonl.gz")]) if path.is_dir() else [path]
        )
    ]
    return [row for file in files for row in read_jsonl(file)]
