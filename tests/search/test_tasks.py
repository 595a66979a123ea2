"""Each task loads from small files made here; bad data is refused with a clear error."""

import hashlib
import pickle
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from search.tasks import BUILTIN_TASKS, TaskError, cifar10, kws, load_npz_task, load_task


def test_digits_splits_are_fixed_and_normalized():
    task = load_task("digits")
    assert task.input_shape == (1, 8, 8) and task.num_classes == 10
    assert (len(task.train), len(task.val), len(task.test)) == (1258, 269, 270)
    again = load_task("digits")
    assert torch.equal(task.test.y, again.test.y)
    assert not torch.equal(task.test.y, load_task("digits", seed=1).test.y)
    x = torch.cat([x for x, _ in task.batches("train", 500)])
    assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-2


def test_unknown_task_is_refused():
    with pytest.raises(TaskError, match="unknown task 'mnist'"):
        load_task("mnist")
    assert set(BUILTIN_TASKS) == {"digits", "fashion-mnist", "cifar10", "kws", "vww"}


# --- CIFAR-10 -------------------------------------------------------------------------------------
def _write_cifar(folder: Path, per_batch: int = 6) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar10_from_pickle_batches(tmp_path):
    _write_cifar(tmp_path / cifar10.FOLDER)
    task = load_task("cifar10", root=tmp_path, download=False)
    assert task.input_shape == (3, 32, 32) and task.num_classes == 10
    assert len(task.test) == 6 and len(task.train) + len(task.val) == 30
    assert task.train.x.dtype == torch.uint8
    assert task.class_names[0] == "airplane"


