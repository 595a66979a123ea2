"""Zip bombs for tests, built without allocating them: ``.npz`` files whose ``.npy`` members are
zeros. Zeros deflate about 1000-fold, so a 6 GB array is a 6 MB file; it is written as one
deflated megabyte of zeros repeated (each piece ends with a full flush, so none refers back to
another), with the member's sizes and CRC-32 computed rather than inflated. The result is a
valid zip64 archive: ``np.load`` reads it back, CRC included, given the memory.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

SEGMENT = 2**20  # zeros per repeated deflate piece
MASK = 0xFFFFFFFF
ZIP64_VERSION = 45
DEFLATED = 8
DOS_DATE = 0x21  # 1980-01-01
Zeros = tuple[tuple[int, ...], str]  # the shape and dtype of an array of zeros


def crc32_zeros(n: int, crc: int = 0) -> int:
    """``zlib.crc32(bytes(n), crc)`` without the bytes: the CRC register's step over a zero byte
    is linear, so ``n`` steps are a matrix power over GF(2) (as in zlib's ``crc32_combine``)."""
    step = [~zlib.crc32(b"\0", ~(1 << bit) & MASK) & MASK for bit in range(32)]
    register = ~crc & MASK
    while n:
        if n & 1:
            register = _apply(step, register)
        step = [_apply(step, column) for column in step]
        n >>= 1
    return ~register & MASK


def _apply(matrix: list[int], vector: int) -> int:
    result = 0
    for column in matrix:
        if vector & 1:
            result ^= column
        vector >>= 1
    return result


def npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buffer = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _piece(data: bytes) -> bytes:
    """``data`` deflated on its own, ending on a byte boundary (a full flush)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def _member(array: np.ndarray | Zeros) -> tuple[list[bytes], int, int]:
    """A member's raw deflate pieces, inflated size and CRC-32."""
    if isinstance(array, np.ndarray):
        buffer = io.BytesIO()
        np.save(buffer, array)
        prefix, zeros = buffer.getvalue(), 0
    else:
        shape, dtype = array
        prefix, zeros = npy_header(shape, dtype), math.prod(shape) * np.dtype(dtype).itemsize
    repeats, rest = divmod(zeros, SEGMENT)
    pieces = [_piece(prefix)] + [_piece(bytes(SEGMENT))] * repeats + [_piece(bytes(rest))]
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    return [*pieces, final], len(prefix) + zeros, crc32_zeros(zeros, zlib.crc32(prefix))


def write_npz(path: Path, arrays: dict[str, np.ndarray | Zeros]) -> int:
    """An ``.npz`` at ``path`` of ``arrays`` (name -> an array, or the shape and dtype of one that
    holds zeros), deflated, zip64; its size in bytes."""
    central = []
    with path.open("wb") as out:
        for name, array in arrays.items():
            filename = f"{name}.npy".encode()
            pieces, size, crc = _member(array)
            sizes = struct.pack("<HHQQ", 1, 16, size, sum(map(len, pieces)))
            common = (DEFLATED, 0, DOS_DATE, crc, MASK, MASK, len(filename), len(sizes))
            central.append(
                struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, ZIP64_VERSION, ZIP64_VERSION, 0,
                            *common, 0, 0, 0, 0, out.tell())
                + filename
                + sizes
            )  # fmt: skip
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, ZIP64_VERSION, 0, *common))
            out.write(filename + sizes)
            for piece in pieces:
                out.write(piece)
        directory = b"".join(central)
        start = out.tell()
        out.write(directory)
        n = len(central)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(directory), start, 0))
        return out.tell()
