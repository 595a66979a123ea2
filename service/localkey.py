"""The API key of whoever runs ``xbarnas serve``: created once and kept, readable by its owner
only, in ``XBARNAS_DATA_DIR/local-key``, so that later starts reuse it instead of adding keys."""

from __future__ import annotations

import getpass
from pathlib import Path

from service.auth import create_key, find_key, refusal, revoke
from service.db import Database
from service.sessions import publish_private

LOCAL_KEY_FILE = "local-key"


def local_key_name() -> str:
    try:
        return f"serve (local {getpass.getuser()})"
    except (OSError, KeyError):  # no user name in the environment nor in the password database
        return "serve (local)"


def local_key(database: Database, data_dir: Path, renew: bool = False) -> tuple[str, bool]:
    """The local key's plaintext, and whether it is new. The key in the file is kept while this
    database accepts it; a new one replaces it when there is none, when it is revoked, expired or
    unknown here, or when ``renew`` asks (the replaced key is then revoked). Servers starting
    together on one data directory agree on one key: the first to publish its file wins."""
    path = data_dir / LOCAL_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with database.session() as session:
        while True:
            current = path.read_text().strip() if path.exists() else None
            old = find_key(session, current) if current else None
            if old is not None and refusal(old) is None and not renew:
                return current, False
            key, plaintext = create_key(session, local_key_name())
            if publish_private(path, plaintext, replace=current is not None):
                if old is not None:
                    revoke(session, old)
                return plaintext, True
            session.delete(key)  # another server published its key first: use that one
            session.commit()