def test_cifar10_missing_or_malformed(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        load_task("cifar10", root=tmp_path, download=False)
    _write_cifar(tmp_path / cifar10.FOLDER)
    (tmp_path / cifar10.FOLDER / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(TaskError, match="data_batch_3"):
        load_task("cifar10", root=tmp_path, download=False)


def test_cifar10_downloads_when_absent(tmp_path, http_folder):
    served, base_url = http_folder
    _write_cifar(tmp_path / "source" / cifar10.FOLDER)
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "source" / cifar10.FOLDER, arcname=cifar10.FOLDER)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    url = f"{base_url}/cifar-10-python.tar.gz"
    with pytest.raises(TaskError, match="md5"):
        load_task("cifar10", root=tmp_path / "wrong", url=url, md5="0" * 32)
    task = load_task("cifar10", root=tmp_path / "data", url=url, md5=md5)
    assert len(task.test) == 6
    with pytest.raises(TaskError, match="could not fetch"):
        load_task("cifar10", root=tmp_path / "missing", url=f"{base_url}/nothing.tar.gz")


# --- keyword spotting ---------------------------------------------------------------------------
def _write_wav(path: Path, samples: np.ndarray, rate: int = 16000, width: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(width)
        file.setframerate(rate)
        dtype = "<i2" if width == 2 else np.uint8
        file.writeframes((samples * (32767 if width == 2 else 127)).astype(dtype).tobytes())


def _write_speech(folder: Path) -> None:
    rng = np.random.default_rng(0)
    validation, testing = [], []
    for word in ("yes", "no", "left", "bed", "tree"):
        for speaker in range(4):
            name = f"{word}/spk{speaker}_nohash_0.wav"
            tone = np.sin(np.arange(16000) * (0.05 + 0.01 * len(word))) * 0.5
            _write_wav(folder / name, tone[: 12000 + 1000 * speaker] + 0.01 * rng.normal(size=1))
            (validation if speaker == 2 else testing if speaker == 3 else []).append(name)
    _write_wav(folder / kws.BACKGROUND / "noise.wav", 0.1 * rng.standard_normal(48000))
    (folder / "validation_list.txt").write_text("\n".join(validation))
    (folder / "testing_list.txt").write_text("\n".join(testing))


def test_kws_from_wav_files(tmp_path):
    folder = tmp_path / kws.FOLDER
    _write_speech(folder)
    task = load_task("kws", root=tmp_path, download=False)
    assert task.input_shape == (1, 49, 10) and task.num_classes == 12
    assert task.class_names[:2] == ("silence", "unknown")
    labels = set(task.train.y.tolist())
    assert {0, 1, kws.CLASSES.index("yes"), kws.CLASSES.index("left")} <= labels
    assert len(task.val) and len(task.test)
    assert list(folder.glob(".xbarnas-kws-*.pt"))  # features are cached
    again = load_task("kws", root=tmp_path, download=False)
    assert torch.equal(again.train.x, task.train.x)


def test_mfcc_shape_of_one_second():
    from search.tasks.audio import mfcc

    features = mfcc(torch.randn(3, 16000) * 0.1)
    assert features.shape == (3, 49, 10) and torch.isfinite(features).all()


def test_kws_refuses_bad_audio(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        load_task("kws", root=tmp_path, download=False)
    folder = tmp_path / kws.FOLDER
    _write_wav(folder / "yes" / "a_nohash_0.wav", np.zeros(16000), rate=8000)
    with pytest.raises(TaskError, match="8000 Hz"):
        load_task("kws", root=tmp_path, download=False)
    (folder / "yes" / "a_nohash_0.wav").unlink()
    _write_wav(folder / "yes" / "b_nohash_0.wav", np.zeros(16000), width=1)
    with pytest.raises(TaskError, match="16-bit"):
        load_task("kws", root=tmp_path, download=False)


# --- visual wake words ---------------------------------------------------------------------------
def _write_images(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for label in ("non_person", "person"):
        (folder / label).mkdir(parents=True)
        for i in range(6):
            size = (40 + 3 * i, 30 + 5 * i)
            pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / label / f"{i}.png")


def test_vww_from_image_folders(tmp_path):
    _write_images(tmp_path / "vww")
    task = load_task("vww", root=tmp_path / "vww", resolution=24)
    assert task.input_shape == (3, 24, 24) and task.num_classes == 2
    assert task.class_names == ("non_person", "person")
    assert len(task.train) + len(task.val) + len(task.test) == 12


def test_vww_refuses_bad_folders(tmp_path):
    with pytest.raises(TaskError, match="does not exist"):
        load_task("vww", root=tmp_path / "none")
    (tmp_path / "one" / "person").mkdir(parents=True)
    with pytest.raises(TaskError, match="one sub-folder per class"):
        load_task("vww", root=tmp_path / "one")
    _write_images(tmp_path / "bad")
    (tmp_path / "bad" / "person" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(TaskError, match=r"broken\.png"):
        load_task("vww", root=tmp_path / "bad")


# --- uploaded npz ---------------------------------------------------------------------------------
def test_npz_images_and_features_become_tasks(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "images.npz", x=rng.random((30, 2, 5, 5)), y=rng.integers(0, 3, 30))
    task = load_npz_task(tmp_path / "images.npz")
    assert task.name == "images" and task.input_shape == (2, 5, 5) and task.num_classes <= 3
    np.savez(tmp_path / "features.npz", x=rng.random((20, 7)), y=np.arange(20) % 2)
    features = load_npz_task(tmp_path / "features.npz", name="sensors")
    assert features.name == "sensors" and features.input_shape == (1, 1, 7)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((10, 3, 4)), "y": np.zeros(10)}, "x: expected N x C x H x W or N x F"),
        ({"x": np.zeros((10, 4)), "y": np.zeros(9)}, "y: 9 labels for 10 examples"),
        ({"x": np.zeros((10, 4)), "y": np.full(10, 0.5)}, "y: labels must be integers"),
        ({"x": np.zeros((10, 4)), "y": np.zeros((10, 2))}, "y: expected a vector"),
        ({"x": np.zeros((10, 4)), "y": -np.ones(10)}, "y: labels must be >= 0"),
        ({"x": np.zeros((10, 4)), "y": np.zeros(10)}, "at least 2 classes"),
        ({"x": np.full((10, 4), np.nan), "y": np.arange(10) % 2}, "NaN"),
        ({"x": np.zeros((10, 4))}, r"lacks the array\(s\) \['y'\]"),
    ],
)
def test_npz_with_bad_arrays_is_refused(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(TaskError, match=message):
        load_npz_task(tmp_path / "bad.npz")


def test_npz_that_is_not_npz(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"hello")
    with pytest.raises(TaskError, match=r"not a readable \.npz"):
        load_npz_task(tmp_path / "junk.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(TaskError, match=r"not a readable \.npz"):
        load_npz_task(tmp_path / "empty.npz")
    with pytest.raises(TaskError, match="does not exist"):
        load_npz_task(tmp_path / "none.npz")
