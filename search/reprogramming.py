"""Reprogramming interval: how long a programmed chip keeps its accuracy.

The interval is the time until the mean accuracy over chips falls ``tolerance`` points below its
1-second accuracy (and, stricter, until the lower band, mean - 2 std over chips, falls below that
same threshold), interpolated linearly in log-time between the times of a drift grid that reaches
10 years. Monte Carlo noise makes a measured curve wobble; drift only erodes accuracy, so each
curve is first made non-increasing by isotonic regression (pool adjacent violators): a chance
dip no more brings the crossing forward than a chance bump delays it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

MINUTE, HOUR, DAY, YEAR = 60.0, 3600.0, 86400.0, 31536000.0
MONTH = 30 * DAY  # as the verification's 1-month time (2 592 000 s)
EXTENDED_TIMES = (
    1.0,
    10.0,
    MINUTE,
    10 * MINUTE,
    HOUR,
    6 * HOUR,
    DAY,
    3 * DAY,
    7 * DAY,
    14 * DAY,
    MONTH,
    3 * MONTH,
    6 * MONTH,
    YEAR,
    2 * YEAR,
    5 * YEAR,
    10 * YEAR,
)
"""The drift grid of the interval: 1 s to 10 years, the verification's times among them."""
DEFAULT_TOLERANCE = 1.0  # accuracy points


@dataclass(frozen=True)
class Interval:
    """When a curve first falls below the threshold: ``seconds`` (None: not within the grid)."""

    seconds: float | None
    label: str  # e.g. "3.2 days", "longer than 10 years", "from the start (1 s)"


def non_increasing(values: Sequence[float]) -> list[float]:
    """The non-increasing sequence closest to ``values`` in least squares (pool adjacent
    violators)."""
    blocks: list[list[float]] = []  # [mean, weight]
    for value in values:
        blocks.append([float(value), 1.0])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            mean, weight = blocks.pop()
            previous = blocks[-1]
            previous[0] = (previous[0] * previous[1] + mean * weight) / (previous[1] + weight)
            previous[1] += weight
    return [mean for mean, weight in blocks for _ in range(int(weight))]


def crossing(times: Sequence[float], values: Sequence[float], threshold: float) -> Interval:
    """The first time a (non-increasing) curve is below ``threshold``, interpolated in log-time
    between the grid's times."""
    if values[0] < threshold:
        return Interval(times[0], f"from the start ({duration(times[0])})")
    for (t0, v0), (t1, v1) in itertools.pairwise(zip(times, values, strict=True)):
        if v1 < threshold:
            fraction = (v0 - threshold) / (v0 - v1)
            seconds = math.exp(math.log(t0) + fraction * (math.log(t1) - math.log(t0)))
            return Interval(seconds, duration(seconds))
    return Interval(None, f"longer than {duration(times[-1])}")


@dataclass(frozen=True)
class Reprogramming:
    """The reprogramming intervals of one drift curve."""

    tolerance_points: float
    reference_accuracy: float  # at 1 s (of the non-increasing fit)
    threshold: float  # reference - tolerance
    horizon_seconds: float  # the drift grid's last time
    mean: Interval  # when the mean accuracy over chips falls below the threshold
    lower_band: Interval  # when mean - 2 std over chips does

    def to_dict(self) -> dict:
        return asdict(self)


def reprogramming_intervals(
    times: Sequence[float],
    mean: Sequence[float],
    std: Sequence[float],
    tolerance: float = DEFAULT_TOLERANCE,
) -> Reprogramming:
    """The intervals of one candidate's drift curve (accuracies as fractions, ``tolerance`` in
    points; the first time is the reference, 1 s)."""
    if tolerance <= 0:
        raise ValueError("tolerance: must be > 0 points")
    if not times or times[0] <= 0 or list(times) != sorted(times):
        raise ValueError("times: give increasing drift times > 0, the first one the reference")
    fitted = non_increasing(mean)
    threshold = fitted[0] - tolerance / 100
    band = non_increasing([m - 2 * s for m, s in zip(mean, std, strict=True)])
    return Reprogramming(
        tolerance,
        fitted[0],
        threshold,
        times[-1],
        crossing(times, fitted, threshold),
        crossing(times, band, threshold),
    )


def duration(seconds: float) -> str:
    """A drift time in words: ``"45 s"``, ``"3.2 hours"``, ``"41 days"``, ``"2.3 years"``."""
    units = (("years", YEAR), ("days", DAY), ("hours", HOUR), ("min", MINUTE))
    for name, size in units:
        if seconds >= size:
            value = seconds / size
            text = f"{value:.2g}" if value < 10 else f"{value:.0f}"
            return f"{text} {name.removesuffix('s') if text == '1' else name}"
    return f"{seconds:.2g} s"
