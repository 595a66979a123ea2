"""Sample rows in the database; collection is resumable and idempotent."""

from concurrent.futures import Executor, Future

import numpy as np
import pytest

from search.collect import budget_hash, collect, spread_sample
from search.space import SearchSpace
from search.training import TrainConfig
from search.verify import Budget
from simulator import HardwareConfig
from surrogate.features import FeatureExtractor
from surrogate.store import SampleStore

HW = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
TINY_BUDGET = Budget(
    train=TrainConfig(epochs=1),
    mc_samples=2,
    times=(1.0, 86400.0, 2592000.0),
    train_examples=300,
    post_training=None,  # 3/4 of a small verification's time
)


class InlineExecutor(Executor):
    """Runs each task at submission, in this process (counts the calls)."""

    def __init__(self):
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _row(arch_id="a1", seed=0, **changes):
    row = {
        "task": "digits",
        "hardware_hash": HW.config_hash(),
        "hardware": {},
        "arch_id": arch_id,
        "arch": {},
        "encoding": [0.0] * 22,
        "seed": seed,
        "budget_hash": "b",
        "budget": {},
        "times": [1.0],
        "accuracy_mean": [0.9],
        "accuracy_std": [0.01],
        "accuracy_1d": 0.9,
        "spread_1d": 0.01,
        "avm": 0.02,
        "digital_accuracy": 0.95,
        "cost": {"tiles": 3},
    }
    return row | changes


def test_rows_are_unique_per_key(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert store.add(_row()) is True
    assert store.add(_row()) is False  # same key: not stored twice
    assert store.add(_row(seed=1)) is True
    assert store.keys("digits", HW.config_hash(), "b") == {("a1", 0), ("a1", 1)}
    assert [r["seed"] for r in store.rows("digits", HW.config_hash())] == [0, 1]
    with pytest.raises(ValueError, match="missing fields"):
        store.add({"task": "digits"})


def test_rows_on_postgresql(postgres_url):
    store = SampleStore.open(postgres_url.render_as_string(hide_password=False))
    assert store.add(_row("p1")) and not store.add(_row("p1"))
    assert store.add(_row("p2", cost={"tiles": 7, "layers": [{"name": "fc"}]}))
    rows = store.rows("digits", HW.config_hash())
    assert [r["arch_id"] for r in rows] == ["p1", "p2"]
    assert rows[1]["cost"]["layers"][0]["name"] == "fc"
    assert store.keys("digits", HW.config_hash(), "b") == {("p1", 0), ("p2", 0)}


def test_jsonl_round_trip(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'a.sqlite'}")
    store.add(_row("a1"))
    store.add(_row("a2", accuracy_1d=0.5))
    path = tmp_path / "rows.jsonl"
    assert store.export_jsonl(path, "digits", HW.config_hash()) == 2
    other = SampleStore.open(f"sqlite:///{tmp_path / 'b.sqlite'}")
    assert other.import_jsonl(path) == 2
    assert other.import_jsonl(path) == 0
    assert other.rows("digits", HW.config_hash()) == store.rows("digits", HW.config_hash())


def test_spread_sample_covers_sizes_and_respects_the_tile_budget():
    extractor = FeatureExtractor((1, 8, 8), 10, HW)
    configs = spread_sample(SearchSpace.tiny(), 40, np.random.default_rng(0), extractor, 16)
    features = extractor.transform(SearchSpace.encode_many(configs))
    sizes = features[:, extractor.names.index("log_params")]
    assert len({c.id for c in configs}) == 40
    assert features[:, extractor.names.index("tiles")].max() <= 16
    depths = np.asarray([c.M for c in configs])
    assert np.bincount(depths)[1:].tolist() == [14, 13, 13]  # every depth, though deep is rare
    for m in (1, 2, 3):  # within each depth: spread over size, not clustered
        assert np.histogram(sizes[depths == m], bins=3)[0].min() >= 2
    again = spread_sample(SearchSpace.tiny(), 40, np.random.default_rng(0), extractor, 16)
    assert [c.id for c in again] == [c.id for c in configs]


def test_collection_skips_rows_already_stored(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first = InlineExecutor()
    report = collect(
        "digits", HW, SearchSpace.tiny(), 3, store, TINY_BUDGET, max_tiles=8, executor=first
    )
    assert (report.added, report.skipped, first.calls) == (3, 0, 3)
    rows = store.rows("digits", HW.config_hash())
    assert len(rows) == 3 and all(r["budget_hash"] == budget_hash(TINY_BUDGET) for r in rows)
    assert all(0 <= r["accuracy_1d"] <= 1 and len(r["encoding"]) == 25 for r in rows)
    second = InlineExecutor()
    report = collect(
        "digits", HW, SearchSpace.tiny(), 3, store, TINY_BUDGET, max_tiles=8, executor=second
    )
    assert (report.added, report.skipped, second.calls) == (0, 3, 0)
    report = collect(
        "digits",
        HW,
        SearchSpace.tiny(),
        4,
        store,
        TINY_BUDGET,
        max_tiles=8,
        seed=1,
        executor=InlineExecutor(),
    )
    assert report.added + report.skipped == 4


def test_collection_on_more_chips_trains_once(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    rram = HardwareConfig.preset("rram", tile_rows=256, tile_cols=256)
    executor = InlineExecutor()
    report = collect(
        "digits",
        HW,
        SearchSpace.tiny(),
        2,
        store,
        TINY_BUDGET,
        max_tiles=8,
        executor=executor,
        also_on=[rram],
    )
    assert (report.added, executor.calls) == (4, 2)  # two rows per training
    on_pcm, on_rram = (
        store.rows("digits", HW.config_hash()),
        store.rows("digits", rram.config_hash()),
    )
    assert {r["arch_id"] for r in on_pcm} == {r["arch_id"] for r in on_rram}
    assert all(r["trained_on"] is None for r in on_pcm)
    assert all(r["trained_on"] == HW.model_dump(mode="json") for r in on_rram)
    digital = {r["arch_id"]: r["digital_accuracy"] for r in on_pcm}
    assert all(r["digital_accuracy"] == digital[r["arch_id"]] for r in on_rram)  # one network
    again = InlineExecutor()
    collect(
        "digits",
        HW,
        SearchSpace.tiny(),
        2,
        store,
        TINY_BUDGET,
        max_tiles=8,
        executor=again,
        also_on=[rram],
    )
    assert again.calls == 0
