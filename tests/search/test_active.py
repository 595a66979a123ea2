"""The active loop: rounds of cheap verifications chosen by the surrogate, refits in between,
resuming after a kill without losing or repeating a row; a context well known within the limits
skips it."""

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import Executor, ThreadPoolExecutor

import pytest

from search.active import (
    ENOUGH_ROWS,
    ActiveLoop,
    LoopBudget,
    LoopHooks,
    LoopState,
    choose_batch,
    prepare_surrogate,
    rows_within,
)
from search.collect import CHEAP_BUDGET, collection_budget
from search.driver import Constraints, SearchConfig, run_search
from search.job import JobHooks, run_job
from search.space import SearchSpace
from search.surrogates import SurrogateSource
from search.tasks import load_task
from simulator import HardwareConfig
from surrogate.store import SampleStore
from tests import synthetic

UNSEEN = HardwareConfig.preset("rram", tile_rows=128, tile_cols=128, adc_bits=6)
CHEAP = collection_budget(train_examples=150, test_examples=60, epochs=1, mc_samples=1)
CHEAP = CHEAP.model_copy(update={"post_training": None})
CONFIG = SearchConfig(trials=60, population=20, objectives=("accuracy_1d",))
CONFIG = CONFIG.model_copy(update={"constraints": Constraints(max_tiles=6)})


def _loop(source, executor, rows, state=None, events=None, rounds=None, label="job:test"):
    context = source.context(load_task("digits"), UNSEEN, CHEAP.fidelity)
    loop = ActiveLoop(
        "digits",
        context,
        SearchSpace.tiny(),
        CONFIG,
        source,
        LoopBudget(CHEAP, rows, 3),
        executor,
        label,
    )
    hooks = LoopHooks(
        progress=(lambda *event: events.append(event)) if events is not None else None,
        on_round=rounds.append if rounds is not None else None,
    )
    return prepare_surrogate(loop, state, hooks)


def _rows(store, label="job:test"):
    return [r for r in store.rows("digits", UNSEEN.config_hash()) if r["source"] == label]


def test_the_loop_verifies_its_rows_in_rounds_and_refits(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    source = SurrogateSource(store, tmp_path / "models")
    events, rounds = [], []
    with ThreadPoolExecutor(2) as executor:
        bound = _loop(source, executor, 6, events=events, rounds=rounds)
    rows = _rows(store)
    assert len(rows) == 6 and len({r["arch_id"] for r in rows}) == 6
    assert all(r["cost"]["tiles"] <= 6 for r in rows)  # the job's limits hold in the loop
    assert [r.number for r in rounds] == [1, 2] and [len(r.architectures) for r in rounds] == [3, 3]
    assert rounds[-1].in_domain_rows == 6 and bound.in_domain_rows == 6
    assert rounds[-1].prospective_tau is not None  # predicted before measured, six rows
    assert rounds[0].prospective_tau is None  # three are too few
    assert {e[0] for e in events} >= {"round 1/2", "round 2/2"}
    assert events[-1][1:3] == (6, 6)
    assert (tmp_path / "models" / "profiles.json").is_file()  # the new task profile kept


def test_a_loop_killed_mid_round_resumes_without_losing_or_repeating_rows(tmp_path):
    database = f"sqlite:///{tmp_path / 'db.sqlite'}"
    record = tmp_path / "rounds.json"
    script = textwrap.dedent(f"""
        import json, os
        from concurrent.futures import ThreadPoolExecutor
        from search.surrogates import SurrogateSource
        from surrogate.store import SampleStore
        from tests.search.test_active import _loop

        class Killed(SampleStore):
            def add(self, row):
                stored = super().add(row)
                if len(self.all_rows()) == 4:  # the first row of the second round
                    os._exit(9)
                return stored

        store = Killed.open({database!r})
        rounds = []
        def keep(round_):
            rounds.append(round_.to_dict())
            open({str(record)!r}, "w").write(json.dumps(rounds))
        with ThreadPoolExecutor(1) as executor:
            _loop(SurrogateSource(store, {str(tmp_path / "models")!r}), executor, 6,
                  rounds=type("R", (), {{"append": staticmethod(keep)}})())
    """)
    killed = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd(), timeout=600)
    assert killed.returncode == 9
    store = SampleStore.open(database)
    before = {r["arch_id"] for r in _rows(store)}
    assert len(before) == 4
    state = LoopState.from_dicts(json.loads(record.read_text()))
    assert len(state.rounds) == 1  # the second round was cut short
    rounds = []
    with ThreadPoolExecutor(2) as executor:
        _loop(SurrogateSource(store, tmp_path / "models"), executor, 6, state, rounds=rounds)
    after = [r["arch_id"] for r in _rows(store)]
    assert len(after) == 6 and len(set(after)) == 6 and before <= set(after)
    assert [r.number for r in rounds] == [2] and len(rounds[0].architectures) == 2


