"""/v1/me: the caller's key, its quotas and what it uses of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from service.auth import Owner, aware
from service.deps import get_session, get_settings
from service.quotas import usage
from service.schemas import MeOut
from service.settings import Settings

router = APIRouter(prefix="/v1/me", tags=["keys"])


@router.get("", response_model=MeOut)
def me(
    session: Annotated[Session, Depends(get_session)],
    settings: Annotated[Settings, Depends(get_settings)],
    owner: Owner,
) -> MeOut:
    """The caller's key (null fields when authentication is off) and its quotas with usage."""
    return MeOut(
        id=owner.id if owner else None,
        name=owner.name if owner else None,
        created_at=aware(owner.created_at) if owner else None,
        expires_at=aware(owner.expires_at) if owner else None,
        quotas=usage(session, settings, owner),
    )
