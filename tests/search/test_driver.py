"""The evolutionary search: feasibility, durability (kill and resume), reproducibility."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from search.baselines import BASELINES, RESNET8
from search.driver import (
    Constraints,
    Measurements,
    Scorer,
    SearchConfig,
    TrialJournal,
    diverse_top_k,
    run_search,
)
from search.space import SearchSpace
from simulator import HardwareConfig
from tests import synthetic

HW = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
SPACE = SearchSpace.tiny()


@pytest.fixture(scope="module")
def surrogate(tmp_path_factory):
    """A surrogate of a synthetic accuracy that grows with size and saturates."""
    bound = synthetic.bound(200)
    path = tmp_path_factory.mktemp("surrogate") / "model.json"
    bound.surrogate.save(path)
    bound.path = path
    return bound


def test_no_infeasible_candidate_is_returned(surrogate):
    config = SearchConfig(trials=300, population=30, constraints=Constraints(max_tiles=10))
    result = run_search(SPACE, surrogate, config)
    assert len(result.candidates) == 300
    assert any(not c.feasible for c in result.candidates)  # the limit does bite
    assert result.pareto and all(c.cost["tiles"] <= 10 for c in result.pareto)
    chosen = diverse_top_k(result.candidates, 3, Scorer(surrogate, config))
    assert len(chosen) == 3 and all(c.feasible for c in chosen)
    impossible = SearchConfig(trials=60, population=30, constraints=Constraints(max_tiles=1))
    assert run_search(SPACE, surrogate, impossible).pareto == []


def test_front_is_non_dominated_and_top_k_is_diverse(surrogate):
    config = SearchConfig(trials=400, population=40, constraints=Constraints(max_tiles=40))
    result = run_search(SPACE, surrogate, config)
    front = result.pareto
    for a in front:
        for b in front:
            assert not (
                b.predicted["accuracy_1d"] > a.predicted["accuracy_1d"]
                and b.cost["tiles"] < a.cost["tiles"]
            )
    chosen = diverse_top_k(result.candidates, 3, Scorer(surrogate, config))
    assert len({c.config.id for c in chosen}) == len(chosen) == 3
    assert chosen[0].predicted["accuracy_1d"] == max(c.predicted["accuracy_1d"] for c in front)
    if len(front) > 3:
        assert {c.config.id for c in chosen} <= {c.config.id for c in front}
        assert len({c.cost["tiles"] for c in chosen}) == 3  # spread along the front
    single = config.model_copy(update={"objectives": ("accuracy_1d",)})
    best = diverse_top_k(result.candidates, 4, Scorer(surrogate, single))
    feasible = sorted(
        {c.config.id: c.predicted["accuracy_1d"] for c in result.feasible()}.values(), reverse=True
    )
    assert [c.predicted["accuracy_1d"] for c in best] == feasible[:4]


def test_same_seed_same_front(surrogate):
    config = SearchConfig(trials=200, population=20, constraints=Constraints(max_tiles=30), seed=7)
    first = [c.config.id for c in run_search(SPACE, surrogate, config).pareto]
    second = [c.config.id for c in run_search(SPACE, surrogate, config).pareto]
    assert first == second
    other = run_search(SPACE, surrogate, config.model_copy(update={"seed": 8}))
    assert [c.config.id for c in other.candidates] != first


def test_a_killed_search_resumes_with_its_trials_kept(surrogate, tmp_path):
    journal_path = tmp_path / "trials.jsonl"
    script = textwrap.dedent(f"""
        import os
        from search.driver import SearchConfig, Constraints, TrialJournal, run_search
        from search.space import SearchSpace
        from surrogate.models import Surrogate
        from tests import synthetic
        surrogate = Surrogate.load({str(surrogate.path)!r}).bind(synthetic.context())
        config = SearchConfig(trials=200, population=20, constraints=Constraints(max_tiles=30))
        def crash(done, total):
            if done >= 100:
                os._exit(9)  # killed midway, right after a generation was journaled
        run_search(SearchSpace.tiny(), surrogate, config, TrialJournal({str(journal_path)!r}),
                   crash)
    """)
    process = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), timeout=120)
    assert process.returncode == 9
    before = TrialJournal(journal_path).recover()
    assert len(before) == 100
    with journal_path.open("a") as file:
        file.write('{"number": 100, "par')  # a torn write of the dying process
    config = SearchConfig(trials=200, population=20, constraints=Constraints(max_tiles=30))
    resumed = run_search(SPACE, surrogate, config, TrialJournal(journal_path))
    assert resumed.resumed_trials == 100 and len(resumed.candidates) == 200
    kept = [c.config.id for c in resumed.candidates[:100]]
    assert kept == [_id(r) for r in before]
    again = run_search(SPACE, surrogate, config, TrialJournal(journal_path))
    assert again.resumed_trials == 200  # nothing left to do
    assert [c.config.id for c in again.candidates] == [c.config.id for c in resumed.candidates]


def _id(record):
    from search.space import ArchConfig

    return ArchConfig.model_validate(record["architecture"]).id


def test_search_config_validates():
    with pytest.raises(ValueError, match="objectives"):
        SearchConfig(objectives=("accuracy_1d", "accuracy_1d"))
    with pytest.raises(ValueError, match="objectives"):
        SearchConfig(objectives=("speed",))
    with pytest.raises(ValueError, match="max_tiles"):
        Constraints(max_tiles=0)


def test_nsga3_and_random_samplers_run(surrogate):
    for algorithm in ("nsga3", "random"):
        config = SearchConfig(
            trials=60, population=20, algorithm=algorithm, constraints=Constraints(max_tiles=30)
        )
        assert len(run_search(SPACE, surrogate, config).candidates) == 60


def test_journal_lines_are_json(surrogate, tmp_path):
    journal = TrialJournal(tmp_path / "j.jsonl")
    run_search(SPACE, surrogate, SearchConfig(trials=40, population=20), journal)
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) == 40 and all("values" in json.loads(line) for line in lines)


def test_the_first_generation_starts_from_the_hand_designs_inside_the_space(surrogate):
    config = SearchConfig(trials=40, population=20)
    first = [c.config for c in run_search(SPACE, surrogate, config).candidates[:3]]
    inside = [cfg for cfg in BASELINES.values() if SPACE.contains(cfg)]
    assert RESNET8 in inside and first[: len(inside)] == inside
    cold = config.model_copy(update={"start_from_baselines": False})
    assert RESNET8 not in [c.config for c in run_search(SPACE, surrogate, cold).candidates]
    randomly = config.model_copy(update={"algorithm": "random"})  # a baseline stays random
    assert RESNET8 not in [c.config for c in run_search(SPACE, surrogate, randomly).candidates]
    tight = config.model_copy(update={"constraints": Constraints(max_tiles=1)})  # none fit
    assert not set(inside) & {c.config for c in run_search(SPACE, surrogate, tight).candidates}


def test_params_are_what_suggest_turns_back_into_the_architecture():
    import optuna

    study = optuna.create_study()
    for cfg in [RESNET8, SPACE.with_ranks().sample(np.random.default_rng(3))]:
        space = SPACE.with_ranks()
        study.enqueue_trial(space.params(cfg))
        assert space.suggest(study.ask()) == cfg
    with pytest.raises(ValueError, match="outside the search space"):
        SPACE.params(BASELINES["resnet32"])  # five blocks a stage: outside the tiny space


def _rows(cfg, accuracies):
    """The context's rows of one architecture: one per measured accuracy."""
    arch = cfg.model_dump(mode="json")
    return [{"arch_id": cfg.id, "arch": arch, "accuracy_1d": a, "avm": -0.01} for a in accuracies]


