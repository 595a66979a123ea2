"""A trained dense network factorised after training: the factors of its widest layers and
classifier computed by a randomized SVD (on the chip's tiles or exactly) and checked."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from search.model import factorised_layers
from search.space import ArchConfig
from simulator import HardwareConfig, to_analog, to_digital
from simulator.factorised import factorise_model, rank_of


@dataclass(frozen=True)
class FactorisedNetwork:
    """The factorised architecture, its analog network (eval mode; DAC ranges not calibrated)
    and per factorised layer its rank and relative errors (``Factorisation.to_dict``)."""

    cfg: ArchConfig
    model: nn.Module
    report: dict

    def notes(self) -> dict:
        """The factorisation for a bundle's manifest."""
        return {"factorisation": self.report}


def factorise_trained(
    cfg: ArchConfig,
    analog: nn.Module,
    hw: HardwareConfig,
    rank_wide: float = 1.0,
    rank_classifier: float = 1.0,
    on_chip: bool = True,
    seed: int = 0,
) -> FactorisedNetwork:
    """``cfg``'s trained ``analog`` network with its widest branch convolutions and classifier
    factorised at the given rank fractions: each layer's factors by a randomized SVD of its
    trained weights, the products on ``hw``'s tiles (``on_chip``) or exact, with its relative
    error against the dense weights. Only dense parts can be factorised (``ValueError`` naming
    the fraction otherwise); the result loads as ``build_model`` builds the factorised
    architecture."""
    if cfg.head_features and rank_classifier < 1:
        raise ValueError("rank_classifier: a random-feature head has no classifier to factorise")
    for name, fraction in (("rank_wide", rank_wide), ("rank_classifier", rank_classifier)):
        if fraction < 1 and getattr(cfg, name) < 1:
            raise ValueError(f"{name}: the architecture's layers are already factorised")
    target = ArchConfig.model_validate(
        {
            **cfg.model_dump(),
            "rank_wide": min(rank_wide, cfg.rank_wide),
            "rank_classifier": min(rank_classifier, cfg.rank_classifier),
        }
    )
    dense_names = set(factorised_layers(cfg))
    digital = to_digital(analog).eval()
    modules = dict(digital.named_modules())
    ranks = {
        name: rank_of(modules[name], fraction)
        for name, fraction in factorised_layers(target).items()
        if name not in dense_names
    }
    done = factorise_model(digital, ranks, hw if on_chip else None, seed)
    report = {
        "method": "analog randomized SVD" if on_chip else "randomized SVD",
        "seed": seed,
        "layers": {name: f.to_dict() for name, f in done.items()},
    }
    return FactorisedNetwork(target, to_analog(digital, hw).eval(), report)
