"""Signed values that stand in for an API key where a key must not travel: the dashboard's
session cookie and short-lived export links.

Both are HMAC-SHA256 signatures under the server secret, over the key's id, an expiry and, for a
link, what it downloads. They are not the key and cannot be turned back into it. The secret is
``XBARNAS_SECRET_KEY`` when set, else a random one created once in ``XBARNAS_DATA_DIR/secret-key``
(mode 0600): servers that share a database accept each other's sessions and links when they share
the data directory (as they must for uploaded data sets) or the same ``XBARNAS_SECRET_KEY``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from functools import cache
from pathlib import Path

from service.settings import Settings

SECRET_FILE = "secret-key"
SESSION_VALUE = re.compile(r"(\d{1,18})\.(\d{1,18})\.([\w-]{1,100})", re.ASCII)


def server_secret(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return _file_secret(settings.data_dir.resolve() / SECRET_FILE)


@cache
def _file_secret(path: Path) -> bytes:
    """The secret in ``path``, created by whichever server gets there first."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        publish_private(path, secrets.token_hex(32))
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise RuntimeError(f"{path}: the server secret is missing or too short")
    return secret.encode()


def publish_private(path: Path, text: str, replace: bool = False) -> bool:
    """Write ``text`` to ``path`` readable by its owner only, all at once (a reader never sees a
    partial file). Without ``replace``, False when ``path`` already exists (another wrote first)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")
    try:
        if replace:
            os.replace(temporary, path)
            return True
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)


def _signature(secret: bytes, *fields: object) -> str:
    message = "\n".join(str(field) for field in fields).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _valid(signature: str, expected: str) -> bool:
    return hmac.compare_digest(signature.encode(), expected.encode())


def session_value(secret: bytes, key_id: int, expires: int) -> str:
    """The session cookie's value: ``KEY_ID.EXPIRES.SIGNATURE`` (expiry in Unix seconds)."""
    return f"{key_id}.{expires}.{_signature(secret, 'session', key_id, expires)}"


def session_key_id(secret: bytes, value: str, now: float | None = None) -> int | None:
    """The key id of a genuine, unexpired session value; else None."""
    parts = SESSION_VALUE.fullmatch(value)
    if parts is None:
        return None
    key_id, expires = int(parts[1]), int(parts[2])
    if not _valid(parts[3], _signature(secret, "session", key_id, expires)):
        return None
    return key_id if expires > (time.time() if now is None else now) else None


def link_signature(secret: bytes, key_id: int, architecture_id: str, fmt: str, expires: int) -> str:
    """The signature of an export link: bound to the key, the architecture, format and expiry."""
    return _signature(secret, "export", key_id, architecture_id, fmt, expires)


def link_is_valid(
    secret: bytes, key_id: int, architecture_id: str, fmt: str, expires: int, signature: str
) -> bool:
    return _valid(signature, link_signature(secret, key_id, architecture_id, fmt, expires))
