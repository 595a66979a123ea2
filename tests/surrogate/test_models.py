"""Surrogate models: ranking on synthetic data, uncertainty, files, refusals."""

import json

import numpy as np
import pytest

from search.space import SearchSpace
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.metrics import kendall_tau, spearman_rho, top_k_recall
from surrogate.models import Surrogate, SurrogateMismatch, SurrogateParams

HW = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
SHAPE = (1, 8, 8)
FAST = SurrogateParams(n_estimators=120, ensemble=3)


def _synthetic(n: int, seed: int, space: SearchSpace | None = None):
    """Architectures with a known target: a monotone (nonlinear) function of their size."""
    rng = np.random.default_rng(seed)
    space = space or SearchSpace.tiny()
    encodings = SearchSpace.encode_many([space.sample(rng) for _ in range(n)])
    features = FeatureExtractor(SHAPE, 10, HW).transform(encodings)
    names = FeatureExtractor(SHAPE, 10, HW).names
    target = -np.exp(features[:, names.index("log_params")])
    targets = {"accuracy_1d": target, "avm": -target, "spread_1d": 0.1 * target}
    return encodings, targets


@pytest.fixture(scope="module")
def fitted():
    encodings, targets = _synthetic(600, seed=0)
    return Surrogate("digits", SHAPE, 10, HW, FAST).fit(encodings, targets)


def test_ranker_learns_a_known_monotone_target(fitted):
    encodings, targets = _synthetic(200, seed=1)
    predicted = fitted.predict(encodings)
    assert kendall_tau(targets["accuracy_1d"], predicted["rank_score"]) >= 0.95
    assert kendall_tau(targets["accuracy_1d"], predicted["accuracy_1d"]) >= 0.95
    assert kendall_tau(targets["avm"], predicted["avm"]) >= 0.9


def test_uncertainty_is_wider_far_from_the_data(fitted):
    near, _ = _synthetic(100, seed=2)
    far_space = SearchSpace(
        out_channel0=(96, 128), M=(4, 5), R=(8, 16), B=(8, 12), widenfact=(3.0, 4.0)
    )
    far, _ = _synthetic(100, seed=3, space=far_space)
    near_std = fitted.predict(near)["accuracy_1d_std"]
    far_std = fitted.predict(far)["accuracy_1d_std"]
    assert np.median(far_std) > 3 * np.median(near_std)


def test_file_round_trip(fitted, tmp_path):
    path = tmp_path / "model.json"
    fitted.save(path)
    loaded = Surrogate.load(path, "digits", HW)
    encodings, _ = _synthetic(50, seed=4)
    original, again = fitted.predict(encodings), loaded.predict(encodings)
    for name in original:
        np.testing.assert_allclose(again[name], original[name], rtol=1e-6, atol=1e-9)
    document = json.loads(path.read_text())
    assert document["metadata"]["task"] == "digits"
    assert document["metadata"]["hardware_hash"] == HW.config_hash()
    assert document["metadata"]["n_samples"] == 600
    assert document["boosters"]["rank"][0]["learner"]["objective"]["name"] == "rank:pairwise"


def test_a_model_for_another_task_or_chip_is_refused(fitted, tmp_path):
    path = tmp_path / "model.json"
    fitted.save(path)
    with pytest.raises(SurrogateMismatch, match="task 'digits', not 'kws'"):
        Surrogate.load(path, "kws", HW)
    with pytest.raises(SurrogateMismatch, match="another chip"):
        Surrogate.load(path, "digits", HardwareConfig.preset("pcm"))
    document = json.loads(path.read_text())
    document["metadata"]["feature_version"] = 0
    path.write_text(json.dumps(document))
    with pytest.raises(SurrogateMismatch, match="feature version"):
        Surrogate.load(path)
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ValueError, match="not a surrogate file"):
        Surrogate.load(tmp_path / "junk.json")


def test_fit_needs_targets_and_data():
    encodings, targets = _synthetic(20, seed=5)
    surrogate = Surrogate("digits", SHAPE, 10, HW, FAST)
    with pytest.raises(ValueError, match="avm"):
        surrogate.fit(encodings, {"accuracy_1d": targets["accuracy_1d"]})
    with pytest.raises(ValueError, match="too few"):
        surrogate.fit(encodings[:5], {k: v[:5] for k, v in targets.items()})
    with pytest.raises(ValueError, match="not fitted"):
        surrogate.score(encodings)


def test_metrics():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert kendall_tau(truth, truth) == 1.0 and kendall_tau(truth, -truth) == -1.0
    assert spearman_rho(truth, truth**2) == pytest.approx(1.0)
    assert top_k_recall(truth, np.array([4.0, 3.0, 2.0, 1.0]), 2) == 0.0
    assert top_k_recall(truth, truth, 2) == 1.0
