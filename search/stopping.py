"""Cooperative stop of running verifications.

A running task cannot be interrupted in a thread, a process pool or on a Dask worker: a job that
is cancelled (or fails, or is taken over) would leave its verifications training to their end,
holding the workers the next job waits for. Tasks submitted through a :class:`StoppableExecutor`
run under its stop file instead; training and measurement call :func:`check_stop` at every
mini-batch and chip, and end with :class:`Stopped` once the file exists. The file must be
visible to the workers: any local executor, or Dask workers sharing the data volume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from contextvars import ContextVar
from pathlib import Path
from typing import Any

_stop_file: ContextVar[str | None] = ContextVar("xbarnas_stop_file", default=None)


class Stopped(Exception):
    """The task's stop file appeared: its job no longer wants the result."""


def check_stop() -> None:
    """Raise :class:`Stopped` when the running task's stop file exists (a stat call: cheap
    enough for every mini-batch); nothing outside a :class:`StoppableExecutor`'s task."""
    path = _stop_file.get()
    if path is not None and Path(path).exists():
        raise Stopped(path)


def _run_stoppable(stop_file: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` under ``stop_file`` (a module function: picklable for workers)."""
    token = _stop_file.set(stop_file)
    try:
        check_stop()  # stopped before it started (a queued task the pool could not cancel)
        return fn(*args, **kwargs)
    finally:
        _stop_file.reset(token)


class StoppableExecutor(Executor):
    """Submits to a shared ``executor`` tasks that :meth:`stop` ends at their next check; the
    shared executor itself stays up for the next job."""

    def __init__(self, executor: Executor, stop_file: Path) -> None:
        self.executor, self.stop_file = executor, Path(stop_file)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self.executor.submit(_run_stoppable, str(self.stop_file), fn, *args, **kwargs)

    def stop(self) -> None:
        """End the tasks still running or queued (at their next check)."""
        self.stop_file.parent.mkdir(parents=True, exist_ok=True)
        self.stop_file.touch()


def sweep_stop_files(folder: Path, older_than_seconds: float = 3600.0) -> None:
    """Remove stop files old enough that every task they stopped has seen them."""
    if not folder.is_dir():
        return
    now = time.time()
    for path in folder.iterdir():
        try:
            if now - path.stat().st_mtime > older_than_seconds:
                path.unlink()
        except FileNotFoundError:
            pass  # another runner swept it
