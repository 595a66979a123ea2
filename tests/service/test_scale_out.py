"""Scale-out on PostgreSQL and Dask, as processes on loopback: the docker-compose topology."""

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from distributed import Client as DaskClient
from sqlalchemy import Engine, create_engine, select, text

from service.db import Database, upgrade
from service.leases import claim_next, finish
from service.models import Candidate, Job, utcnow
from service.runner import Runner, RunnerProcess, make_executor
from service.settings import Settings
from surrogate.store import SurrogateSample
from tests.service.topology import (
    LIGHT_TOP_K,
    Process,
    connect,
    light_job,
    start_scheduler,
    start_server,
    start_worker,
)


@pytest.fixture
def processes():
    """Processes started by a test, killed (whole groups) when it ends, whatever happens."""
    started: list[Process] = []
    yield started
    for process in reversed(started):
        process.kill()


def _verifying(dask: DaskClient) -> str | None:
    """The name of a Dask worker running a verification now, if any."""
    workers = dask.scheduler_info(n_workers=-1)["workers"]
    busy = [address for address, keys in dask.processing().items() if keys]
    return workers[busy[0]]["name"] if busy else None


def _wait_until_finished(engine: Engine, jobs: list[str], deadline: float) -> None:
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            statuses = connection.scalars(select(Job.status).where(Job.id.in_(jobs))).all()
            connection.rollback()  # a fresh snapshot next time
            if all(s in ("succeeded", "failed", "cancelled") for s in statuses):
                return
            time.sleep(1)


def test_three_jobs_on_two_runners_survive_a_lost_dask_worker(postgres_url, tmp_path, processes):
    url = postgres_url.render_as_string(hide_password=False)
    scheduler, address = start_scheduler()
    processes.append(scheduler)
    workers = {name: start_worker(address, name) for name in ("worker-a", "worker-b")}
    processes.extend(workers.values())
    engine = create_engine(postgres_url)
    dask = DaskClient(address, timeout=30)
    try:
        dask.wait_for_workers(2, timeout=60)
        env = {"XBARNAS_EXECUTOR": address, "XBARNAS_LEASE_SECONDS": "30"}
        data = tmp_path / "data"  # shared, like the compose volume
        servers = [start_server(url, data, **env) for _ in range(2)]  # API + runner, at once
        processes.extend(server for server, _ in servers)
        clients = [connect(server, port) for server, port in servers]
        jobs = [clients[seed % 2].submit(light_job(seed))["id"] for seed in range(3)]

        killed = None
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline:
            killed = _verifying(dask)
            time.sleep(0.1)
        assert killed, "no verification was ever seen running"
        workers[killed].kill()  # SIGKILL: the worker and its nanny, mid-verification
        _wait_until_finished(engine, jobs, deadline)

        with engine.connect() as connection:
            rows = connection.execute(select(Job.id, Job.status, Job.error, Job.attempts)).all()
            verified = connection.execute(
                select(Candidate.job_id, Candidate.architecture_id).where(
                    Candidate.verified.is_not(None)
                )
            ).all()
            samples = connection.execute(
                select(SurrogateSample.arch_id, SurrogateSample.seed).where(
                    SurrogateSample.source == "search"
                )
            ).all()
    finally:
        dask.close()
        engine.dispose()
    assert {row.id for row in rows} == set(jobs)
    assert all(row.status == "succeeded" for row in rows), rows
    assert all(row.attempts == 1 for row in rows), rows  # no job ran twice
    # every job's candidates verified and stored once (candidate rows are unique per job)...
    assert Counter(job_id for job_id, _ in verified) == dict.fromkeys(jobs, LIGHT_TOP_K)
    # ... and each one became exactly one surrogate row, keyed by its job's seed
    seeds = {job_id: seed for seed, job_id in enumerate(jobs)}
    assert sorted(samples) == sorted((arch, seeds[job_id]) for job_id, arch in verified)


