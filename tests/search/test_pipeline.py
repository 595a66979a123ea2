"""The pipeline: search, verification of a diverse top-K, baselines."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from search.driver import Constraints, Measurements, Scorer, SearchConfig
from search.pipeline import search_and_verify
from search.space import SearchSpace
from search.training import TrainConfig
from search.verify import Budget
from simulator import HardwareConfig
from surrogate.store import SampleStore
from tests import synthetic

HW = HardwareConfig.preset("pcm", tile_rows=128, tile_cols=128)  # no shipped surrogate
TINY = Budget(
    train=TrainConfig(epochs=1),
    mc_samples=2,
    times=(1.0, 86400.0, 2592000.0),
    train_examples=300,
    test_examples=100,
    post_training=None,  # 3/4 of a small verification's time
)


@pytest.fixture(scope="module")
def surrogate():
    return synthetic.bound(100, ctx=synthetic.context(HW))


def test_search_verify_and_baselines(surrogate, tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    events = []
    config = SearchConfig(trials=100, population=20, constraints=Constraints(max_tiles=40))
    with ThreadPoolExecutor(2) as executor:
        result = search_and_verify(
            "digits",
            HW,
            SearchSpace.tiny(),
            surrogate,
            config,
            TINY,
            2,
            executor,
            store,
            baselines=("random", "resnet8"),
            progress=lambda *event: events.append(event),
        )
    assert len(result.verified) == 2
    assert {v.result.arch_id for v in result.verified} <= {
        c.config.id for c in result.search.pareto
    }
    assert all(v.result.cost["tiles"] <= 40 for v in result.verified)
    assert len(result.baselines["random"]) == 2 and len(result.baselines["resnet8"]) == 1
    assert result.best().result.accuracy_1d == max(v.result.accuracy_1d for v in result.verified)
    phases = [e[0] for e in events]
    assert phases[0] == "search" and "verify" in phases and "verify resnet8" in phases
    assert all(e[3] is None or e[3] >= 0 for e in events)
    sources = {r["source"] for r in store.rows("digits", HW.config_hash())}
    assert sources == {"search", "random", "resnet8"}


def test_resnet8_outside_the_budget_is_not_verified(surrogate):
    config = SearchConfig(trials=40, population=20, constraints=Constraints(max_tiles=5))
    with ThreadPoolExecutor(1) as executor:
        result = search_and_verify(
            "digits",
            HW,
            SearchSpace.tiny(),
            surrogate,
            config,
            TINY,
            1,
            executor,
            baselines=("resnet8",),
        )
    assert result.baselines["resnet8"] == []


def test_the_best_measured_architecture_is_verified_even_where_the_model_ranks_it_low(surrogate):
    space = SearchSpace.tiny()
    config = SearchConfig(trials=40, population=20, objectives=("accuracy_1d",))
    rng = np.random.default_rng(5)
    sampled = [space.sample(rng) for _ in range(40)]
    scored = Scorer(surrogate, config).candidates(sampled, [-1] * len(sampled))
    low = min(scored, key=lambda c: c.predicted["accuracy_1d"]).config
    row = {"arch_id": low.id, "arch": low.model_dump(mode="json"), "accuracy_1d": 0.999, "avm": 0}
    with ThreadPoolExecutor(1) as executor:
        result = search_and_verify(
            "digits",
            HW,
            space,
            surrogate,
            config,
            TINY,
            1,
            executor,
            measurements=Measurements.of_rows([row]),
        )
    assert [v.result.arch_id for v in result.verified] == [low.id]
    assert result.verified[0].candidate.measured["accuracy_1d"] == 0.999
