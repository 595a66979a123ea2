"""/v1/keys: a key's owner sees its record and can revoke it (e.g. when it leaked).

A key manages itself only; creating keys, listing all of them and revoking any of them is the
administrator's, with ``xbarnas keys`` on the database.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.orm import Session

from service.auth import Owner, revoke
from service.deps import get_session
from service.schemas import KeyOut

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", response_model=list[KeyOut])
def my_keys(owner: Owner) -> list[KeyOut]:
    """The keys the caller manages: its own (none when authentication is off)."""
    return [KeyOut.model_validate(owner)] if owner is not None else []


@router.post("/{key_id}/revoke", response_model=KeyOut)
def revoke_key(
    key_id: int, owner: Owner, session: Annotated[Session, Depends(get_session)]
) -> KeyOut:
    """Revoke the caller's own key: from now on it, its dashboard sessions and its export links
    get 401."""
    if owner is None or owner.id != key_id:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"key_id: {key_id} is not a key of the caller"
        )
    return KeyOut.model_validate(revoke(session, owner))
