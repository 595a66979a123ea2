"""TinyML tasks: data with fixed seeded splits, input shape, classes and metric."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from search.tasks import cifar10, digits, fashion_mnist, kws, npz, vww
from search.tasks.base import Split, Task, TaskError, data_dir, make_task

BUILTIN_TASKS: dict[str, tuple[Callable[..., Task], str]] = {
    "digits": (digits.load, "scikit-learn 8x8 handwritten digits, 10 classes (embedded)"),
    "fashion-mnist": (
        fashion_mnist.load,
        "Fashion-MNIST 28x28 grey clothing images, 10 classes (Zalando; Debian package)",
    ),
    "cifar10": (cifar10.load, "CIFAR-10 32x32 colour images, 10 classes (MLPerf Tiny IC)"),
    "kws": (kws.load, "Speech Commands v2, 12 classes, 49x10 MFCC (MLPerf Tiny KWS)"),
    "vww": (vww.load, "Visual wake words, person / no person, 96x96 (MLPerf Tiny VWW)"),
}


NPZ_PREFIX = "npz:"


def load_task(name: str, **options) -> Task:
    """A built-in task by name (options go to its loader: ``root``, ``seed``, ...), or an
    uploaded data set as ``npz:PATH``."""
    if name.startswith(NPZ_PREFIX):
        return npz.load(name[len(NPZ_PREFIX) :], **options)
    try:
        loader, _ = BUILTIN_TASKS[name]
    except KeyError:
        raise TaskError(f"task: unknown task {name!r}; built-in: {sorted(BUILTIN_TASKS)}") from None
    return loader(**options)


def load_npz_task(path: str | Path, name: str | None = None, seed: int = 0) -> Task:
    """An uploaded ``.npz`` data set as a task."""
    return npz.load(path, name, seed)


__all__ = [
    "BUILTIN_TASKS",
    "NPZ_PREFIX",
    "Split",
    "Task",
    "TaskError",
    "data_dir",
    "load_npz_task",
    "load_task",
    "make_task",
]