def test_two_runners_never_claim_the_same_job(postgres_url):
    """Runners with their own engines (as separate processes have) start claiming at once, over
    queued jobs and jobs whose runner died."""
    url = postgres_url.render_as_string(hide_password=False)
    upgrade(url)
    database = Database(url)
    with database.session() as session:
        queued = [Job(request={}) for _ in range(60)]
        expired = [  # runners that died: their leases ran out
            Job(
                request={},
                status="running",
                lease_owner="dead",
                lease_expires_at=utcnow(),
                attempts=1,
            )
            for _ in range(20)
        ]
        session.add_all(queued + expired)
        session.commit()
        ids = sorted(job.id for job in queued + expired)
    database.engine.dispose()

    claims: dict[str, list[str]] = {f"runner-{i}": [] for i in range(4)}
    start = threading.Barrier(len(claims))

    def run(name: str) -> None:
        own = Database(url)  # its own engine and connections, like another process
        start.wait()
        while (job_id := claim_next(own.sessions, name, lease_seconds=600)) is not None:
            claims[name].append(job_id)
        own.engine.dispose()

    threads = [threading.Thread(target=run, args=(name,)) for name in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(j for taken in claims.values() for j in taken) == ids  # each exactly once
    assert sum(bool(taken) for taken in claims.values()) > 1  # they really competed
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        rows = connection.execute(select(Job.id, Job.lease_owner, Job.attempts)).all()
    engine.dispose()
    owner = {j: name for name, taken in claims.items() for j in taken}
    assert all(row.lease_owner == owner[row.id] for row in rows)
    second = {job.id for job in expired}  # one attempt more each, not two
    assert all(row.attempts == (2 if row.id in second else 1) for row in rows)


def test_servers_starting_together_migrate_once(postgres_url):
    url = postgres_url.render_as_string(hide_password=False)
    code = f"from service.db import upgrade; upgrade({url!r})"
    runs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for run in runs:
        _, error = run.communicate(timeout=120)
        assert run.returncode == 0, error
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        assert len(connection.execute(text("SELECT * FROM alembic_version")).all()) == 1
    engine.dispose()


def test_a_step_longer_than_the_lease_keeps_the_job(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'xbarnas.db'}"
    upgrade(url)
    database = Database(url)
    with database.session() as session:
        session.add(job := Job(request={}))
        session.commit()
    settings = Settings(database_url=url, data_dir=tmp_path, lease_seconds=0.6)
    taken: list[str | None] = []

    def silent_step(job_id: str, executor) -> None:  # a refit: no progress report for 5 leases
        deadline = time.monotonic() + 5 * settings.lease_seconds
        while time.monotonic() < deadline:
            taken.append(claim_next(database.sessions, "another runner", lease_seconds=60))
            time.sleep(0.05)
        finish(database.sessions, job_id, runner.name, "succeeded")

    with ThreadPoolExecutor(1) as executor:
        runner = Runner(settings, database, executor)
        monkeypatch.setattr(runner, "_run", silent_step)
        assert runner.run_once()
    assert taken and not any(taken)
    with database.session() as session:
        assert (session.get(Job, job.id).status, session.get(Job, job.id).attempts) == (
            "succeeded",
            1,
        )


def test_local_verification_workers_yield_the_cores_to_the_api():
    executor = make_executor(Settings(executor="local", workers=1))
    with executor:
        assert executor.submit(os.nice, 0).result() == os.nice(0) + 10


def test_the_servers_runner_is_a_child_process_of_lower_priority(tmp_path):
    url = f"sqlite:///{tmp_path / 'xbarnas.db'}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=tmp_path, executor="threads", poll_seconds=0.1)
    runner = RunnerProcess(settings)
    try:
        deadline = time.monotonic() + 60
        while os.getpriority(os.PRIO_PROCESS, runner.process.pid) != os.nice(0) + 10:
            assert runner.process.is_alive() and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        start = time.monotonic()
        runner.stop()
    assert runner.process.exitcode == 0 and time.monotonic() - start < 10  # idle: stops at once
