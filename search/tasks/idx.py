"""Read IDX files (the MNIST format), plain or gzip-compressed, validating every header field.

An IDX file holds a 4-byte magic number (two zero bytes, an element-type code, the number of
dimensions), one big-endian uint32 per dimension, then exactly the elements, row-major.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from search.tasks.base import TaskError

IMAGES_MAGIC = 0x00000803  # unsigned bytes (0x08), 3 dimensions: N x rows x columns
LABELS_MAGIC = 0x00000801  # unsigned bytes (0x08), 1 dimension: N
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it is gzip (recognised by its magic bytes)."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == GZIP_MAGIC else data
    except FileNotFoundError:
        raise TaskError(f"{path.name}: file does not exist") from None
    except (OSError, EOFError, zlib.error) as error:
        reason = getattr(error, "strerror", None) or error  # strerror: without the full path
        raise TaskError(f"{path.name}: cannot be read or decompressed: {reason}") from error


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """The unsigned-byte array in the IDX file at ``path`` whose magic number must be ``magic``.

    The array is a read-only view of the file's bytes (no per-element work). Errors name the file
    by its name only.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise TaskError(f"{path.name}: too short for an IDX header ({len(data)} bytes)")
    zeros, element_type, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zeros != 0:
        raise TaskError(f"{path.name}: not an IDX file (magic {data[:4].hex()})")
    if element_type != magic >> 8:
        raise TaskError(
            f"{path.name}: element type 0x{element_type:02x} is not unsigned bytes (0x08)"
        )
    expected_ndim = magic & 0xFF
    if ndim != expected_ndim:
        raise TaskError(f"{path.name}: {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise TaskError(f"{path.name}: truncated header ({len(data)} of {header} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) < expected:
        raise TaskError(
            f"{path.name}: truncated: header {shape} needs {expected} bytes, file has {len(data)}"
        )
    if len(data) > expected:
        raise TaskError(
            f"{path.name}: {len(data) - expected} bytes after the {shape} elements of the header"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_images(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """N x rows x columns uint8 images; each image must be ``size`` (rows, columns)."""
    images = read_idx(path, IMAGES_MAGIC)
    if images.shape[1:] != size:
        raise TaskError(
            f"{Path(path).name}: images are {images.shape[1]}x{images.shape[2]}, "
            f"expected {size[0]}x{size[1]}"
        )
    return images


def read_labels(path: str | Path) -> np.ndarray:
    """N uint8 labels."""
    return read_idx(path, LABELS_MAGIC)
