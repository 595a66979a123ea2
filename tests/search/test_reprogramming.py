"""Reprogramming interval on synthetic drift curves: crossing, no crossing, noisy."""

import math

import numpy as np
import pytest

from search.reprogramming import (
    DAY,
    EXTENDED_TIMES,
    YEAR,
    duration,
    non_increasing,
    reprogramming_intervals,
)

TIMES = EXTENDED_TIMES


def _log_linear(start: float, points_per_decade: float) -> list[float]:
    """An accuracy that falls ``points_per_decade`` points per decade of time after 1 s."""
    return [start - points_per_decade / 100 * math.log10(t) for t in TIMES]


def test_the_grid_reaches_ten_years_from_one_second_through_the_verification_times():
    assert TIMES[0] == 1.0 and TIMES[-1] == 10 * YEAR
    assert {1.0, 3600.0, DAY, 30 * DAY, YEAR} <= set(TIMES)
    assert list(TIMES) == sorted(set(TIMES))


def test_a_crossing_is_interpolated_in_log_time():
    # 0.5 points per decade: 1 point below the 1-s accuracy after exactly two decades (100 s)
    intervals = reprogramming_intervals(TIMES, _log_linear(0.95, 0.5), [0.0] * len(TIMES))
    assert intervals.reference_accuracy == pytest.approx(0.95)
    assert intervals.threshold == pytest.approx(0.94)
    assert intervals.mean.seconds == pytest.approx(100.0, rel=1e-6)
    assert intervals.mean.label == "1.7 min"
    assert intervals.lower_band == intervals.mean  # no spread over chips: the same crossing
    wider = reprogramming_intervals(TIMES, _log_linear(0.95, 0.5), [0.0] * len(TIMES), 3.0)
    assert wider.mean.seconds == pytest.approx(1e6, rel=1e-6)  # six decades for 3 points


def test_the_lower_band_crosses_first():
    std = [0.001 * (1 + math.log10(t)) for t in TIMES]  # the chips spread as they drift
    intervals = reprogramming_intervals(TIMES, _log_linear(0.95, 0.2), std)
    assert intervals.mean.seconds == pytest.approx(1e5, rel=1e-6)
    assert intervals.lower_band.seconds < intervals.mean.seconds
    # mean - 2 std = 0.948 - 0.004 log10 t crosses 0.94 at log10 t = 2
    assert intervals.lower_band.seconds == pytest.approx(100.0, rel=1e-6)


def test_a_band_below_the_threshold_at_one_second_crosses_from_the_start():
    intervals = reprogramming_intervals(TIMES, [0.95] * len(TIMES), [0.01] * len(TIMES))
    assert intervals.mean.seconds is None
    assert intervals.lower_band.seconds == 1.0
    assert intervals.lower_band.label == "from the start (1 s)"


def test_no_crossing_within_ten_years():
    intervals = reprogramming_intervals(TIMES, _log_linear(0.95, 0.05), [0.001] * len(TIMES))
    assert intervals.mean.seconds is None and intervals.lower_band.seconds is None
    assert intervals.mean.label == "longer than 10 years"
    assert intervals.horizon_seconds == 10 * YEAR


def test_noisy_curves_cross_near_the_true_crossing_not_at_a_chance_dip():
    true = _log_linear(0.95, 0.25)  # 1 point after four decades: 10^4 s
    rng = np.random.default_rng(0)
    found = []
    for _ in range(200):
        noisy = np.array(true) + rng.normal(0, 0.001, len(TIMES))  # 0.1-point MC noise
        found.append(reprogramming_intervals(TIMES, noisy, [0.0] * len(TIMES)).mean.seconds)
    found = np.log10(found)
    assert abs(np.median(found) - 4.0) < 0.1  # unbiased
    assert np.quantile(found, 0.05) > 3.0 and np.quantile(found, 0.95) < 5.0  # within a decade
    # a lone chance dip below the threshold at 1 min is outvoted by its neighbours
    dip = list(true)
    dip[TIMES.index(60.0)] = 0.9395
    assert reprogramming_intervals(TIMES, dip, [0.0] * len(TIMES)).mean.seconds > 3600.0
    # flat noise never makes up a crossing out of nothing
    flat = 0.95 + rng.normal(0, 0.001, len(TIMES))
    assert reprogramming_intervals(TIMES, flat, [0.0] * len(TIMES)).mean.seconds is None


def test_non_increasing_pools_adjacent_violators():
    assert non_increasing([3, 1, 2, 0]) == [3, 1.5, 1.5, 0]
    assert non_increasing([1, 2, 3]) == [2, 2, 2]
    assert non_increasing([5, 4, 3]) == [5, 4, 3]


def test_durations_read_naturally():
    assert [duration(s) for s in (0.5, 45, 600, 3600, 5 * 3600, 41 * DAY, 2.3 * YEAR)] == [
        "0.5 s",
        "45 s",
        "10 min",
        "1 hour",
        "5 hours",
        "41 days",
        "2.3 years",
    ]


@pytest.mark.parametrize(
    ("times", "tolerance", "message"),
    [(TIMES, 0.0, "tolerance"), ((10.0, 1.0), 1.0, "times"), ((0.0, 1.0), 1.0, "times")],
)
def test_bad_arguments_name_themselves(times, tolerance, message):
    with pytest.raises(ValueError, match=message):
        reprogramming_intervals(times, [0.9] * len(times), [0.0] * len(times), tolerance)
