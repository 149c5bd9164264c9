r"""Self-checks for chapter 8, *The study* (``book/08_study.ipynb``).

``study-split-interval``: the student's 95 % interval of a mean paired difference from a crossed
design (rows: splits, columns: initialisation seeds) with the splits as the replicates, on
fresh matrices, compared with the check's own computation.

``study-detectable``: the student's smallest effect that a paired t-test detects with a given
power, on fresh standard deviations, replicate counts, levels and powers.
The messages give hints, never the answer.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from . import fresh_rng, real_array, real_number, register

__all__ = []

_OFF = ("igrlib.study.crossed", "igrlib.study.paired", "igrlib.study.gains", "igrlib.study.detectable")


def _split_interval(d):
    """The check's own interval: the row means as replicates."""
    rows = d.mean(axis=1)
    half = stats.t.ppf(0.975, rows.size - 1) * rows.std(ddof=1) / np.sqrt(rows.size)
    return rows.mean() - half, rows.mean() + half


@register("study-split-interval", without=_OFF, why="compute the interval from the matrix yourself")
def _split_interval_check(answer):
    rng = fresh_rng()
    for J, I in [(3, 8), (4, 4), (5, 2)]:
        d = rng.normal(0.2, 0.1, (J, 1)) + rng.normal(0, 0.05, (1, I)) + rng.normal(0, 0.02, (J, I))
        got = real_array(answer(d.copy()))
        if got is None or got.shape != (2,):
            return False, "return two real numbers, the interval's lower and upper bound"
        want = np.array(_split_interval(d))
        if np.allclose(got, want, rtol=1e-9, atol=1e-12):
            continue
        naive = stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=stats.sem(d.ravel()))
        if np.allclose(got, naive, rtol=1e-9, atol=1e-12):
            return False, (
                f"on a {J} x {I} matrix you treated all {d.size} differences as independent; the replicates "
                "here are the splits: average each row first"
            )
        if not np.isclose(got.mean(), d.mean(), rtol=1e-9, atol=1e-12):
            return False, "the interval should be centred on the mean of all the differences"
        return False, (
            f"on a {J} x {I} matrix your interval [{got[0]:.4g}, {got[1]:.4g}] is not the 95 % t-interval of the "
            f"{J} row means ({J - 1} degrees of freedom)"
        )
    return True, "right on three fresh crossed designs"


def _detectable(sd, k, level, power):
    return (stats.t.ppf(0.5 + level / 2, k - 1) + stats.t.ppf(power, k - 1)) * sd / np.sqrt(k)


@register("study-detectable", without=_OFF, why="compute the smallest detectable effect yourself")
def _detectable_check(answer):
    rng = fresh_rng()
    cases = [(0.3, 20, 0.95, 0.8), (float(rng.uniform(0.05, 2)), int(rng.integers(3, 40)), 0.9, 0.9)]
    cases.append((float(rng.uniform(0.05, 2)), int(rng.integers(3, 40)), 1 - 0.05 / 3, 0.8))
    for sd, k, level, power in cases:
        got = real_number(answer(sd, k, level, power))
        if got is None:
            return False, "return one real number (a float), the effect"
        want = _detectable(sd, k, level, power)
        if abs(got - want) <= 1e-9 * want:
            continue
        normal = (stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)) * sd / np.sqrt(k)
        if abs(got - normal) <= 1e-9 * normal:
            return False, f"with k = {k} pairs use the t distribution with k - 1 degrees of freedom, not the normal"
        if abs(got - stats.t.ppf(0.5 + level / 2, k - 1) * sd / np.sqrt(k)) <= 1e-9 * want:
            return False, "that is the interval's half-width; to be detected with the given power, add a term"
        return False, f"for sd = {sd:.3g}, k = {k}, level = {level:.4g}, power = {power:g} your effect {got:.4g} is off"
    return True, "right on three cases, two of them fresh"
