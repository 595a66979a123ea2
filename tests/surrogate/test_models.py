"""Pooled surrogate models: ranking within contexts, unseen chips, in-domain weight, uncertainty,
files and refusals."""

import json

import numpy as np
import pytest

from search.space import SearchSpace
from simulator import HardwareConfig
from surrogate.fitting import context_holdout, fit_pooled, in_domain_weight
from surrogate.metrics import kendall_tau, kendall_tau_top, spearman_rho, top_k_recall
from surrogate.models import Group, Surrogate, SurrogateMismatch, SurrogateParams
from tests import synthetic

FAST = SurrogateParams(n_estimators=120, ensemble=3)
NOISY = HardwareConfig.preset("rram", tile_rows=128, tile_cols=128, adc_bits=4)


@pytest.fixture(scope="module")
def fitted():
    return Surrogate(FAST).fit([synthetic.group(600, seed=0)])


def test_ranker_learns_a_known_monotone_target(fitted):
    test = synthetic.group(200, seed=1)
    predicted = fitted.bind(test.context).predict(test.encodings)
    truth = test.targets["accuracy_1d"]
    assert kendall_tau(truth, predicted["rank_score"]) >= 0.95
    assert kendall_tau(truth, predicted["accuracy_1d"]) >= 0.95
    assert kendall_tau(test.targets["avm"], predicted["avm"]) >= 0.9
    # calibrated onto the accuracy scale, not the ranker's
    assert np.mean(np.abs(predicted["accuracy_1d"] - truth)) < 0.05


def test_uncertainty_is_wider_far_from_the_data(fitted):
    near = synthetic.group(100, seed=2)
    far_space = SearchSpace(
        out_channel0=(96, 128), M=(4, 5), R=(8, 16), B=(8, 12), widenfact=(3.0, 4.0)
    )
    far = synthetic.group(100, seed=3, space=far_space)
    bound = fitted.bind(near.context)
    near_std = bound.predict(near.encodings)["accuracy_1d_std"]
    far_std = bound.predict(far.encodings)["accuracy_1d_std"]
    assert np.median(far_std) > 3 * np.median(near_std)


def test_an_unseen_chip_is_predicted_from_the_chips_it_knows():
    # chips whose output noise lowers large networks more the louder it is: the pooled model
    # sees five of them and orders architectures on a sixth, in between, it has never seen
    chips = [synthetic.HW.model_copy(update={"out_noise": v}) for v in (0, 0.03, 0.06, 0.09, 0.12)]
    pooled = [
        synthetic.group(200, seed=i, ctx=synthetic.context(hw), noise_penalty=hw.out_noise)
        for i, hw in enumerate(chips)
    ]
    unseen = synthetic.context(synthetic.HW.model_copy(update={"out_noise": 0.075}))
    test = synthetic.group(200, seed=9, ctx=unseen, noise_penalty=0.075)
    surrogate = fit_pooled(pooled, params=FAST)
    truth = test.targets["accuracy_1d"]
    predicted = surrogate.bind(unseen).predict(test.encodings)["accuracy_1d"]
    as_if_quiet = surrogate.bind(pooled[0].context).predict(test.encodings)["accuracy_1d"]
    assert kendall_tau(truth, predicted) >= 0.5
    assert kendall_tau(truth, predicted) > kendall_tau(truth, as_if_quiet) + 0.5  # chip counts


def test_in_domain_rows_count_as_much_as_a_pooled_context():
    pooled = [synthetic.group(300, seed=i) for i in range(3)]
    assert in_domain_weight(pooled, 30) == pytest.approx(10.0)
    assert in_domain_weight(pooled, 3000) == 1.0  # never less than a pooled row
    assert in_domain_weight([], 30) == 1.0
    own = synthetic.group(30, seed=7, ctx=synthetic.context(NOISY))
    surrogate = fit_pooled(pooled, own, FAST)
    assert own.weight == pytest.approx(10.0)
    assert surrogate.rows_of(own.context) == 30 and surrogate.metadata["n_samples"] == 930
    assert set(surrogate.contexts) == {pooled[0].context.key, own.context.key}


def test_held_out_quality_keeps_the_architectures_out_of_every_group():
    ctx = synthetic.context(NOISY)
    own = synthetic.group(40, seed=5, ctx=ctx)
    same_architectures = Group(synthetic.context(), own.encodings, own.targets)
    report = context_holdout([same_architectures], own, params=FAST)
    assert report["n"] == 10 and report["accuracy_1d"]["kendall_tau"] > 0.5
    assert {"kendall_tau_better_half", "params_baseline_kendall_tau"} <= set(report)
    assert context_holdout([], synthetic.group(10, seed=5, ctx=ctx)) is None  # too few


def test_file_round_trip(fitted, tmp_path):
    path = tmp_path / "model.json"
    fitted.save(path)
    loaded = Surrogate.load(path)
    test = synthetic.group(50, seed=4)
    original = fitted.bind(test.context).predict(test.encodings)
    again = loaded.bind(test.context).predict(test.encodings)
    for name in original:
        np.testing.assert_allclose(again[name], original[name], rtol=1e-5, atol=1e-6)
    document = json.loads(path.read_text())
    assert document["metadata"]["n_samples"] == 600
    assert document["contexts"][test.context.key]["rows"] == 600
    assert document["boosters"]["rank"][0]["learner"]["objective"]["name"] == "rank:pairwise"
    assert loaded.profile("digits", "synthetic") == test.context.task
    assert loaded.profile("digits", "other") is None


def test_a_file_of_another_feature_version_is_refused(fitted, tmp_path):
    path = tmp_path / "model.json"
    fitted.save(path)
    document = json.loads(path.read_text())
    document["metadata"]["feature_version"] = 1
    path.write_text(json.dumps(document))
    with pytest.raises(SurrogateMismatch, match=r"feature version 1.*refit"):
        Surrogate.load(path)
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(ValueError, match="not a surrogate file"):
        Surrogate.load(tmp_path / "junk.json")


def test_fit_needs_targets_and_data():
    group = synthetic.group(20, seed=5)
    with pytest.raises(ValueError, match="avm"):
        Group(group.context, group.encodings, {"accuracy_1d": group.targets["accuracy_1d"]})
    small = Group(group.context, group.encodings[:5], {k: v[:5] for k, v in group.targets.items()})
    with pytest.raises(ValueError, match="too few"):
        Surrogate(FAST).fit([small])
    with pytest.raises(ValueError, match="not fitted"):
        Surrogate(FAST).bind(group.context)


def test_metrics():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert kendall_tau(truth, truth) == 1.0 and kendall_tau(truth, -truth) == -1.0
    assert spearman_rho(truth, truth**2) == pytest.approx(1.0)
    assert top_k_recall(truth, np.array([4.0, 3.0, 2.0, 1.0]), 2) == 0.0
    assert top_k_recall(truth, truth, 2) == 1.0
    swapped_top = np.array([1.0, 2.0, 4.0, 3.0])
    assert kendall_tau_top(truth, swapped_top) == -1.0  # the better half in reverse