class Refusing(Executor):
    def submit(self, fn, /, *args, **kwargs):
        raise AssertionError("a well-known context verifies nothing before its search")


def test_a_context_with_enough_rows_within_the_limits_searches_at_once(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    source = SurrogateSource(store, tmp_path / "models")
    shipped_chip = HardwareConfig.preset("pcm", tile_rows=256, tile_cols=256)
    context = source.context(load_task("digits"), shipped_chip, CHEAP_BUDGET.fidelity)

    def loop(max_tiles: int) -> ActiveLoop:
        config = CONFIG.model_copy(update={"constraints": Constraints(max_tiles=max_tiles)})
        budget = LoopBudget(CHEAP, 24, 4)
        return ActiveLoop(
            "digits", context, SearchSpace.tiny(), config, source, budget, Refusing(), "x"
        )

    assert rows_within(source, context, Constraints(max_tiles=64)) >= ENOUGH_ROWS
    assert prepare_surrogate(loop(64)).in_domain_rows >= ENOUGH_ROWS  # the shipped rows
    assert rows_within(source, context, Constraints(max_tiles=6)) < ENOUGH_ROWS
    with pytest.raises(AssertionError, match="verifies nothing"):  # few rows that small
        prepare_surrogate(loop(6))


def test_batches_take_promise_and_uncertainty_and_skip_what_is_measured():
    bound = synthetic.bound(100)
    candidates = run_search(SearchSpace.tiny(), bound, CONFIG).candidates
    first = choose_batch(candidates, 4, set())
    assert len(first) == 4 and all(c.feasible for c in first)
    again = choose_batch(candidates, 4, {c.config.id for c in first})
    assert not {c.config.id for c in first} & {c.config.id for c in again}
    bounds = [c.predicted["accuracy_1d"] + c.predicted["accuracy_1d_std"] for c in first]
    assert bounds == sorted(bounds, reverse=True)
    greedy = choose_batch(candidates, 4, set(), beta=0.0)
    assert [c.predicted["accuracy_1d"] for c in greedy] == sorted(
        (c.predicted["accuracy_1d"] for c in greedy), reverse=True
    )


def test_a_job_on_a_new_chip_verifies_its_first_searchs_top_k_before_the_loops_rows(tmp_path):
    store = SampleStore.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    source = SurrogateSource(store, tmp_path / "models")
    events = []
    hooks = JobHooks(
        on_verified=lambda candidate, result: events.append(("verified", candidate.config.id)),
        on_round=lambda r: events.append(("round", r.number)),
    )
    final = CHEAP.model_copy(update={"mc_samples": 2})
    with ThreadPoolExecutor(2) as executor:
        result, _ = run_job(
            "digits",
            load_task("digits"),
            UNSEEN,
            SearchSpace.tiny(),
            CONFIG,
            final,
            2,
            LoopBudget(CHEAP, 4, 2),
            source,
            executor,
            "job:test",
            hooks,
            LoopState(),
        )
    # as on a known chip, the top-2 are verified at once: before the loop's first round ends
    early = [arch for kind, arch in events[: events.index(("round", 1))] if kind == "verified"]
    assert len(set(early)) == len(early) == 2
    assert set(early) <= {v.result.arch_id for v in result.verified}  # kept, none verified twice
    assert len(_rows(store)) == 4
