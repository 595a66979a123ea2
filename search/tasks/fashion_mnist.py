"""Fashion-MNIST (Zalando, MIT): 60 000 + 10 000 grey 28x28 images of 10 kinds of clothing.

The four IDX files come from Debian's ``dataset-fashion-mnist`` when installed, else from the data
directory, else they are downloaded there from the publisher and checked against its md5 sums.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from search.tasks.base import Task, TaskError, data_dir, make_task, split_indices
from search.tasks.download import download_file
from search.tasks.idx import read_images, read_labels

SYSTEM_ROOT = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FOLDER = "fashion-mnist"  # under the data directory
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
MD5 = {  # of the publisher's files, from github.com/zalandoresearch/fashion-mnist
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGE_SIZE = (28, 28)
VAL_FRACTION = 0.1  # of the 60 000 training images


def _has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for name in MD5)


def find_files(
    root: str | Path | None = None,
    system_root: str | Path = SYSTEM_ROOT,
    download: bool = True,
    url: str = URL,
    md5: dict[str, str] | None = MD5,
) -> Path:
    """The folder holding the four files: ``system_root``, else ``root``'s ``fashion-mnist``
    folder, where the missing files are downloaded from ``url`` (checked against ``md5``)."""
    if _has_files(Path(system_root)):
        return Path(system_root)
    folder = data_dir(root) / FOLDER
    missing = [name for name in MD5 if not (folder / name).is_file()]
    if missing and not download:
        raise TaskError(f"fashion-mnist: {', '.join(missing)} not found (download disabled)")
    for name in missing:
        download_file(f"{url}/{name}", folder / name, None if md5 is None else md5[name])
    return folder


def _read(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_images(folder / f"{split}-images-idx3-ubyte.gz", IMAGE_SIZE)
    labels = read_labels(folder / f"{split}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise TaskError(f"fashion-mnist: {len(images)} {split} images but {len(labels)} labels")
    return images, labels


def load(
    root: str | Path | None = None,
    system_root: str | Path = SYSTEM_ROOT,
    download: bool = True,
    url: str = URL,
    md5: dict[str, str] | None = MD5,
    seed: int = 0,
) -> Task:
    """Fashion-MNIST: the 10 000 t10k images are the test split; the validation split is a
    seeded tenth of the 60 000 training images."""
    folder = find_files(root, system_root, download, url, md5)
    train_x, train_y = _read(folder, "train")
    test_x, test_y = _read(folder, "t10k")
    x = np.concatenate([train_x, test_x])[:, None]  # N x 1 x 28 x 28
    y = np.concatenate([train_y, test_y])
    n_train = len(train_x)
    train_index, val_index = split_indices(n_train, (1 - VAL_FRACTION, VAL_FRACTION), seed)
    test_index = torch.arange(n_train, len(x))
    return make_task(
        "fashion-mnist",
        x,
        y,
        scale=1 / 255,
        class_names=CLASSES,
        num_classes=len(CLASSES),
        splits=(train_index, val_index, test_index),
    )
