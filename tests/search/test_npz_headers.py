"""Uploaded .npz data sets are checked from their .npy headers before any array is inflated."""

import io
import time
import zipfile
import zlib

import numpy as np
import pytest
import torch

from search.tasks import TaskError, load_npz_task
from search.tasks import npz as npz_module
from search.tasks.npz import DatasetTooLarge, inspect, open_archive, read_headers
from tests.search.bombs import crc32_zeros, write_npz

GB = 2**30
X = np.zeros((20, 4), dtype=np.float32)
LABELS = np.arange(20) % 2


def test_bombs_are_valid_npz_files(tmp_path):
    """What the bomb tests rely on: a CRC-32 of zeros without the zeros, and an archive that
    numpy reads back whole with its CRC checked."""
    for n in (0, 1, 1000, 2**20 + 7):
        assert crc32_zeros(n, 12345) == zlib.crc32(bytes(n), 12345)
    write_npz(tmp_path / "small.npz", {"x": ((300, 3, 33, 40), "float32"), "y": LABELS})
    with np.load(tmp_path / "small.npz") as archive:
        assert archive["x"].shape == (300, 3, 33, 40) and not archive["x"].any()
        assert np.array_equal(archive["y"], LABELS)


@pytest.mark.parametrize("inflated_gb", [6, 40])
def test_a_zip_bomb_is_refused_from_its_headers_alone(tmp_path, inflated_gb):
    n = inflated_gb * GB // (32 * 32 * 4)
    size = write_npz(tmp_path / "bomb.npz", {"x": ((n, 1, 32, 32), "float32"), "y": ((n,), "int8")})
    assert size < inflated_gb * 2**20 * 1.1  # a thousandfold
    start = time.perf_counter()
    with pytest.raises(DatasetTooLarge, match=r"^x: \(\d+, 1, 32, 32\) of float32") as error:
        inspect(tmp_path / "bomb.npz", max_bytes=2 * GB)
    assert time.perf_counter() - start < 1.0
    assert error.value.array == "x" and "the 2048 MB a data set may hold" in str(error.value)


def test_the_array_too_large_is_named(tmp_path):
    write_npz(tmp_path / "bomb.npz", {"x": ((10, 4), "float32"), "y": ((3 * GB,), "int8")})
    with pytest.raises(DatasetTooLarge) as error:
        inspect(tmp_path / "bomb.npz", max_bytes=2 * GB)
    assert error.value.array == "y" and str(error.value).startswith("y: (3221225472,) of int8")


def test_headers_give_shapes_dtypes_and_data_offsets_without_the_data(tmp_path):
    x = np.asfortranarray(np.ones((20, 2, 3, 4), dtype=">f4"))
    np.savez_compressed(tmp_path / "data.npz", x=x, y=LABELS, notes=np.zeros(3))
    with open_archive(tmp_path / "data.npz") as archive:
        headers = read_headers(archive)
    assert set(headers) == {"x", "y"}  # other members are ignored
    assert headers["x"].shape == (20, 2, 3, 4) and headers["x"].dtype == np.dtype(">f4")
    assert headers["x"].fortran_order and headers["x"].nbytes == x.nbytes
    assert headers["x"].data_offset % 64 == 0  # .npy pads its header to 64 bytes
    summary = inspect(tmp_path / "data.npz", max_bytes=GB)
    assert (summary.input_shape, summary.num_classes, summary.examples) == ((2, 3, 4), 2, 20)
    task = load_npz_task(tmp_path / "data.npz")  # big-endian, Fortran order: loaded as they are
    assert bool((task.train.x == 1).all()) and task.input_shape == (2, 3, 4)


@pytest.mark.parametrize("dtype", ["u1", "u2", "u8", "i1", "i8", "f2", "f8", ">f4", ">i2"])
def test_every_accepted_dtype_loads_as_a_task(tmp_path, dtype):
    np.savez(tmp_path / "data.npz", x=np.arange(80).reshape(20, 4).astype(dtype), y=LABELS)
    assert inspect(tmp_path / "data.npz", max_bytes=GB).num_classes == 2
    inputs, labels = next(load_npz_task(tmp_path / "data.npz").batches("train", 4))
    assert inputs.dtype == torch.float32 and labels.dtype == torch.int64
    assert bool(torch.isfinite(inputs).all())