def test_measured_architectures_are_ranked_by_their_measurement(surrogate):
    config = SearchConfig(trials=60, population=20, objectives=("accuracy_1d",))
    rng = np.random.default_rng(7)
    small, other = SPACE.sample(rng), SPACE.sample(rng)
    measurements = Measurements.of_rows([*_rows(small, [0.99, 1.0]), *_rows(other, [0.2])])
    assert measurements.values[small.id] == pytest.approx({"accuracy_1d": 0.995, "avm": -0.01})
    assert [cfg.id for cfg in measurements.best()] == [small.id, other.id]

    result = run_search(SPACE, surrogate, config, measurements=measurements)
    scorer = Scorer(surrogate, config, measurements)
    best = diverse_top_k(result.candidates, 2, scorer)[0]
    assert best.config == small and best.estimate("accuracy_1d") == pytest.approx(0.995)
    assert best.predicted["accuracy_1d"] < 0.99  # the prediction is kept
    assert best.to_dict()["measured"]["accuracy_1d"] == pytest.approx(0.995)
    unmeasured = next(c for c in result.candidates if c.config.id not in measurements.values)
    assert "measured" not in unmeasured.to_dict()


def test_the_first_generation_holds_the_best_measured_architectures_within_the_limits(surrogate):
    config = SearchConfig(trials=40, population=20, constraints=Constraints(max_tiles=20))
    rng = np.random.default_rng(11)  # ResNet-8 fits in 14 tiles, ResNet-20 does not
    known = [*BASELINES.values(), *(SPACE.sample(rng) for _ in range(40))]
    scored = Scorer(surrogate, config).candidates(known, [-1] * len(known))
    fits = [c.config for c in scored if c.feasible and SPACE.contains(c.config)]
    hand = [cfg for cfg in fits if cfg in BASELINES.values()]
    sampled = [cfg for cfg in fits if cfg not in BASELINES.values()][:8]
    too_big = next(c.config for c in scored[len(BASELINES) :] if not c.feasible)
    rows = _rows(too_big, [0.99])
    rows += [r for i, cfg in enumerate(sampled) for r in _rows(cfg, [0.9 - 0.01 * i])]
    result = run_search(SPACE, surrogate, config, measurements=Measurements.of_rows(rows))
    first = [c.config for c in result.candidates[:20]]
    assert hand and first[: len(hand) + 5] == [*hand, *sampled[:5]]  # a quarter of 20: 5
    assert too_big not in first
