"""Fetch data set files and archives (for real users; tests serve them on loopback)."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import IO

from search.tasks.base import TaskError


def _fetch(url: str, file: IO[bytes], md5: str | None) -> None:
    """Write the content at ``url`` into the open ``file``, checking its md5 when given."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, file)
    except OSError as error:
        raise TaskError(f"download: could not fetch {url}: {error}") from error
    file.flush()
    if md5 is not None:
        digest = hashlib.md5(Path(file.name).read_bytes()).hexdigest()
        if digest != md5:
            raise TaskError(f"download: {url} has md5 {digest}, expected {md5}")


def download_file(url: str, path: Path, md5: str | None = None) -> None:
    """Download ``url`` to ``path``; the file appears only once complete and checked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as file:
        partial = Path(file.name)
        try:
            _fetch(url, file, md5)
        except BaseException:
            partial.unlink()
            raise
    partial.replace(path)


def download_and_extract(url: str, destination: Path, md5: str | None = None) -> None:
    """Download the tar archive at ``url`` and unpack it into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".tar.gz", dir=destination) as archive:
        _fetch(url, archive, md5)
        try:
            with tarfile.open(archive.name) as tar:
                tar.extractall(destination, filter="data")
        except tarfile.TarError as error:
            raise TaskError(f"download: {url} is not a valid tar archive: {error}") from error