MALFORMED = [  # arrays of an .npz and what the refusal says
    ({"x": X}, r"^lacks the array\(s\) \['y'\]"),
    ({"x": np.full((20, 4), None), "y": LABELS}, "^x: dtype object is not supported"),
    ({"x": X.astype(complex), "y": LABELS}, "^x: dtype complex128 is not supported"),
    ({"x": X.astype(bool), "y": LABELS}, "^x: dtype bool is not supported"),
    ({"x": X.astype(np.longdouble), "y": LABELS}, "^x: dtype float128 is not supported"),
    ({"x": X, "y": LABELS.astype(str)}, "^y: dtype <U21 is not supported"),
    ({"x": np.zeros(20, dtype="f4,f4"), "y": LABELS}, r"^x: dtype \[.*is not supported"),
    ({"x": np.zeros((20, 2, 2)), "y": LABELS}, "^x: expected N x C x H x W or N x F"),
    ({"x": np.zeros((20, 0)), "y": LABELS}, r"^x: shape \(20, 0\) has an empty dimension"),
    ({"x": X, "y": LABELS[:, None]}, "^y: expected a vector of N labels"),
    ({"x": X, "y": LABELS[:19]}, "^y: 19 labels for 20 examples"),
    ({"x": X[:5], "y": LABELS[:5]}, "^x: 5 examples; at least 10 are needed"),
    ({"x": np.full((20, 4), np.nan), "y": LABELS}, "^x: contains NaN or infinite values"),
    ({"x": X, "y": LABELS + 0.5}, "^y: labels must be integers"),
    ({"x": X, "y": np.where(LABELS, np.nan, 0)}, "^y: labels must be integers"),
    ({"x": X, "y": LABELS - 1}, "^y: labels must be >= 0"),
    ({"x": X, "y": np.ones(20)}, "^y: a classification task needs at least 2 classes"),
    ({"x": X, "y": LABELS * 2}, "^y: labels must be 0..C-1 .* class 1 has no example"),
    ({"x": X, "y": LABELS * 10**9}, "^y: .* the largest is 1e[+]09 but class 1 has no example"),
]


@pytest.mark.parametrize(("arrays", "message"), MALFORMED)
def test_malformed_arrays_are_refused_naming_the_problem(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(TaskError, match=message):
        inspect(tmp_path / "bad.npz", max_bytes=GB)
    with pytest.raises(TaskError, match=message):
        load_npz_task(tmp_path / "bad.npz")


def test_a_bad_value_past_the_first_chunk_is_found(tmp_path, monkeypatch):
    monkeypatch.setattr(npz_module, "CHUNK_BYTES", 64)
    x = np.zeros((40, 4), dtype=np.float32)
    x[-1, -1] = np.inf
    np.savez_compressed(tmp_path / "late.npz", x=x, y=np.arange(40) % 2)
    with pytest.raises(TaskError, match=r"^x: contains NaN or infinite values"):
        inspect(tmp_path / "late.npz", max_bytes=GB)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_member_whose_zip_size_disagrees_with_its_header_is_refused(tmp_path):
    """The header promises 20 x 4 floats; the zip says the member holds 8 bytes of them."""
    _zip(tmp_path / "short.npz", {"x.npy": _npy(X)[: -X.nbytes + 8], "y.npy": _npy(LABELS)})
    with pytest.raises(TaskError, match=r"^x: the zip declares 136 bytes but the \.npy header"):
        inspect(tmp_path / "short.npz", max_bytes=GB)


def test_unreadable_members_and_archives_are_refused(tmp_path):
    version_3 = _npy(X)
    version_3 = version_3[:6] + b"\x03\x00" + version_3[8:]
    cases = {
        "magic.npz": ({"x.npy": b"hello", "y.npy": _npy(LABELS)}, "^x: not a readable .npy"),
        "v3.npz": ({"x.npy": version_3, "y.npy": _npy(LABELS)}, r"^x: .npy format version \(3"),
        "many.npz": (
            {f"{i}.npy": b"" for i in range(65)},
            "^holds more than 64 zip entries; an .npz needs only x and y",
        ),
    }
    for name, (members, message) in cases.items():
        _zip(tmp_path / name, members)
        with pytest.raises(TaskError, match=message):
            inspect(tmp_path / name, max_bytes=GB)
    for junk in (b"", b"hello", b"PK\x03\x04" + bytes(100)):
        (tmp_path / "junk.npz").write_bytes(junk)
        with pytest.raises(TaskError, match=r"^not a readable \.npz file"):
            inspect(tmp_path / "junk.npz", max_bytes=GB)
    (tmp_path / "empty.npz").write_bytes(b"PK\x05\x06" + bytes(18))  # a zip of nothing
    with pytest.raises(TaskError, match=r"^lacks the array\(s\) \['x', 'y'\]"):
        inspect(tmp_path / "empty.npz", max_bytes=GB)


def test_corrupt_and_encrypted_members_are_refused(tmp_path):
    x = np.random.default_rng(0).random((2000, 4))
    np.savez_compressed(tmp_path / "data.npz", x=x, y=np.arange(2000) % 2)
    content = bytearray((tmp_path / "data.npz").read_bytes())
    corrupt = content.copy()
    corrupt[len(content) // 4 : len(content) // 4 + 64] = bytes(64)  # inside x's deflate stream
    (tmp_path / "corrupt.npz").write_bytes(corrupt)
    with pytest.raises(TaskError, match=r"^not a readable \.npz file: "):
        inspect(tmp_path / "corrupt.npz", max_bytes=GB)
    encrypted = content.copy()
    for at in (0, content.find(b"PK\x01\x02")):  # x's local and central headers
        encrypted[at + (6 if at == 0 else 8)] |= 1  # flag bit 0: encrypted
    (tmp_path / "encrypted.npz").write_bytes(encrypted)
    with pytest.raises(TaskError, match="is encrypted"):
        inspect(tmp_path / "encrypted.npz", max_bytes=GB)


def test_messages_never_show_the_server_path(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"hello")
    messages = []
    for path in (tmp_path / "dataset-gone.npz", tmp_path / "junk.npz"):
        with pytest.raises(TaskError) as error:
            load_npz_task(path)
        messages.append(str(error.value))
    assert messages[0] == "npz: the data set dataset-gone does not exist"
    assert not any(str(tmp_path) in message or "/" in message for message in messages)
