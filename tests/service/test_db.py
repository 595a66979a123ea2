"""Migrations and job leases, on SQLite and on PostgreSQL."""

import threading
import time

import pytest
from sqlalchemy import inspect, select

from service.db import Database, upgrade
from service.leases import claim_next, finish, heartbeat
from service.models import Job
from surrogate.store import SampleStore

TABLES = {"alembic_version", "api_keys", "jobs", "candidates", "surrogate_samples"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'xbarnas.db'}"
    return request.getfixturevalue("postgres_url").render_as_string(hide_password=False)


def test_upgrade_creates_the_schema_and_is_idempotent(database_url):
    upgrade(database_url)
    upgrade(database_url)
    assert set(inspect(Database(database_url).engine).get_table_names()) >= TABLES


def test_upgrade_after_the_surrogate_store_created_its_table(database_url):
    SampleStore.open(database_url)
    upgrade(database_url)
    assert set(inspect(Database(database_url).engine).get_table_names()) >= TABLES


def _jobs(db: Database, n: int) -> list[str]:
    with db.session() as session:
        jobs = [Job(request={"n": i}) for i in range(n)]
        session.add_all(jobs)
        session.commit()
        return [job.id for job in jobs]


def test_concurrent_runners_never_claim_the_same_job(database_url):
    upgrade(database_url)
    db = Database(database_url)
    ids = _jobs(db, 30)
    claims: list[tuple[str, str]] = []
    lock = threading.Lock()

    def runner(name: str) -> None:
        while (job_id := claim_next(db.sessions, name, lease_seconds=60)) is not None:
            with lock:
                claims.append((name, job_id))

    threads = [threading.Thread(target=runner, args=(f"runner-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [job_id for _, job_id in claims]
    assert sorted(claimed) == sorted(ids)  # every job exactly once
    with db.session() as session:
        owners = dict(session.execute(select(Job.id, Job.lease_owner)).all())
    assert all(owners[job_id] == name for name, job_id in claims)


def test_an_expired_lease_is_reclaimed_and_the_old_runner_loses_it(database_url):
    upgrade(database_url)
    db = Database(database_url)
    (job_id,) = _jobs(db, 1)
    assert claim_next(db.sessions, "crashed", lease_seconds=0.05) == job_id
    assert claim_next(db.sessions, "other", lease_seconds=60) is None  # lease still valid
    time.sleep(0.1)
    assert claim_next(db.sessions, "other", lease_seconds=60) == job_id
    assert not heartbeat(db.sessions, job_id, "crashed", 60, progress=0.5)
    assert heartbeat(db.sessions, job_id, "other", 60, progress=0.5, phase="search")
    assert not finish(db.sessions, job_id, "crashed", "succeeded")
    assert finish(db.sessions, job_id, "other", "succeeded")
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.attempts, job.progress, job.lease_owner) == (
            "succeeded",
            2,
            1.0,
            None,
        )
    assert claim_next(db.sessions, "other", lease_seconds=60) is None
