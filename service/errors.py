"""What users are told about errors: the problem, never a server path or a stack trace (those go
to the server log)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse

from service.db import unavailable

log = logging.getLogger("xbarnas.errors")
RETRY_AFTER_SECONDS = 5
ROOTS = r"(?:~|\.{1,2})?/"  # where a path starts: absolute, ~/ or ./


def _path_pattern(roots: str) -> re.Pattern[str]:
    """A quoted path (spaces and all), or a bare one not inside a URL ("http://host/x") nor a
    word ("1/2", "and/or")."""
    quoted = rf"""(?P<quote>['"])(?P<quoted>{roots}[^'"\n]+)(?P=quote)"""
    bare = rf"""(?<![\w.:/~-])(?P<bare>{roots}[^\s'"`,;:()\[\]{{}}<>]+)"""
    return re.compile(f"{quoted}|{bare}")


SERVER_PATH = _path_pattern(ROOTS)


def _file_name(path: re.Match[str]) -> str:
    if path["quoted"] is not None:
        return path["quote"] + Path(path["quoted"]).name + path["quote"]
    return Path(path["bare"]).name


def scrub_paths(text: str, data_dir: Path | None = None) -> str:
    """``text`` with each server path (absolute, or under a relative ``data_dir``) replaced by
    its file name."""
    pattern = SERVER_PATH
    if data_dir is not None and not Path(data_dir).is_absolute():
        pattern = _path_pattern(rf"(?:{ROOTS}|{re.escape(str(data_dir))}/)")
    return pattern.sub(_file_name, text)


def user_message(error: BaseException, data_dir: Path | None = None) -> str:
    """A failed job's error as its owner sees it: the message, without the exception's class and
    with server paths replaced by file names."""
    return scrub_paths(str(error), data_dir).strip() or f"{type(error).__name__} (no details)"


async def database_error(request: Request, error: Exception) -> JSONResponse:
    """A database error escaping a request: 503 with ``Retry-After`` while the database is
    unavailable (down, unreachable, dropping connections), else a 500."""
    if not unavailable(error):
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return internal_error_response()
    log.warning("%s %s: database unavailable", request.method, request.url.path)
    return JSONResponse(
        {"detail": "database unavailable, retry shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def internal_error(_request: Request, _error: Exception) -> JSONResponse:
    """Any other unexpected error (the server logs its traceback)."""
    return internal_error_response()


def internal_error_response() -> JSONResponse:
    return JSONResponse({"detail": "internal server error"}, status_code=500)
