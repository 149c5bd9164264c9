"""The self-checks of chapter 5 (igrlib/checks/experiments.py): right answers pass, plausible wrong ones fail."""

import numpy as np
import pytest

from igrlib.coursework.checks import run_check

# --- experiments-power-iteration ---------------------------------------------------------------------


def top_eigenvalue(hvp, v0, iters):
    """The chapter's solution."""
    v = v0 / np.linalg.norm(v0)
    for _ in range(iters):
        w = hvp(v)
        v = w / np.linalg.norm(w)
    return float(v @ hvp(v))


def top_eigenvalue_by_norm(hvp, v0, iters):
    """Also right for a positive semidefinite H: |H v| of a converged unit vector."""
    v = v0 / np.linalg.norm(v0)
    for _ in range(iters):
        w = hvp(v)
        v = w / np.linalg.norm(w)
    return np.linalg.norm(hvp(v))


def unnormalised_rayleigh(hvp, v0, iters):
    """Wrong: forgets to divide the Rayleigh quotient by |v|^2 (v0 is not a unit vector)."""
    v = v0.copy()
    for _ in range(iters):
        w = hvp(v)
        v = w / np.linalg.norm(w) * np.linalg.norm(v0)
    return float(v @ hvp(v))


def too_few_steps(hvp, v0, iters):
    """Wrong: one product, no iteration."""
    v = v0 / np.linalg.norm(v0)
    return float(v @ hvp(v))


def returns_the_vector(hvp, v0, iters):
    """Wrong: returns the eigenvector instead of the eigenvalue."""
    v = v0 / np.linalg.norm(v0)
    for _ in range(iters):
        w = hvp(v)
        v = w / np.linalg.norm(w)
    return v


def not_attempted(hvp, v0, iters):
    raise NotImplementedError


@pytest.mark.parametrize("answer", [top_eigenvalue, top_eigenvalue_by_norm])
def test_power_iteration_accepts_right_answers(answer):
    passed, message = run_check("experiments-power-iteration", answer)
    assert passed, message


@pytest.mark.parametrize("answer", [unnormalised_rayleigh, too_few_steps, returns_the_vector])
def test_power_iteration_rejects_wrong_answers(answer):
    passed, message = run_check("experiments-power-iteration", answer)
    assert not passed
    assert "Rayleigh" in message or "shape" in message


# --- experiments-crossing-time -----------------------------------------------------------------------


def crossing_time(t, loss, target):
    """The chapter's solution."""
    loss = np.asarray(loss, dtype=float)
    below = loss <= target
    hit = below.any(axis=-1)
    j = np.argmax(below, axis=-1)
    i = np.maximum(j - 1, 0)
    lj = np.take_along_axis(loss, j[..., None], -1)[..., 0]
    li = np.take_along_axis(loss, i[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(j > 0, (li - target) / (li - lj), 0.0)
    out = np.where(hit, t[i] + frac * (t[j] - t[i]), np.nan)
    return out if out.ndim else float(out)


def crossing_time_loop(t, loss, target):
    """Also right: a plain loop over the records, row by row."""
    loss = np.asarray(loss, dtype=float)
    if loss.ndim > 1:
        return np.array([crossing_time_loop(t, row, target) for row in loss])
    for k, value in enumerate(loss):
        if value <= target:
            if k == 0:
                return float(t[0])
            return float(t[k - 1] + (loss[k - 1] - target) / (loss[k - 1] - value) * (t[k] - t[k - 1]))
    return float("nan")


def first_record(t, loss, target):
    """Wrong: the first record below the target, without interpolating (the chapter's coarse readout)."""
    loss = np.asarray(loss, dtype=float)
    below = loss <= target
    out = np.where(below.any(axis=-1), t[np.argmax(below, axis=-1)], np.nan)
    return out if out.ndim else float(out)


def never_nan(t, loss, target):
    """Wrong: argmax of an all-False row is 0, so a history that never arrives reports t = 0."""
    loss = np.asarray(loss, dtype=float)
    j = np.argmax(loss <= target, axis=-1)
    out = t[j]
    return out if np.ndim(out) else float(out)


def last_crossing(t, loss, target):
    """Wrong: interpolates at the last crossing, after a bounce."""
    loss = np.asarray(loss, dtype=float)
    if loss.ndim > 1:
        return np.array([last_crossing(t, row, target) for row in loss])
    result = float("nan")
    for k in range(len(loss) - 1, -1, -1):
        if loss[k] <= target and (k == 0 or loss[k - 1] > target):
            result = float(t[0]) if k == 0 else t[k - 1] + (loss[k - 1] - target) / (loss[k - 1] - loss[k])
            break
    return result


def stack_unaware(t, loss, target):
    """Wrong: flattens a stack into one history."""
    return crossing_time_loop(t, np.ravel(loss), target) if np.ndim(loss) > 1 else crossing_time_loop(t, loss, target)


@pytest.mark.parametrize("answer", [crossing_time, crossing_time_loop])
def test_crossing_time_accepts_right_answers(answer):
    passed, message = run_check("experiments-crossing-time", answer)
    assert passed, message


@pytest.mark.parametrize("answer", [first_record, never_nan, last_crossing, stack_unaware])
def test_crossing_time_rejects_wrong_answers(answer):
    passed, message = run_check("experiments-crossing-time", answer)
    assert not passed
    assert "2.5" not in message  # hints, never the answer itself


# --- both -------------------------------------------------------------------------------------------


