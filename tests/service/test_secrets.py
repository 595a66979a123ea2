"""Keys out of URLs and logs, and key management: sessions, signed links, expiry, revocation.

The browser half (a real `xbarnas serve`, a dashboard session and a download, the server's whole
log searched for the key) is in test_dashboard.py, which already drives one.
"""

import io
import logging
import stat
import time
from datetime import datetime, timedelta
from http.cookies import SimpleCookie

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner
from uvicorn.logging import AccessFormatter

from search.space import SearchSpace
from service import sessions
from service.app import create_app
from service.auth import PREFIX, SESSION_COOKIE, aware, create_key, hash_key
from service.cli import app as cli
from service.db import Database, upgrade
from service.localkey import LOCAL_KEY_FILE, local_key
from service.logredact import RedactSecrets
from service.models import ApiKey, Candidate, Job, utcnow
from service.schemas import JobCreate
from service.settings import Settings

ORIGIN = {"Origin": "http://testserver"}  # what a browser sends with a POST from our pages


@pytest.fixture
def service(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'xbarnas.db'}", runner=False, data_dir=tmp_path
    )
    app = create_app(settings)
    with TestClient(app) as client:
        client.settings = settings
        client.database = app.state.database
        with client.database.session() as session:
            key, client.key = create_key(session, "me")
        client.key_id = key.id
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={value}"}


def _verified_architecture(service, seed: int) -> str:
    """A verified candidate of a finished job of the service's key (JSON exports need no real
    weights)."""
    cfg = SearchSpace.tiny().sample(np.random.default_rng(seed))
    with service.database.session() as session:
        job = Job(
            request=JobCreate().model_dump(mode="json"), owner_id=service.key_id, status="succeeded"
        )
        session.add(job)
        session.flush()
        session.add(
            Candidate(
                job_id=job.id,
                architecture_id=cfg.id,
                architecture=cfg.model_dump(mode="json"),
                predicted={},
                cost={},
                verified={},
                weights=b"weights",
            )
        )
        session.commit()
    return cfg.id


