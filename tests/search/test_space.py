import json

import numpy as np
import optuna
import pytest
from pydantic import ValidationError

from search.baselines import BASELINES, RESNET8
from search.space import ENCODING_NAMES, RANK_FRACTIONS, ArchConfig, SearchSpace
from surrogate.features import ARCH_NAMES

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
        assert vector.shape == (len(ARCH_NAMES),) == (25,)
        named = dict(zip(ARCH_NAMES, vector, strict=True))
        assert (named["rank_classifier"], named["rank_wide"], named["head_features"]) == (1, 1, 0)
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


def test_the_rank_dimension_is_sampled_suggested_and_varied_only_where_enabled():
    ranked = SearchSpace.tiny().with_ranks()
    samples = _samples(ranked, 200)
    assert all(ranked.contains(cfg) for cfg in samples)
    assert {cfg.rank_wide for cfg in samples} == set(RANK_FRACTIONS)
    assert {cfg.rank_classifier for cfg in samples} == set(RANK_FRACTIONS)
    encoded = SearchSpace.encode_many(samples)
    assert set(encoded[:, ARCH_NAMES.index("rank_wide")]) == set(RANK_FRACTIONS)
    rng = np.random.default_rng(3)
    mutated = [ranked.mutate(cfg, rng) for cfg in samples[:100]]
    assert any(m.rank_wide != c.rank_wide for m, c in zip(mutated, samples, strict=False))
    assert all(
        ranked.contains(ranked.crossover(a, b, rng)) for a, b in zip(samples, mutated, strict=False)
    )
    # a dense space draws no rank (its random sequence is the one it had before)
    dense = _samples(SearchSpace.tiny(), 50)
    assert all(cfg.rank_wide == cfg.rank_classifier == 1.0 for cfg in dense)
    assert not SearchSpace.tiny().contains(samples[0].model_copy(update={"rank_wide": 0.3}))

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    with_ranks = [ranked.suggest(study.ask()) for _ in range(40)]
    assert {"rank_classifier", "rank_wide"} <= set(study.trials[0].params)
    assert len({cfg.rank_wide for cfg in with_ranks}) > 1
    plain = optuna.create_study()
    SearchSpace.tiny().suggest(plain.ask())
    assert not {"rank_classifier", "rank_wide"} & set(plain.trials[0].params)


def test_old_descriptions_parse_dense_and_keep_their_ids():
    old = json.loads(RESNET8.to_json())
    assert not {"rank_classifier", "rank_wide", "head_features"} & set(old)
    parsed = ArchConfig.model_validate(old)
    assert parsed.rank_wide == parsed.rank_classifier == 1.0 and parsed.head_features == 0
    assert parsed.id == RESNET8.id
    factorised = RESNET8.model_copy(update={"rank_wide": 0.25})
    assert factorised.id != RESNET8.id
    assert ArchConfig.from_json(factorised.to_json()) == factorised
    with pytest.raises(ValidationError, match="rank_classifier"):
        ArchConfig.model_validate({**old, "head_features": 64, "rank_classifier": 0.5})
    with pytest.raises(ValidationError, match="rank_wide"):
        ArchConfig.model_validate({**old, "rank_wide": 0})
    with pytest.raises(ValidationError, match="rank_wide"):
        SearchSpace(rank_wide=(0.5, 1.5))
    headed = SearchSpace.tiny().with_head(128).with_ranks()
    assert headed.rank_classifier == (1.0,) and headed.head_features == 128
    assert all(cfg.head_features == 128 for cfg in _samples(headed, 20))
