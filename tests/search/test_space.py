import json

import numpy as np
import optuna
import pytest
from pydantic import ValidationError

from search.baselines import BASELINES, RESNET8
from search.space import ENCODING_NAMES, ArchConfig, SearchSpace

SPACE = SearchSpace()


def _samples(space: SearchSpace, n: int = 200, seed: int = 0) -> list[ArchConfig]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_samples_are_inside_and_varied():
    samples = _samples(SPACE)
    assert all(SPACE.contains(cfg) for cfg in samples)
    assert len({cfg.id for cfg in samples}) == len(samples)
    assert {cfg.M for cfg in samples} == {1, 2, 3, 4, 5}
    assert {t for cfg in samples for t in cfg.convblock} == {"A", "B", "C", "D"}


def test_encoding_has_a_fixed_length_and_zeros_beyond_m():
    for cfg in _samples(SPACE, 50):
        vector = SearchSpace.encode(cfg)
        assert vector.shape == (len(ENCODING_NAMES),) == (22,)
        named = dict(zip(ENCODING_NAMES, vector, strict=True))
        assert named["M"] == cfg.M and named["out_channel0"] == cfg.out_channel0
        for m in range(cfg.M, 5):
            assert named[f"R{m + 1}"] == named[f"convblock{m + 1}"] == 0
        for m in range(cfg.M):
            assert named[f"convblock{m + 1}"] == "ABCD".index(cfg.convblock[m]) + 1


def test_json_round_trip_and_stable_id():
    for cfg in _samples(SPACE, 30):
        text = cfg.to_json()
        assert ArchConfig.from_json(text) == cfg
        assert ArchConfig.from_json(text).id == cfg.id
        assert json.loads(text) == json.loads(cfg.model_dump_json())
    assert RESNET8.id == ArchConfig.from_json(RESNET8.to_json()).id
    assert RESNET8.id != RESNET8.model_copy(update={"out_channel0": 17}).id


def test_analognas_flat_form_round_trips():
    for cfg in _samples(SPACE, 30):
        flat = cfg.to_analognas()
        assert list(flat) == list(ENCODING_NAMES)
        assert ArchConfig.from_analognas(flat) == cfg


def test_mutate_and_crossover_stay_inside_a_narrowed_space():
    space = SearchSpace.tiny()
    rng = np.random.default_rng(1)
    population = _samples(space, 40, seed=2)
    for i, cfg in enumerate(population):
        mutated = space.mutate(cfg, rng)
        assert mutated != cfg and space.contains(mutated)
        child = space.crossover(cfg, population[-1 - i], rng)
        assert space.contains(child)


def test_crossover_mixes_parents():
    rng = np.random.default_rng(3)
    a = ArchConfig(out_channel0=8, M=1, R=(1,), B=(1,), convblock=("A",), widenfact=(1.0,))
    b = ArchConfig(
        out_channel0=32,
        M=3,
        R=(3, 3, 3),
        B=(3, 3, 3),
        convblock=("D", "D", "D"),
        widenfact=(2.0, 2.0, 2.0),
    )
    children = {SearchSpace.tiny().crossover(a, b, rng) for _ in range(50)}
    assert len(children) > 10
    assert {c.out_channel0 for c in children} == {8, 32}


def test_configs_outside_are_rejected_with_the_reason():
    tiny = SearchSpace.tiny()
    big = ArchConfig(out_channel0=64, M=1, R=(1,), B=(1,), convblock=("A",), widenfact=(1.0,))
    assert not tiny.contains(big)
    with pytest.raises(ValueError, match=r"out_channel0=64 is outside \[8, 32\]"):
        tiny.validate_config(big)
    narrowed = SPACE.narrow(convblock=("A", "B"))
    with pytest.raises(ValueError, match="convblock1=C"):
        narrowed.validate_config(big.model_copy(update={"convblock": ("C",)}))


def test_invalid_configs_and_bounds_name_the_field():
    with pytest.raises(ValidationError, match="R"):
        ArchConfig(
            out_channel0=8, M=2, R=(1,), B=(1, 1), convblock=("A", "A"), widenfact=(1.0, 1.0)
        )
    with pytest.raises(ValidationError, match="convblock"):
        ArchConfig(out_channel0=8, M=1, R=(1,), B=(1,), convblock=("E",), widenfact=(1.0,))
    with pytest.raises(ValidationError, match="M"):
        ArchConfig(
            out_channel0=8, M=6, R=(1,) * 6, B=(1,) * 6, convblock=("A",) * 6, widenfact=(1.0,) * 6
        )
    with pytest.raises(ValidationError, match="out_channel0"):
        SearchSpace(out_channel0=(32, 8))
    with pytest.raises(ValueError, match="R"):
        SearchSpace.tiny().narrow(R=(1, 8))


def test_suggest_draws_configs_from_optuna_trials():
    space = SearchSpace.tiny()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs = []
    for _ in range(20):
        trial = study.ask()
        configs.append(space.suggest(trial))
        study.tell(trial, 0.0)
    assert all(space.contains(cfg) for cfg in configs)
    assert len(set(configs)) > 15
    assert len(study.trials[0].params) == 22  # a fixed search space for evolutionary samplers


def test_baselines_are_inside_the_default_space():
    assert all(SPACE.contains(cfg) for cfg in BASELINES.values())
    assert RESNET8.channels() == [16, 16, 32, 64]