def _logged(formatter: logging.Formatter, message: str, *args) -> str:
    """What a handler behind ``RedactSecrets`` writes of one record."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    handler.handle(logging.makeLogRecord({"msg": message, "args": args, "levelno": 20}))
    return stream.getvalue()


def test_the_log_shows_no_token_nor_key():
    key = PREFIX + "s3cr3t-body_of-the-key"
    path = f"/jobs/1?token={key}&x=1&signature=abc"
    access = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    line = _logged(access, '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 303)
    assert (
        line == '127.0.0.1:5 - "GET /jobs/1?token=***&x=1&signature=*** HTTP/1.1" 303 See Other\n'
    )
    assert _logged(logging.Formatter(), f"refused {key}") == "refused xbn_***\n"


def test_keys_in_the_query_are_no_credential(service):
    assert service.get("/v1/jobs", params={"token": service.key}).status_code == 401
    assert service.get("/v1/jobs", headers=_bearer(service.key)).status_code == 200


def test_revoked_and_expired_keys_get_401(service):
    with service.database.session() as session:
        _, expired = create_key(session, "old", utcnow() - timedelta(seconds=1))
        _, later = create_key(session, "later", utcnow() + timedelta(days=1))
    response = service.get("/v1/jobs", headers=_bearer(expired))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert service.get("/v1/jobs", headers=_bearer(later)).status_code == 200

    mine = service.get("/v1/keys", headers=_bearer(service.key)).json()
    assert [k["name"] for k in mine] == ["me"] and mine[0]["revoked_at"] is None
    assert "key" not in mine[0] and "key_hash" not in mine[0]
    other = service.post(f"/v1/keys/{mine[0]['id'] + 1}/revoke", headers=_bearer(service.key))
    assert other.status_code == 404  # a key revokes itself only
    revoked = service.post(f"/v1/keys/{mine[0]['id']}/revoke", headers=_bearer(service.key))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    response = service.get("/v1/jobs", headers=_bearer(service.key))
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert service.get("/v1/jobs", headers=_bearer(later)).status_code == 200


def test_last_use_is_written_at_most_once_a_minute(service):
    def last_used():
        with service.database.session() as session:
            return aware(session.get(ApiKey, service.key_id).last_used_at)

    service.get("/v1/jobs", headers=_bearer(service.key))
    first = last_used()
    service.get("/v1/jobs", headers=_bearer(service.key))
    assert first is not None and last_used() == first
    with service.database.session() as session:
        session.get(ApiKey, service.key_id).last_used_at = first - timedelta(minutes=2)
        session.commit()
    assert service.get("/v1/jobs", headers=_bearer(service.key)).status_code == 200
    assert last_used() > first


def test_the_dashboard_trades_the_token_for_an_httponly_samesite_cookie(service):
    response = service.get(f"/jobs/new?token={service.key}&x=1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/jobs/new?x=1"
    header = response.headers["set-cookie"]
    cookie = SimpleCookie(header)[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "strict" and cookie["path"] == "/"
    assert service.key not in header and service.key[len(PREFIX) :] not in header
    assert 0 < int(cookie["max-age"]) <= 24 * 3600

    service.cookies.clear()  # each request below says which cookie it carries
    session = _cookie(cookie.value)
    assert service.get("/v1/jobs", headers=session).status_code == 200
    job = JobCreate().model_dump(mode="json")
    forged = service.post("/v1/jobs", json=job, headers=session)  # no Origin: not our page
    assert forged.status_code == 403 and "origin" in forged.json()["detail"]
    elsewhere = {"Origin": "https://evil.example", **session}
    assert service.post("/v1/jobs", json=job, headers=elsewhere).status_code == 403
    assert service.post("/v1/jobs", json=job, headers={**ORIGIN, **session}).status_code == 202

    key_id, expires, signature = cookie.value.split(".")
    later = _cookie(f"{key_id}.{int(expires) + 3600}.{signature}")
    assert service.get("/v1/jobs", headers=later).status_code == 401
    foreign = _cookie(sessions.session_value(b"not the server's secret", int(key_id), 2**40))
    assert service.get("/v1/jobs", headers=foreign).status_code == 401
    secret = sessions.server_secret(service.settings)
    stale = _cookie(sessions.session_value(secret, service.key_id, int(time.time()) - 1))
    assert service.get("/v1/jobs", headers=stale).status_code == 401
    for garbage in ("1.2", "", "1.99999999999999999999.abc", "a.b.c.d"):
        assert service.get("/v1/jobs", headers=_cookie(garbage)).status_code == 401
    assert sessions.session_key_id(secret, "²2.1.abc") is None  # not an ASCII number


def test_a_token_from_another_site_or_a_bad_one_starts_no_session(service):
    cross = service.get(
        f"/?token={service.key}", headers={"Sec-Fetch-Site": "cross-site"}, follow_redirects=False
    )
    assert cross.status_code == 303 and "set-cookie" not in cross.headers
    bad = service.get("/?token=xbn_nope", follow_redirects=False)
    assert bad.status_code == 303 and bad.headers["location"] == "/"
    assert "set-cookie" not in bad.headers


def test_the_key_form_signs_in_by_post_and_revocation_ends_the_session(service):
    assert service.post("/session", json={"key": service.key}).status_code == 403  # no Origin
    wrong = service.post("/session", json={"key": "xbn_nope"}, headers=ORIGIN)
    assert wrong.status_code == 401
    signed_in = service.post("/session", json={"key": service.key}, headers=ORIGIN)
    assert signed_in.status_code == 204 and "httponly" in signed_in.headers["set-cookie"].lower()
    assert service.get("/v1/jobs").status_code == 200  # the client keeps the cookie
    assert service.post(f"/v1/keys/{service.key_id}/revoke", headers=ORIGIN).status_code == 200
    ended = service.get("/v1/jobs")
    assert ended.status_code == 401 and "revoked" in ended.json()["detail"]


def test_signed_export_links(service):
    arch, other_arch = _verified_architecture(service, 0), _verified_architecture(service, 1)
    auth = _bearer(service.key)
    link = service.post(f"/v1/architectures/{arch}/export-link?format=json", headers=auth).json()
    url = link["url"]
    assert service.key not in url and service.key[len(PREFIX) :] not in url
    assert 0 < time.time() - 1 < _timestamp(link["expires_at"]) <= time.time() + 600
    service.cookies.clear()
    download = service.get(url)  # no key, no cookie: the link alone
    assert download.status_code == 200 and download.json()["architecture"]["M"] >= 1

    assert service.get(url.replace("format=json", "format=onnx")).status_code == 401
    assert service.get(url.replace(arch, other_arch)).status_code == 401
    signature = url.rsplit("signature=", 1)[1]
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert service.get(url.replace(signature, flipped)).status_code == 401
    expires = url.split("expires=")[1].split("&")[0]
    assert service.get(url.replace(expires, str(int(expires) + 60))).status_code == 401

    secret = sessions.server_secret(service.settings)
    past = int(time.time()) - 1
    old = sessions.link_signature(secret, service.key_id, arch, "json", past)
    query = f"format=json&key_id={service.key_id}&expires={past}&signature={old}"
    expired = service.get(f"/v1/architectures/{arch}/export?{query}")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]

    missing = service.post("/v1/architectures/nope/export-link", headers=auth)
    assert missing.status_code == 404
    bad_format = service.post(f"/v1/architectures/{arch}/export-link?format=gif", headers=auth)
    assert bad_format.status_code == 422 and "format" in bad_format.json()["detail"]
    service.post(f"/v1/keys/{service.key_id}/revoke", headers=auth)
    assert service.get(url).status_code == 401  # a revoked key's links die with it


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_serve_keeps_one_local_key(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'xbarnas.db'}")
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    first, created = local_key(database, tmp_path)
    again, created_again = local_key(database, tmp_path)
    assert created and not created_again and again == first
    assert stat.S_IMODE((tmp_path / LOCAL_KEY_FILE).stat().st_mode) == 0o600
    renewed, _ = local_key(database, tmp_path, renew=True)
    with database.session() as session:
        keys = {k.key_hash: k for k in session.scalars(select(ApiKey))}
    assert renewed != first and len(keys) == 2
    assert keys[hash_key(first)].revoked_at is not None  # the replaced key
    assert keys[hash_key(renewed)].revoked_at is None


def test_keys_list_and_revoke_on_the_command_line(tmp_path):
    database = ["--database", f"sqlite:///{tmp_path / 'xbarnas.db'}"]
    runner = CliRunner()
    for name in ("ci", "laptop", "laptop"):
        created = runner.invoke(
            cli, ["keys", "create", "--name", name, "--expires-in", "30", *database]
        )
        assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    listed = runner.invoke(cli, ["keys", "list", *database])
    assert listed.exit_code == 0 and listed.output.count("laptop") == 2
    assert key not in listed.output and key[len(PREFIX) :] not in listed.output
    ambiguous = runner.invoke(cli, ["keys", "revoke", "laptop", *database])
    assert ambiguous.exit_code != 0 and "give an id" in ambiguous.output
    assert runner.invoke(cli, ["keys", "revoke", "nobody", *database]).exit_code != 0
    by_name = runner.invoke(cli, ["keys", "revoke", "ci", *database])
    assert by_name.exit_code == 0 and "revoked key 1" in by_name.output
    assert runner.invoke(cli, ["keys", "revoke", "3", *database]).exit_code == 0
    rows = runner.invoke(cli, ["keys", "list", *database]).output.strip().splitlines()[1:]
    assert all(row.split()[4][:2] == "20" for row in rows)  # the expiry, in 30 days
    revoked = {row.split()[0]: not row.rstrip().endswith(" -") for row in rows}
    assert revoked == {"1": True, "2": False, "3": True}
