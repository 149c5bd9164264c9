"""The self-checks of chapter 8 (igrlib/coursework/checks/study.py): right answers pass, plausible wrong ones fail."""

import numpy as np
import pytest
from scipy import stats

from igrlib import study
from igrlib.coursework.checks import run_check


def split_interval(d):
    rows = np.asarray(d).mean(axis=1)
    return stats.t.interval(0.95, rows.size - 1, loc=rows.mean(), scale=stats.sem(rows))


def split_interval_by_hand(d):
    rows = np.asarray(d).mean(axis=1)
    half = stats.t.ppf(0.975, len(rows) - 1) * rows.std(ddof=1) / len(rows) ** 0.5
    return [rows.mean() - half, rows.mean() + half]


def all_pairs(d):
    """Wrong: every difference as an independent replicate."""
    d = np.asarray(d).ravel()
    return stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=stats.sem(d))


def seed_level(d):
    """Wrong: the seeds (columns) as the replicates."""
    return split_interval(np.asarray(d).T)


def normal_quantile(d):
    """Wrong: 1.96 instead of the t quantile with J - 1 degrees of freedom."""
    rows = np.asarray(d).mean(axis=1)
    return rows.mean() - 1.96 * stats.sem(rows), rows.mean() + 1.96 * stats.sem(rows)


def uses_the_library(d):
    ci = study.crossed(d)["splits"]
    return ci["low"], ci["high"]


@pytest.mark.parametrize("answer", [split_interval, split_interval_by_hand])
def test_split_interval_accepts_right_answers(answer):
    passed, message = run_check("study-split-interval", answer)
    assert passed, message


@pytest.mark.parametrize(
    "answer, hint",
    [(all_pairs, "independent"), (seed_level, "t-interval"), (normal_quantile, "t-interval"),
     (uses_the_library, "switched off")],
)  # fmt: skip
def test_split_interval_rejects_wrong_answers(answer, hint):
    passed, message = run_check("study-split-interval", answer)
    assert not passed and hint in message, message


def detectable(sd, k, level, power):
    return (stats.t.ppf(0.5 + level / 2, k - 1) + stats.t.ppf(power, k - 1)) * sd / np.sqrt(k)


def with_normal(sd, k, level, power):
    """Wrong: normal quantiles."""
    return (stats.norm.ppf(0.5 + level / 2) + stats.norm.ppf(power)) * sd / np.sqrt(k)


def half_width(sd, k, level, power):
    """Wrong: the interval's half-width, power ignored."""
    return stats.t.ppf(0.5 + level / 2, k - 1) * sd / np.sqrt(k)


def one_sided(sd, k, level, power):
    """Wrong: a one-sided critical value."""
    return (stats.t.ppf(level, k - 1) + stats.t.ppf(power, k - 1)) * sd / np.sqrt(k)


def test_detectable_accepts_the_right_answer():
    passed, message = run_check("study-detectable", detectable)
    assert passed, message


@pytest.mark.parametrize(
    "answer, hint", [(with_normal, "not the normal"), (half_width, "half-width"), (one_sided, "is off")]
)
def test_detectable_rejects_wrong_answers(answer, hint):
    passed, message = run_check("study-detectable", answer)
    assert not passed and hint in message, message
