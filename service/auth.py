"""API keys: created once and shown once, stored as SHA-256 hashes; sent as Bearer tokens by API
clients, stood in for by a signed session cookie in the dashboard and by a signed, short-lived
link for a download. A key never travels in a URL that gets logged (see ``service.sessions``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Query, Request, status
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service import sessions
from service.deps import get_session, get_settings
from service.models import ApiKey, utcnow
from service.settings import Settings

PREFIX = "xbn_"
SESSION_COOKIE = "xbarnas_session"
LAST_USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LINK_SECONDS = 600  # lifetime of a signed export link


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for ``name``: the stored row and the plaintext (shown once, never stored)."""
    plaintext = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, key_hash=hash_key(plaintext), expires_at=expires_at)
    session.add(key)
    session.commit()
    return key, plaintext


def aware(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC (SQLite gives back naive datetimes)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def refusal(key: ApiKey | None) -> str | None:
    """Why ``key`` may not be used (unknown, revoked, expired), or None when it may."""
    if key is None:
        return "authorization: a valid API key is required (Authorization: Bearer KEY)"
    if key.revoked_at is not None:
        return "authorization: this API key was revoked"
    if key.expires_at is not None and aware(key.expires_at) <= utcnow():
        return "authorization: this API key expired"
    return None


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def find_key(session: Session, plaintext: str) -> ApiKey | None:
    """The row of ``plaintext``, whatever its state; None if there is none."""
    digest = hash_key(plaintext)
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    return key if key is not None and hmac.compare_digest(key.key_hash, digest) else None


def usable_key(session: Session, plaintext: str) -> ApiKey:
    """The row of a usable key; 401 naming why not (unknown, revoked, expired)."""
    key = find_key(session, plaintext)
    if (reason := refusal(key)) is not None:
        raise unauthorized(reason)
    return key


def touch(session: Session, key: ApiKey) -> None:
    """Record the key's use: one write per key and minute at most, whatever the traffic."""
    now = utcnow()
    if key.last_used_at is not None and aware(key.last_used_at) > now - LAST_USED_EVERY:
        return
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)  # the loaded row may stay as it was
    )
    session.commit()


def revoke(session: Session, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.commit()
    return key


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def check_origin(request: Request) -> None:
    """Cross-site request forgery: a browser's unsafe request with the session cookie must come
    from a page of this server. SameSite=Strict already keeps the cookie off cross-site requests;
    the ``Origin`` header, which browsers send with every POST, is checked as a second fence."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None or urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="origin: a request with the session cookie must come from this server's pages",
        )


def session_key(request: Request, session: Session, settings: Settings) -> ApiKey | None:
    """The key behind the request's session cookie; None without one; 401 if it is not valid."""
    value = request.cookies.get(SESSION_COOKIE)
    if value is None:
        return None
    key_id = sessions.session_key_id(sessions.server_secret(settings), value)
    if key_id is None:
        raise unauthorized("authorization: the session expired or is not valid; sign in again")
    check_origin(request)
    key = session.get(ApiKey, key_id)
    if (reason := refusal(key)) is not None:
        raise unauthorized(reason)
    return key


def current_owner(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> ApiKey | None:
    """The caller's key (``Authorization: Bearer KEY``, or the dashboard's session cookie);
    None when authentication is off."""
    if not settings.auth:
        return None
    token = _bearer(request)
    key = usable_key(session, token) if token else session_key(request, session, settings)
    if key is None:
        raise unauthorized(refusal(None))
    touch(session, key)
    return key


def session_cookie(settings: Settings, key: ApiKey) -> tuple[str, int]:
    """A session cookie's value for ``key`` and its lifetime in seconds (at most the key's)."""
    lifetime = settings.session_hours * 3600
    if key.expires_at is not None:
        lifetime = min(lifetime, (aware(key.expires_at) - utcnow()).total_seconds())
    expires = int(time.time() + lifetime)
    return sessions.session_value(sessions.server_secret(settings), key.id, expires), int(lifetime)


def export_link(settings: Settings, key: ApiKey, architecture_id: str, fmt: str) -> tuple[str, int]:
    """The query string of a signed export link for ``key`` and its expiry (Unix seconds)."""
    expires = int(time.time() + LINK_SECONDS)
    signature = sessions.link_signature(
        sessions.server_secret(settings), key.id, architecture_id, fmt, expires
    )
    return f"format={fmt}&key_id={key.id}&expires={expires}&signature={signature}", expires


def export_owner(
    request: Request,
    architecture_id: str,
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
    key_id: Annotated[int | None, Query(description="Of a signed export link.")] = None,
    expires: Annotated[int | None, Query(description="Of a signed export link.")] = None,
    signature: Annotated[str | None, Query(description="Of a signed export link.")] = None,
) -> ApiKey | None:
    """The caller of a download: a signed link (from ``POST .../export-link``) stands for the
    key that asked for it, for this architecture and format, until it expires; otherwise the
    caller authenticates as everywhere else."""
    if signature is None or not settings.auth:
        return current_owner(request, session, settings)
    if key_id is None or expires is None:
        raise unauthorized("signature: a signed link needs key_id, expires and signature")
    fmt = request.query_params.get("format", "onnx")
    secret = sessions.server_secret(settings)
    if not sessions.link_is_valid(secret, key_id, architecture_id, fmt, expires, signature):
        raise unauthorized("signature: does not match this link")
    if expires <= time.time():
        raise unauthorized("signature: the link expired; ask for a new one")
    key = session.get(ApiKey, key_id)
    if (reason := refusal(key)) is not None:
        raise unauthorized(reason)
    touch(session, key)
    return key


Owner = Annotated[ApiKey | None, Depends(current_owner)]
ExportOwner = Annotated[ApiKey | None, Depends(export_owner)]


def owner_id(owner: ApiKey | None) -> int | None:
    return owner.id if owner is not None else None
