"""Random-feature classifiers with the random projection on PCM tiles, from 1 s to 1 year.

Run: nice -n 10 .venv/bin/python bench/random_features.py [--chips 5] [--features 2048] [--quick]

Data: ``digits`` and ``fashion-mnist`` (search.tasks; Fashion-MNIST: the first 10 000 training and
2 000 test images, 784 pixels reduced to 100 principal components fitted on the training images),
and scikit-learn's breast cancer (569 x 30) and wine (178 x 13) tables (standardized, a stratified
quarter held out). Kernels: RBF with gamma = 1 / (d var(x)) (scikit-learn's "scale") and the
order-1 arc-cosine (ReLU) kernel, D = ``--features`` random features
(``simulator.RandomFeatures``, 512x512 tiles, DAC ranges calibrated on the training inputs).

Readout: ridge regression on one-hot labels (its alpha chosen on a validation fifth of the
training set with the digital features), so that the exact counterpart is kernel ridge regression
with the same alpha ("exact"). Rows, mean +- std over ``--chips`` programmed chips:
- "digital readout": fitted on the digital features (W as drawn), applied to each chip's features;
- "chip readout": fitted on each chip's own training features 1 s after programming, then used at
  every later time (programming noise only changes which W the chip holds);
- "chip readout, devices only": the same with exact converters and no output noise.

Claims, per line: "under 1 % accuracy drop" (Buchel et al., Nature Machine Intelligence 2024:
analog kernel approximation on IBM's HERMES PCM chip): the chips' mean accuracy at every time is
at most 1 percentage point below the digital random features'; "the noise of the programmed
random matrix is harmless": the chip readout keeps that at 1 s. Takes about 4 minutes on 2 busy
cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from torch import Tensor

from search.tasks import load_task
from simulator import (
    DEFAULT_TIMES,
    HardwareConfig,
    RandomFeatures,
    calibrate_input_ranges,
    drift,
    program,
)

ALPHAS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
EXACT_PERIPHERY = {"out_noise": 0.0, "dac_bits": None, "adc_bits": None, "out_bound": None}
TIME_LABELS = ("1 s", "1 h", "1 d", "1 mo", "1 y")
DROP = 0.01


def task_arrays(name: str, train_limit: int, test_limit: int) -> tuple[np.ndarray, ...]:
    task = load_task(name)
    x_train = task.prepare(task.train.x[:train_limit]).flatten(1).numpy()
    x_test = task.prepare(task.test.x[:test_limit]).flatten(1).numpy()
    return x_train, task.train.y[:train_limit].numpy(), x_test, task.test.y[:test_limit].numpy()


def table_arrays(loader) -> tuple[np.ndarray, ...]:
    x, y = loader(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=0
    )
    mean, std = x_train.mean(0), x_train.std(0) + 1e-12
    return (x_train - mean) / std, y_train, (x_test - mean) / std, y_test


def datasets(quick: bool) -> dict[str, tuple[np.ndarray, ...]]:
    sets = {
        "digits": task_arrays("digits", 10**6, 10**6),
        "breast cancer": table_arrays(load_breast_cancer),
        "wine": table_arrays(load_wine),
    }
    if not quick:
        x_train, y_train, x_test, y_test = task_arrays("fashion-mnist", 10_000, 2_000)
        pca = PCA(100, random_state=0).fit(x_train)
        sets["fashion-mnist"] = (pca.transform(x_train), y_train, pca.transform(x_test), y_test)
    return sets


def ridge(z: Tensor, y: Tensor, classes: int, alpha: float) -> Tensor:
    """Weights ``[..., D, classes]`` of ridge regression on one-hot labels (batched over chips)."""
    targets = torch.nn.functional.one_hot(y, classes).double()
    gram = z.mT @ z + alpha * torch.eye(z.shape[-1], dtype=z.dtype)
    return torch.linalg.solve(gram, z.mT @ targets)


def accuracy(scores: Tensor, y: Tensor) -> Tensor:
    return (scores.argmax(-1) == y).double().mean(-1)


def chip_features(features: RandomFeatures, x: Tensor, chips: int) -> Tensor:
    with torch.no_grad():
        return features(x.repeat(chips, 1)).view(chips, len(x), -1).double()


def best_alpha(z: Tensor, y: Tensor, classes: int) -> float:
    cut = len(y) * 4 // 5
    scores = {a: accuracy(z[cut:] @ ridge(z[:cut], y[:cut], classes, a), y[cut:]) for a in ALPHAS}
    return max(ALPHAS, key=lambda a: float(scores[a]))


def kernel_ridge_accuracy(features: RandomFeatures, data, classes: int, alpha: float) -> float:
    x_train, y_train, x_test, y_test = data
    kernel = features.kernel(x_train, x_train)
    targets = torch.nn.functional.one_hot(y_train, classes).double()
    coefficients = torch.linalg.solve(kernel + alpha * torch.eye(len(kernel)), targets)
    return float(accuracy(features.kernel(x_test, x_train) @ coefficients, y_test))


def analog_rows(data, kind: str, gamma: float, args, readouts: dict) -> dict[str, list[Tensor]]:
    """Accuracy per chip ``[chips]`` at each time for each readout."""
    x_train, y_train, x_test, y_test = data
    classes = int(y_train.max()) + 1
    rows: dict[str, list[Tensor]] = {}
    configs = (
        ("pcm", HardwareConfig.preset("pcm")),
        ("devices only", HardwareConfig.preset("pcm", **EXACT_PERIPHERY)),
    )
    for name, hw in configs:
        features = RandomFeatures(x_train.shape[1], args.features, hw, kind, gamma, 0, "cpu")
        calibrate_input_ranges(features, x_train.float().split(1024), quantile=0.999)
        program(features, seed=1, n_samples=args.chips)
        chip_weights = None
        for t in DEFAULT_TIMES:
            drift(features, t, seed=1)
            if chip_weights is None:  # fitted 1 s after programming, kept afterwards
                z_train = chip_features(features, x_train.float(), args.chips)
                chip_weights = ridge(z_train, y_train, classes, readouts["alpha"])
            z_test = chip_features(features, x_test.float(), args.chips)
            if name == "pcm":
                scores = z_test @ readouts["digital"]
                rows.setdefault("digital readout", []).append(accuracy(scores, y_test))
                label = "chip readout"
            else:
                label = "chip readout, devices only"
            rows.setdefault(label, []).append(accuracy(z_test @ chip_weights, y_test))
    return rows


def run_dataset(name: str, data, kind: str, args) -> None:
    x_train, y_train, x_test, y_test = (torch.as_tensor(a) for a in data)
    x_train, x_test = x_train.double(), x_test.double()
    classes = int(y_train.max()) + 1
    gamma = 1.0 / (x_train.shape[1] * x_train.var().item())
    digital = RandomFeatures(x_train.shape[1], args.features, None, kind, gamma, 0, "cpu")
    z_train = chip_features(digital, x_train.float(), 1)[0]
    alpha = best_alpha(z_train, y_train, classes)
    weights = ridge(z_train, y_train, classes, alpha)
    digital_accuracy = float(
        accuracy(chip_features(digital, x_test.float(), 1)[0] @ weights, y_test)
    )
    tensors = (x_train, y_train, x_test, y_test)
    exact = kernel_ridge_accuracy(digital, tensors, classes, alpha)
    rows = analog_rows(tensors, kind, gamma, args, {"digital": weights, "alpha": alpha})
    for label, per_time in rows.items():
        cells = "".join(f"{a.mean().item():>8.1%}{f'+-{a.std().item():.1%}':<8}" for a in per_time)
        drops = [digital_accuracy - a.mean().item() for a in per_time]
        held = all(drop <= DROP for drop in drops)
        claim = f"<1% drop {'held' if held else 'NOT held'} (max {max(drops):+.1%})"
        if label == "chip readout":
            claim += f"; noise harmless {'held' if drops[0] <= DROP else 'NOT held'}"
        data_label = f"{name} ({len(y_test)})"
        print(
            f"{data_label:<20}{kind:<7}{exact:>7.1%}{digital_accuracy:>8.1%}  {label:<27}{cells}"
            f"{claim}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=5, help="programmed chips (Monte Carlo)")
    parser.add_argument("--features", type=int, default=2048, help="random features D")
    parser.add_argument("--quick", action="store_true", help="small data sets only, rbf only")
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"D = {args.features} random features on PCM (512x512 tiles), {args.chips} chips;")
    print("accuracy on the test split, mean +- std over chips; ridge readouts")
    times = "".join(f"{label:<16}" for label in TIME_LABELS)
    print("(test examples in brackets: one example is 100 / n % of accuracy)")
    header = f"{'data':<20}{'kernel':<7}{'exact':>7}{'digital':>8}  {'readout':<27}  {times}"
    print(header + "claims")
    for name, data in datasets(args.quick).items():
        for kind in ("rbf",) if args.quick else ("rbf", "arccos"):
            run_dataset(name, data, kind, args)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
