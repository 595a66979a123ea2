"""scikit-learn's 8x8 handwritten digits: 1 797 images, 10 classes, ships with scikit-learn."""

from sklearn.datasets import load_digits

from search.tasks.base import Task, make_task


def load(seed: int = 0) -> Task:
    x, y = load_digits(return_X_y=True)
    names = tuple(str(d) for d in range(10))
    return make_task(
        "digits", x.reshape(-1, 1, 8, 8), y, scale=1 / 16, class_names=names, seed=seed
    )
