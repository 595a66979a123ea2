"""API keys: created once and shown once, stored as SHA-256 hashes, sent as Bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.deps import get_session, get_settings
from service.models import ApiKey
from service.settings import Settings

PREFIX = "xbn_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """A new key for ``name``: the stored row and the plaintext (shown once, never stored)."""
    plaintext = PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, key_hash=hash_key(plaintext))
    session.add(key)
    session.commit()
    return key, plaintext


def current_owner(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> ApiKey | None:
    """The caller's key (``Authorization: Bearer KEY``, or ``?token=KEY`` for browser downloads);
    None when authentication is off."""
    if not settings.auth:
        return None
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.query_params.get("token")
    key = (
        session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(token))) if token else None
    )
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="authorization: a valid API key is required (Authorization: Bearer KEY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


Owner = Annotated[ApiKey | None, Depends(current_owner)]


def owner_id(owner: ApiKey | None) -> int | None:
    return owner.id if owner is not None else None
