"""Fetch and unpack a data set archive (for real users; tests serve archives on loopback)."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from search.tasks.base import TaskError


def download_and_extract(url: str, destination: Path, md5: str | None = None) -> None:
    """Download the tar archive at ``url`` and unpack it into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".tar.gz", dir=destination) as archive:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, archive)
        except OSError as error:
            raise TaskError(f"download: could not fetch {url}: {error}") from error
        archive.flush()
        if md5 is not None:
            digest = hashlib.md5(Path(archive.name).read_bytes()).hexdigest()
            if digest != md5:
                raise TaskError(f"download: {url} has md5 {digest}, expected {md5}")
        try:
            with tarfile.open(archive.name) as tar:
                tar.extractall(destination, filter="data")
        except tarfile.TarError as error:
            raise TaskError(f"download: {url} is not a valid tar archive: {error}") from error
