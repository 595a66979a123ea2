import numpy as np
import pytest
import torch

from search.baselines import RESNET8, RESNET20, RESNET32
from search.model import RandomFeatureHead, build_model, factorised_layers
from search.space import SearchSpace
from simulator import AnalogLinear, DigitalLinear, HardwareConfig, cost, to_analog
from simulator.factorised import LowRankConv2d, LowRankLinear

SHAPES = {
    "digits": (1, 8, 8),
    "cifar10": (3, 32, 32),
    "kws": (1, 49, 10),
    "vww": (3, 96, 96),
    "features": (1, 1, 20),  # an uploaded N x F data set
}


class Shape:
    def __init__(self, input_shape, num_classes):
        self.input_shape, self.num_classes = input_shape, num_classes


@pytest.mark.parametrize("task", sorted(SHAPES))
def test_every_sampled_config_builds_and_runs(task):
    space = SearchSpace(out_channel0=(8, 16), R=(1, 2), B=(1, 2), widenfact=(1.0, 2.0))
    rng = np.random.default_rng(hash(task) % 1000)
    shape = Shape(SHAPES[task], 7)
    with torch.no_grad():
        for _ in range(12):
            cfg = space.sample(rng)
            model = build_model(cfg, shape).eval()
            out = model(torch.randn(2, *SHAPES[task]))
            assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("block", ["A", "B", "C", "D"])
def test_block_types_use_their_kernels_and_branches(block):
    from search.space import ArchConfig

    cfg = ArchConfig(
        out_channel0=8, M=2, R=(2, 1), B=(3, 1), convblock=(block, block), widenfact=(1.0, 2.0)
    )
    model = build_model(cfg, Shape((1, 8, 8), 10))
    kernels = {m.kernel_size[0] for m in model.modules() if isinstance(m, torch.nn.Conv2d)}
    expected = {"A": {3}, "B": {1, 3}, "C": {3, 1}, "D": {5, 3}}[block]
    assert expected <= kernels
    assert len(model[2].branches) == 3
    assert model(torch.randn(1, 1, 8, 8)).shape == (1, 10)


def test_widths_grow_with_the_widening_factor_and_resolution_halves_twice():
    model = build_model(RESNET8, Shape((3, 32, 32), 10))
    sizes = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
        for m in model
        if m.__class__.__name__ == "ResidualBlock"
    ]
    model(torch.randn(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    assert sizes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_baseline_sizes_match_the_references():
    params = {
        name: sum(p.numel() for p in build_model(cfg, Shape((3, 32, 32), 10)).parameters())
        for name, cfg in {"8": RESNET8, "20": RESNET20, "32": RESNET32}.items()
    }
    assert 77_000 < params["8"] < 79_000  # MLPerf Tiny ResNet-8: ~78 k
    assert 0.26e6 < params["20"] < 0.28e6 and 0.45e6 < params["32"] < 0.48e6  # He et al.


def test_rank_fractions_factorise_the_widest_branches_and_the_classifier():
    cfg = RESNET8.model_copy(update={"rank_wide": 0.25, "rank_classifier": 0.5})
    model = build_model(cfg, Shape((3, 32, 32), 10), seed=0)
    names = factorised_layers(cfg)
    modules = dict(model.named_modules())
    assert names and all(isinstance(modules[n], (LowRankConv2d, LowRankLinear)) for n in names)
    widest = cfg.channels()[-1]  # ResNet-8: 16-32-64, the last macro-block is the widest
    wide_convs = [modules[n] for n in names if isinstance(modules[n], LowRankConv2d)]
    assert len(wide_convs) == 2 and all(c.expand.out_channels == widest for c in wide_convs)
    assert isinstance(model[-1], LowRankLinear) and model[-1].reduce.out_features == 5  # 10 / 2
    out = model.eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    hw = HardwareConfig.preset("pcm", tile_rows=64, tile_cols=64)
    dense = cost(build_model(RESNET8, Shape((3, 32, 32), 10)), hw, (3, 32, 32))
    low = cost(model, hw, (3, 32, 32))
    assert low.tiles < dense.tiles and low.params < dense.params
    assert len(low.layers) == len(dense.layers) + len(names)  # both factors mapped


def test_a_random_feature_head_is_a_frozen_projection_on_tiles_and_a_digital_readout():
    cfg = RESNET8.model_copy(update={"head_features": 96})
    model = build_model(cfg, Shape((1, 8, 8), 10), seed=0)
    head = model[-1]
    assert isinstance(head, RandomFeatureHead) and head[0].n_features == 96
    assert not any(p.requires_grad for p in head[0].parameters())
    assert isinstance(head[1], DigitalLinear) and head[1].weight.requires_grad
    analog = to_analog(model, HardwareConfig.preset("pcm", tile_rows=64, tile_cols=64))
    assert isinstance(analog[-1][0].projection, AnalogLinear)
    assert not analog[-1][0].projection.weight.requires_grad  # stays frozen on the tiles
    assert type(analog[-1][1]) is DigitalLinear
    report = cost(analog, HardwareConfig.preset("pcm", tile_rows=64, tile_cols=64), (1, 8, 8))
    assert report.layers[-1].cols == 96  # the projection is the last analog layer
    same = build_model(cfg, Shape((1, 8, 8), 10), seed=0)[-1][0].projection.weight
    torch.testing.assert_close(same, head[0].projection.weight)  # the seed fixes it
