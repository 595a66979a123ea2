"""Database faults: which errors mean an outage and how a step waits one out; then a real
`xbarnas serve` on PostgreSQL while its database fails (connections killed, or unreachable for
15 s): requests get a quick 503 meanwhile, the job goes on and stores each verified candidate
exactly once."""

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, OperationalError

from service.client import Client
from service.db import retry_unavailable, unavailable
from service.models import Candidate, Job
from surrogate.store import SurrogateSample
from tests.service.tcp_proxy import TcpProxy
from tests.service.topology import LIGHT_TOP_K, Process, connect, light_job, start_server

OUTAGE_SECONDS = 15
QUICK_ANSWER_SECONDS = 5  # the engine's connect timeout is 3 s


@dataclass
class Served:
    """A running `xbarnas serve`, its client, and a direct engine on its database."""

    process: Process
    client: Client
    database: Engine
    application_name: str  # of the service's database connections


@contextmanager
def _serve(postgres_url: URL, tmp_path: Path, via: URL | None = None) -> Iterator[Served]:
    """A server on the test schema, connecting through the URL ``via`` when given."""
    name = f"xbarnas-test-{uuid.uuid4().hex[:8]}"
    service_url = (via or postgres_url).update_query_dict({"application_name": name})
    process, port = start_server(
        service_url.render_as_string(hide_password=False), tmp_path / "data", XBARNAS_WORKERS="2"
    )
    database = create_engine(postgres_url)
    try:
        yield Served(process, connect(process, port), database, name)
    finally:
        process.kill()
        database.dispose()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


def _get(client: Client, path: str) -> tuple[int, dict, Message, float]:
    """Status, JSON body, headers and seconds of one GET (an error status is an answer too)."""
    request = urllib.request.Request(
        client.server + path, headers={"Authorization": f"Bearer {client.key}"}
    )
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), error.headers
    return status, json.loads(body), headers, time.monotonic() - start


def _submit_and_wait_for_verification(client: Client) -> str:
    """A light job's id, once it verifies its candidates (mid-job: it has database work left)."""
    job = light_job(seed=0)
    job_id = client.submit(job)["id"]
    deadline = time.monotonic() + 120
    state = client.job(job_id)
    while not state["phase"].startswith("verify") and time.monotonic() < deadline:
        assert state["status"] in ("queued", "running"), state
        time.sleep(0.2)
        state = client.job(job_id)
    assert state["status"] == "running" and state["phase"].startswith("verify"), state
    return job_id


def _wait_until_finished(client: Client, job_id: str, seconds: float = 180) -> dict:
    deadline = time.monotonic() + seconds
    state = client.job(job_id)
    while state["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = client.job(job_id)
    return state


def _assert_finished_once(served: Served, job_id: str) -> None:
    """The job succeeded on its first claim, with each verified candidate stored once."""
    state = _wait_until_finished(served.client, job_id)
    assert state["status"] == "succeeded", state
    with served.database.connect() as connection:
        attempts = connection.scalar(select(Job.attempts).where(Job.id == job_id))
        rows = Counter(
            connection.scalars(
                select(Candidate.architecture_id).where(
                    Candidate.job_id == job_id, Candidate.verified.is_not(None)
                )
            )
        )
        samples = Counter(
            connection.scalars(
                select(SurrogateSample.arch_id).where(
                    SurrogateSample.arch_id.in_(list(rows)), SurrogateSample.source == "search"
                )
            )
        )
    assert attempts == 1
    assert len(rows) == LIGHT_TOP_K and set(rows.values()) == {1}, rows  # none lost, none twice
    assert samples == rows  # and each one surrogate row
    assert served.process.popen.poll() is None, served.process.output()  # the server lives


def _log(server: Process) -> str:
    """What the server printed, but the access log."""
    return "\n".join(line for line in server.output().splitlines() if " HTTP/1.1" not in line)


def _kill_backends(database: Engine, application_name: str) -> list[int]:
    """``pg_terminate_backend`` on each of the service's connections; their process ids, once
    they are gone."""
    with database.connect() as connection:
        # in the select list, not the WHERE clause: it must run only on the rows selected
        killed = [
            pid
            for pid, terminated in connection.execute(
                text(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND application_name = :name"
                ),
                {"name": application_name},
            )
            if terminated
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = connection.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                {"pids": killed},
            )
            connection.rollback()  # a fresh snapshot of the statistics next time
            if not alive:
                break
            time.sleep(0.05)
    return killed


def _refused() -> OperationalError:
    return OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


def test_which_errors_mean_the_database_is_unavailable():
    assert unavailable(_refused())
    assert unavailable(OperationalError("", {}, sqlite3.OperationalError("database is locked")))
    assert not unavailable(OperationalError("", {}, sqlite3.OperationalError("no such table: x")))
    assert not unavailable(IntegrityError("", {}, sqlite3.IntegrityError("UNIQUE constraint")))


def test_a_step_is_retried_while_the_database_is_unavailable():
    outcomes = [_refused(), _refused(), "done"]

    def step() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retry_unavailable(step, threading.Event()) == "done" and not outcomes
    outcomes[:] = [_refused(), "never reached"]
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(OperationalError):  # a runner that stops gives up at once
        retry_unavailable(step, stopping)
    assert outcomes == ["never reached"]
    outcomes[:] = [OperationalError("", {}, sqlite3.OperationalError("no such table: x")), "no"]
    with pytest.raises(OperationalError):  # a mistake is no outage: no retry
        retry_unavailable(step, threading.Event())
    assert outcomes == ["no"]


def test_a_job_survives_its_database_connections_being_killed(postgres_url, tmp_path):
    with _serve(postgres_url, tmp_path) as server:
        job_id = _submit_and_wait_for_verification(server.client)
        killed, answers = [], []
        for _ in range(8):  # every connection of the API and the runner, again and again
            killed.append(_kill_backends(server.database, server.application_name))
            answers.append(_get(server.client, f"/v1/jobs/{job_id}")[0])
            time.sleep(0.5)
        assert len(killed[0]) >= 2, killed  # the API's and the runner's, at least
        assert answers == [200] * len(answers)  # a dead pooled connection is replaced, unseen
        _assert_finished_once(server, job_id)
        assert "Traceback" not in _log(server.process), _log(server.process)


def test_a_job_survives_15_s_without_its_database(postgres_url, tmp_path, proxy):
    via_proxy = postgres_url.set(host="127.0.0.1", port=proxy.port)
    with _serve(postgres_url, tmp_path, via=via_proxy) as server:
        job_id = _submit_and_wait_for_verification(server.client)
        with proxy.outage():
            end = time.monotonic() + OUTAGE_SECONDS
            answers = []
            while time.monotonic() < end - QUICK_ANSWER_SECONDS:
                answers.append(_get(server.client, f"/v1/jobs/{job_id}"))
            time.sleep(max(0.0, end - time.monotonic()))
        assert len(answers) >= 2
        for status, body, headers, seconds in answers:
            assert status == 503 and seconds < QUICK_ANSWER_SECONDS, (status, body, seconds)
            assert body == {"detail": "database unavailable, retry shortly"}
            assert int(headers["Retry-After"]) > 0
        _assert_finished_once(server, job_id)
        log = _log(server.process)
        assert "database unavailable, retrying" in log, log  # the runner waited it out...
        assert "Traceback" not in log, log  # ... and nothing failed
