"""Log records without secrets: the ``token`` and ``signature`` values of a URL and anything
shaped like an API key become ``***`` before a handler writes them."""

from __future__ import annotations

import copy
import logging
import re

from uvicorn.config import LOGGING_CONFIG

from service.auth import PREFIX

SECRET_QUERY = re.compile(r"([?&](?:token|signature)=)[^&#\s\"]*", re.IGNORECASE)
API_KEY = re.compile(re.escape(PREFIX) + r"[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    return API_KEY.sub(PREFIX + "***", SECRET_QUERY.sub(r"\1***", text))


class RedactSecrets(logging.Filter):
    """Redacts a record's message and its string arguments (uvicorn's access log keeps the
    request line among the arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config() -> dict:
    """Uvicorn's logging configuration with every handler behind ``RedactSecrets``."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact_secrets": {"()": RedactSecrets}}
    for handler in config["handlers"].values():
        handler["filters"] = ["redact_secrets"]
    return config
