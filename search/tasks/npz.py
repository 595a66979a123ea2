"""Uploaded data sets: an ``.npz`` file with arrays ``x`` (N x C x H x W or N x F) and ``y``.

An ``.npz`` is a zip of ``.npy`` members, and zeros deflate a thousandfold: a few megabytes on the
wire can inflate to many gigabytes. So every check that the ``.npy`` headers allow (size, dtypes,
ranks, lengths) runs before any array data is inflated, and an upload is then checked chunk by
chunk without holding ``x`` in memory. Messages name the array or the problem, never a path.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from search.tasks.base import Task, TaskError, make_task

ARRAYS = ("x", "y")
NUMERIC_KINDS = "uif"  # unsigned and signed integers, floats
MIN_EXAMPLES = 10  # enough for non-empty 70/15/15 train/val/test splits
CHUNK_BYTES = 2**22
MAX_MEMBERS = 64
DIRECTORY_ENTRY = b"PK\x01\x02"  # the signature of a zip central directory entry
READ_ERRORS = (
    ValueError,  # numpy: a bad magic string or header
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    RuntimeError,  # zipfile: an encrypted member
    NotImplementedError,  # zipfile: an unsupported compression method
)


class DatasetTooLarge(TaskError):
    """A data set whose arrays would inflate beyond the allowed size."""

    def __init__(self, array: str, message: str) -> None:
        super().__init__(message)
        self.array = array


@dataclass(frozen=True)
class ArrayHeader:
    """An ``.npy`` member's header: what its data will be, before any of it is inflated."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    data_offset: int  # where the data starts inside the member

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


@dataclass(frozen=True)
class Summary:
    """What an upload holds, once checked."""

    input_shape: tuple[int, int, int]
    num_classes: int
    examples: int


def load(path: str | Path, name: str | None = None, seed: int = 0) -> Task:
    """The data set at ``path`` as a task (named ``name``, else after the file)."""
    path = Path(path)
    if not path.is_file():
        raise TaskError(f"npz: the data set {path.stem} does not exist")
    with open_archive(path) as archive:
        headers = read_headers(archive)
        y = read_array(archive, headers["y"])
        check_labels(y)
        x = read_array(archive, headers["x"])
    return make_task(name or path.stem, x, y, seed=seed)


def inspect(path: str | Path, max_bytes: int) -> Summary:
    """Check an uploaded data set without holding ``x`` in memory: headers first (raises
    ``DatasetTooLarge`` above ``max_bytes`` inflated), then ``y`` whole and ``x`` chunk by chunk.
    Raises ``TaskError`` naming the problem."""
    with open_archive(Path(path)) as archive:
        headers = read_headers(archive, max_bytes)
        num_classes = check_labels(read_array(archive, headers["y"]))
        check_finite(archive, headers["x"])
    x = headers["x"].shape
    input_shape = (1, 1, x[1]) if len(x) == 2 else x[1:]
    return Summary(input_shape=input_shape, num_classes=num_classes, examples=x[0])


@contextmanager
def open_archive(path: Path) -> Iterator[zipfile.ZipFile]:
    """The ``.npz`` at ``path`` as an open zip archive; read errors become ``TaskError``."""
    if directory_entries(path) > MAX_MEMBERS:
        raise TaskError(f"holds more than {MAX_MEMBERS} zip entries; an .npz needs only x and y")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise TaskError("not a readable .npz file (a zip archive of .npy arrays)") from None
    with archive:
        try:
            yield archive
        except TaskError:
            raise
        except READ_ERRORS as error:
            raise TaskError(f"not a readable .npz file: {str(error)[:200]}") from error


def directory_entries(path: Path) -> int:
    """At most how many entries the zip's central directory lists: the count of their signature
    in the file, up to ``MAX_MEMBERS + 1``. ``zipfile`` parses every entry when it opens an
    archive (some 400 bytes and 40 us each), so a file that is all directory costs minutes and
    gigabytes."""
    count, tail = 0, b""
    with path.open("rb") as stream:
        while count <= MAX_MEMBERS and (chunk := stream.read(CHUNK_BYTES)):
            data, at = tail + chunk, -1
            while count <= MAX_MEMBERS and (at := data.find(DIRECTORY_ENTRY, at + 1)) >= 0:
                count += 1
            tail = chunk[1 - len(DIRECTORY_ENTRY) :]  # a signature may span two chunks
    return count


