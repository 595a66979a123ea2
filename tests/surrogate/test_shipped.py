"""The surrogate shipped for digits on the pcm preset with 256x256 tiles (IBM's 64-core chip)."""

from search.collect import CHEAP_BUDGET
from search.fidelity import Fidelity
from search.space import ArchConfig, SearchSpace
from simulator import HardwareConfig
from surrogate.fitting import DATA_DIR, arrays, shipped_surrogate
from surrogate.metrics import kendall_tau
from surrogate.store import read_jsonl

HW = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
DATA = DATA_DIR / f"digits-{HW.config_hash()}.jsonl"


def test_shipped_model_meets_its_ranking_target():
    surrogate = shipped_surrogate("digits", HW)
    assert surrogate is not None
    meta = surrogate.metadata
    assert meta["n_samples"] >= 300
    holdout = meta["holdout"]
    assert holdout["accuracy_1d"]["kendall_tau"] >= 0.8
    assert holdout["accuracy_1d"]["kendall_tau"] > holdout["params_baseline_kendall_tau"]
    assert shipped_surrogate("digits", HardwareConfig.preset("pcm")) is None  # other tiles


def test_shipped_data_is_a_collection_within_the_tile_budget():
    # collected before spread_sample stratified by depth: distinct architectures of the tiny
    # space that fit 64 tiles, one row each, all of the collection fidelity
    rows = list(read_jsonl(DATA))
    assert len(rows) >= 300
    assert {r["hardware_hash"] for r in rows} == {HW.config_hash()}
    assert all(r["cost"]["tiles"] <= 64 for r in rows)
    assert len({r["arch_id"] for r in rows}) == len(rows)
    assert {Fidelity.of_budget(r["budget"]) for r in rows} == {CHEAP_BUDGET.fidelity}
    tiny = SearchSpace.tiny()
    assert all(tiny.contains(ArchConfig.model_validate(r["arch"])) for r in rows)


def test_shipped_model_fits_its_data():
    surrogate = shipped_surrogate("digits", HW)
    encodings, targets = arrays(list(read_jsonl(DATA)))
    predicted = surrogate.predict(encodings)
    assert kendall_tau(targets["accuracy_1d"], predicted["accuracy_1d"]) > 0.85  # in-sample
