"""Fashion-MNIST: the IDX reader, where the files come from, the split, and prepared batches."""

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from search.tasks import TaskError, fashion_mnist, load_task
from search.tasks.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, read_images, read_labels

TRAIN, TEST = 40, 12  # examples in the small files written here


def _idx(array: np.ndarray, element_type: int = 0x08) -> bytes:
    header = bytes([0, 0, element_type, array.ndim])
    return header + np.asarray(array.shape, ">u4").tobytes() + array.astype(np.uint8).tobytes()


def _write(path: Path, content: bytes, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def _write_fashion(folder: Path, shift: int = 0) -> None:
    """The four files with TRAIN / TEST images; pixel 0 of image i holds (i + shift) % 256, and
    the label is i % 10 (training) or (i + 3) % 10 (test)."""
    for split, n, offset in (("train", TRAIN, 0), ("t10k", TEST, 3)):
        images = np.zeros((n, 28, 28), np.uint8)
        images[:, 0, 0] = (np.arange(n) + shift) % 256
        images[:, 5:20, 10] = np.arange(n)[:, None] * 5
        _write(folder / f"{split}-images-idx3-ubyte.gz", _idx(images))
        _write(folder / f"{split}-labels-idx1-ubyte.gz", _idx((np.arange(n) + offset) % 10))


# --- the IDX reader ------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False])
def test_idx_reads_images_and_labels(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    image_file = _write(tmp_path / "images.idx", _idx(images), compress)
    label_file = _write(tmp_path / "labels.idx", _idx(labels), compress)
    read = read_images(image_file, (28, 28))
    assert read.dtype == np.uint8 and np.array_equal(read, images)
    assert np.array_equal(read_labels(label_file), labels)


def _good_labels() -> bytes:
    return _idx(np.arange(5))


@pytest.mark.parametrize(
    ("content", "magic", "message"),
    [
        (b"\x12\x34" + _good_labels()[2:], LABELS_MAGIC, "not an IDX file"),
        (_idx(np.arange(5), element_type=0x0D), LABELS_MAGIC, "element type 0x0d"),
        (_good_labels()[:-1], LABELS_MAGIC, "truncated"),
        (_good_labels()[:6], LABELS_MAGIC, "truncated header"),
        (_good_labels() + b"\x00\x00", LABELS_MAGIC, "2 bytes after"),
        (_idx(np.zeros((2, 3, 4))), LABELS_MAGIC, "3 dimensions, expected 1"),
        (_good_labels(), IMAGES_MAGIC, "1 dimensions, expected 3"),
        (b"\x00\x00", LABELS_MAGIC, "too short"),
    ],
)
def test_idx_refuses_malformed_files_by_name(tmp_path, content, magic, message):
    path = _write(tmp_path / "deep" / "bad-idx1-ubyte.gz", content)
    with pytest.raises(TaskError, match=message) as error:
        read_idx(path, magic)
    assert str(error.value).startswith("bad-idx1-ubyte.gz: ")
    assert str(tmp_path) not in str(error.value)


def test_idx_refuses_wrong_image_size_and_broken_gzip(tmp_path):
    path = _write(tmp_path / "small-images", _idx(np.zeros((3, 8, 8))))
    with pytest.raises(TaskError, match="small-images: images are 8x8, expected 28x28"):
        read_images(path, (28, 28))
    broken = _write(tmp_path / "broken.gz", gzip.compress(_good_labels())[:-12], compress=False)
    with pytest.raises(TaskError, match=r"broken\.gz: cannot be read or decompressed"):
        read_labels(broken)
    with pytest.raises(TaskError, match=r"absent\.gz: file does not exist"):
        read_labels(tmp_path / "absent.gz")


# --- where the files come from -------------------------------------------------------------------
def test_system_files_take_precedence_over_the_data_directory(tmp_path):
    _write_fashion(tmp_path / "system", shift=100)
    _write_fashion(tmp_path / "data" / fashion_mnist.FOLDER, shift=0)
    options = {"root": tmp_path / "data", "download": False}
    task = load_task("fashion-mnist", system_root=tmp_path / "system", **options)
    assert int(task.test.x[0, 0, 0, 0]) == 100 + 0
    task = load_task("fashion-mnist", system_root=tmp_path / "none", **options)
    assert int(task.test.x[0, 0, 0, 0]) == 0
    (tmp_path / "data" / fashion_mnist.FOLDER / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(TaskError, match=r"t10k-labels-idx1-ubyte\.gz not found"):
        load_task("fashion-mnist", system_root=tmp_path / "none", **options)


def test_mismatched_image_and_label_counts_are_refused(tmp_path):
    _write_fashion(tmp_path)
    _write(tmp_path / "t10k-labels-idx1-ubyte.gz", _idx(np.arange(TEST - 1) % 10))
    with pytest.raises(TaskError, match="12 t10k images but 11 labels"):
        fashion_mnist.load(system_root=tmp_path)


def test_download_checks_md5_and_keeps_no_corrupt_file(tmp_path, http_folder):
    served, url = http_folder
    _write_fashion(served)
    md5 = {
        name: hashlib.md5((served / name).read_bytes()).hexdigest() for name in fashion_mnist.MD5
    }
    wrong = {**md5, "train-labels-idx1-ubyte.gz": "0" * 32}
    data, system = tmp_path / "data", tmp_path / "none"
    with pytest.raises(TaskError, match=r"train-labels-idx1-ubyte\.gz has md5"):
        load_task("fashion-mnist", root=data, system_root=system, url=url, md5=wrong)
    folder = data / fashion_mnist.FOLDER
    assert os.listdir(folder) == ["train-images-idx3-ubyte.gz"]  # no corrupt or partial file
    task = load_task("fashion-mnist", root=data, system_root=system, url=url, md5=md5)
    assert (len(task.train) + len(task.val), len(task.test)) == (TRAIN, TEST)
    assert sorted(os.listdir(folder)) == sorted(fashion_mnist.MD5)
    with pytest.raises(TaskError, match="could not fetch"):
        load_task("fashion-mnist", root=tmp_path / "other", system_root=system, url=f"{url}/none")


def test_the_service_accepts_the_task():
    from service.schemas import JobCreate

    assert JobCreate.model_validate({"task": "fashion-mnist"}).task == "fashion-mnist"


# --- the split and prepared batches -----------------------------------------------------------
@pytest.fixture
def small_task(tmp_path):
    _write_fashion(tmp_path)
    return fashion_mnist.load(system_root=tmp_path, seed=0)


def test_split_tests_on_t10k_and_carves_validation_with_the_seed(tmp_path, small_task):
    assert small_task.input_shape == (1, 28, 28) and small_task.num_classes == 10
    assert small_task.class_names[0] == "T-shirt/top" and small_task.class_names[9] == "Ankle boot"
    assert small_task.train.x.dtype == torch.uint8
    assert torch.equal(small_task.test.x[:, 0, 0, 0], torch.arange(TEST, dtype=torch.uint8))
    assert torch.equal(small_task.test.y, (torch.arange(TEST) + 3) % 10)
    assert (len(small_task.train), len(small_task.val)) == (36, 4)
    train_ids = small_task.train.x[:, 0, 0, 0].tolist()
    val_ids = small_task.val.x[:, 0, 0, 0].tolist()
    assert sorted(train_ids + val_ids) == list(range(TRAIN))
    assert small_task.val.y.tolist() == [i % 10 for i in val_ids]  # labels follow their images
    again = fashion_mnist.load(system_root=tmp_path, seed=0)
    assert torch.equal(again.val.x, small_task.val.x)
    other = fashion_mnist.load(system_root=tmp_path, seed=1)
    assert not torch.equal(other.val.x, small_task.val.x)


def test_prepared_split_is_prepared_once_and_equals_prepare(small_task):
    x, y = small_task.prepared("train")
    assert torch.equal(x, small_task.prepare(small_task.train.x))
    assert torch.equal(y, small_task.train.y)
    assert small_task.prepared("train")[0] is x  # reused, not prepared again
    batches = list(small_task.batches("train", 8))
    assert torch.equal(torch.cat([b for b, _ in batches]), x)


def test_shuffled_batches_cover_every_example_once(small_task):
    x, y = small_task.prepared("train")
    epoch = list(small_task.batches("train", 5, shuffle=True, seed=7))
    assert [len(b) for b, _ in epoch] == [5] * 7 + [1]
    seen = torch.cat([b for b, _ in epoch])
    ids = seen[:, 0, 0, 0]
    assert len(set(ids.tolist())) == len(y)  # each example once (pixel 0 tells them apart)
    order = torch.cat([x[:, 0, 0, 0].eq(i).nonzero()[0] for i in ids])
    assert torch.equal(torch.cat([labels for _, labels in epoch]), y[order])
    again = torch.cat([b for b, _ in small_task.batches("train", 5, shuffle=True, seed=7)])
    assert torch.equal(again, seen)
    other = torch.cat([b for b, _ in small_task.batches("train", 5, shuffle=True, seed=8)])
    assert not torch.equal(other, seen)
    limited = list(small_task.batches("train", 5, shuffle=True, seed=7, limit=12))
    assert torch.equal(torch.cat([b for b, _ in limited]), seen[:12])


# --- the real files --------------------------------------------------------------------------
@pytest.mark.skipif(
    not fashion_mnist.SYSTEM_ROOT.is_dir() and os.environ.get("CI") != "true",
    reason=f"Debian's dataset-fashion-mnist is not installed at {fashion_mnist.SYSTEM_ROOT}",
)
def test_real_files_from_debian():
    task = fashion_mnist.load(download=False)
    assert (len(task.train) + len(task.val), len(task.test)) == (60_000, 10_000)
    assert task.train.x.shape[1:] == (1, 28, 28) and task.train.x.dtype == torch.uint8
    assert torch.bincount(task.test.y, minlength=10).tolist() == [1000] * 10
