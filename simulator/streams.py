"""Random streams: one per purpose, derived from the caller's seed.

Equal seeds given to different calls (``program`` and ``drift``, drifts to different times, a
post-training step and an evaluation) must never share noise: two noises drawn from one stream are
perfectly correlated, and their errors add linearly instead of in quadrature. Every purpose
therefore draws from its own generator, seeded with a 64-bit hash of (seed, purpose, keys), e.g.
``(7, "read", 3600.0)``; the same seed still gives the same numbers, and ``seed=None`` gives fresh,
nondeterministic ones.
"""

from __future__ import annotations

import hashlib
import json
import operator

import torch

Key = int | float | str

PROGRAMMING = "programming"  # programming noise of the conductances
DRIFT_PARAMETERS = "drift-parameters"  # per-device drift exponents (RRAM: relaxation directions)
REFERENCE_READ = "reference-read"  # the read right after programming (drift compensation)
READ = "read"  # read noise of a drift to time t (key: t)
OUTPUT_NOISE = "output-noise"  # the periphery's output-noise pool (key: t, or "programmed")


def derive_seed(seed: int, purpose: str, *keys: Key) -> int:
    """The 64-bit seed of ``purpose`` (and ``keys``, e.g. a time in seconds) under ``seed``.

    Keys are typed: ``1`` and ``1.0`` are different keys; floats are hashed by their exact value.
    """
    text = json.dumps([operator.index(seed), purpose, *keys])
    digest = hashlib.blake2b(text.encode(), digest_size=8, person=b"xbarnas.stream")
    return int.from_bytes(digest.digest(), "little")


def stream(
    seed: int | None, purpose: str, *keys: Key, device: torch.device | str
) -> torch.Generator:
    """A generator on ``device`` for ``purpose`` under ``seed`` (None: seeded at random)."""
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(derive_seed(seed, purpose, *keys))
    return generator


class RandomStreams:
    """The generators of one call (e.g. one ``program``), made on first use.

    Asking for a purpose again continues its stream: the layers of a model take turns on one
    generator per purpose and so draw different numbers.
    """

    def __init__(self, seed: int | None, device: torch.device | str) -> None:
        self.seed = seed
        self.device = device
        self._generators: dict[str, torch.Generator] = {}

    def __call__(self, purpose: str, *keys: Key) -> torch.Generator:
        name = json.dumps([purpose, *keys])  # typed: 1 and 1.0 are different keys
        if name not in self._generators:
            self._generators[name] = stream(self.seed, purpose, *keys, device=self.device)
        return self._generators[name]