def read_headers(archive: zipfile.ZipFile, max_bytes: int | None = None) -> dict[str, ArrayHeader]:
    """The headers of ``x`` and ``y``, checked for what a task accepts (dtypes, ranks, lengths)
    and against the sizes the zip declares; nothing of the data is inflated. Raises
    ``DatasetTooLarge`` when the two would inflate beyond ``max_bytes`` (if given)."""
    members = set(archive.namelist())
    missing = [name for name in ARRAYS if f"{name}.npy" not in members]
    if missing:
        raise TaskError(f"lacks the array(s) {missing}")
    headers = {name: read_header(archive, name) for name in ARRAYS}
    total = sum(header.nbytes for header in headers.values())
    if max_bytes is not None and total > max_bytes:
        largest = max(headers.values(), key=lambda header: header.nbytes)
        raise DatasetTooLarge(
            largest.name,
            f"{largest.name}: {largest.shape} of {largest.dtype} inflates x and y to "
            f"{total / 2**20:.0f} MB, more than the {max_bytes / 2**20:.0f} MB a data set may hold",
        )
    check_shapes(headers["x"], headers["y"])
    for header in headers.values():
        declared = archive.getinfo(f"{header.name}.npy").file_size
        if declared != header.data_offset + header.nbytes:
            raise TaskError(
                f"{header.name}: the zip declares {declared} bytes but the .npy header "
                f"{header.shape} of {header.dtype} needs {header.data_offset + header.nbytes}"
            )
    return headers


def read_header(archive: zipfile.ZipFile, name: str) -> ArrayHeader:
    """The ``.npy`` header of member ``name``, read from the first bytes of its stream."""
    with archive.open(f"{name}.npy") as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise TaskError(f"{name}: .npy format version {version} is not supported")
        except TaskError:
            raise
        except READ_ERRORS as error:
            raise TaskError(f"{name}: not a readable .npy array: {str(error)[:200]}") from error
        if any(size < 0 for size in shape):
            raise TaskError(f"{name}: shape {shape} has a negative size")
        return ArrayHeader(name, shape, dtype, fortran_order, stream.tell())


def check_shapes(x: ArrayHeader, y: ArrayHeader) -> None:
    """Dtypes, ranks and lengths that a task accepts."""
    for header in (x, y):
        dtype = header.dtype
        if dtype.kind not in NUMERIC_KINDS or dtype.itemsize > 8:
            raise TaskError(
                f"{header.name}: dtype {dtype} is not supported; use integers or float16/32/64"
            )
    if len(x.shape) not in (2, 4):
        raise TaskError(f"x: expected N x C x H x W or N x F, got shape {x.shape}")
    if 0 in x.shape[1:]:
        raise TaskError(f"x: shape {x.shape} has an empty dimension")
    if len(y.shape) != 1:
        raise TaskError(f"y: expected a vector of N labels, got shape {y.shape}")
    if y.shape[0] != x.shape[0]:
        raise TaskError(f"y: {y.shape[0]} labels for {x.shape[0]} examples")
    if x.shape[0] < MIN_EXAMPLES:
        raise TaskError(f"x: {x.shape[0]} examples; at least {MIN_EXAMPLES} are needed")


def check_labels(y: np.ndarray) -> int:
    """The number of classes C of labels ``y``, which must be the integers 0..C-1, each class
    present, C >= 2."""
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and np.array_equal(y, np.round(y))):
        raise TaskError("y: labels must be integers")
    classes = np.unique(y)
    if classes[0] < 0:
        raise TaskError("y: labels must be >= 0")
    if len(classes) < 2:
        raise TaskError("y: a classification task needs at least 2 classes")
    if classes[-1] != len(classes) - 1:
        absent = next(c for c, label in enumerate(classes) if c != label)
        raise TaskError(
            f"y: labels must be 0..C-1 with every class present; "
            f"the largest is {classes[-1]:g} but class {absent} has no example"
        )
    return len(classes)


def check_finite(archive: zipfile.ZipFile, header: ArrayHeader) -> None:
    """Inflate ``header``'s array chunk by chunk: it must be complete and (floats) finite."""
    with archive.open(f"{header.name}.npy") as stream:
        stream.read(header.data_offset)
        for chunk in read_chunks(stream, header):
            if header.dtype.kind == "f" and not np.isfinite(chunk).all():
                raise TaskError(f"{header.name}: contains NaN or infinite values")


def read_chunks(stream: IO[bytes], header: ArrayHeader) -> Iterator[np.ndarray]:
    """The data of ``header``'s array from ``stream`` (past the header), in flat chunks."""
    itemsize = header.dtype.itemsize
    step = CHUNK_BYTES // itemsize * itemsize
    for start in range(0, header.nbytes, step):
        size = min(step, header.nbytes - start)
        data = stream.read(size)
        if len(data) != size:
            raise TaskError(f"{header.name}: the data end before the size its header declares")
        yield np.frombuffer(data, dtype=header.dtype)


def read_array(archive: zipfile.ZipFile, header: ArrayHeader) -> np.ndarray:
    """The array of ``header`` in native byte order (swapped in place, not copied)."""
    with archive.open(f"{header.name}.npy") as stream:
        array = np.lib.format.read_array(stream, allow_pickle=False)
    if not array.dtype.isnative:
        array = array.byteswap(inplace=True).view(array.dtype.newbyteorder("="))
    return array
