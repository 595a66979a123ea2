import numpy as np
import pytest
import torch

from search.baselines import RESNET8, RESNET20, RESNET32
from search.model import build_model
from search.space import SearchSpace

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
