"""The self-checks of chapter 2 (igrlib/checks/euler.py): right answers pass, plausible wrong ones fail."""

import math

import numpy as np
import pytest

import igrlib as igr
from igrlib.coursework.checks import available_checks, run_check

# --- euler-global-order ----------------------------------------------------------------------------


def global_order(loss, theta0, T, lrs):
    """The chapter's solution."""
    exact = igr.gradient_flow(loss, theta0, [0.0, T])[-1]
    errors = [np.linalg.norm(igr.gd(loss, theta0, h, round(T / h))[-1] - exact) for h in lrs]
    return float(np.polyfit(np.log(lrs), np.log(errors), 1)[0])


def global_order_max_norm(loss, theta0, T, lrs):
    """Also right: another vector norm for the error changes the fitted slope very little."""
    exact = igr.gradient_flow(loss, theta0, [0.0, T])[-1]
    errors = [np.max(np.abs(igr.gd(loss, theta0, h, round(T / h))[-1] - exact)) for h in lrs]
    return np.polyfit(np.log(lrs), np.log(errors), 1)[0]


def one_step_order(loss, theta0, T, lrs):
    """Wrong: measures the local error (one step), whose order is 2."""
    errors = [
        np.linalg.norm(igr.gd(loss, theta0, h, 1)[-1] - igr.gradient_flow(loss, theta0, [0.0, h])[-1]) for h in lrs
    ]
    return np.polyfit(np.log(lrs), np.log(errors), 1)[0]


def slope_against_steps(loss, theta0, T, lrs):
    """Wrong: fits log(error) against log(n) instead of log(h), so the sign flips."""
    exact = igr.gradient_flow(loss, theta0, [0.0, T])[-1]
    errors = [np.linalg.norm(igr.gd(loss, theta0, h, round(T / h))[-1] - exact) for h in lrs]
    return np.polyfit(np.log(T / np.asarray(lrs)), np.log(errors), 1)[0]


def fixed_steps(loss, theta0, T, lrs):
    """Wrong: runs the same number of steps for every h, so the end times differ."""
    exact = igr.gradient_flow(loss, theta0, [0.0, T])[-1]
    errors = [np.linalg.norm(igr.gd(loss, theta0, h, 8)[-1] - exact) for h in lrs]
    return np.polyfit(np.log(lrs), np.log(errors), 1)[0]


def textbook_answer(loss, theta0, T, lrs):
    """Wrong: returns the asymptotic order without measuring it."""
    return 1.0


def not_a_number(loss, theta0, T, lrs):
    """Wrong: returns every error instead of the slope."""
    exact = igr.gradient_flow(loss, theta0, [0.0, T])[-1]
    return np.array([np.linalg.norm(igr.gd(loss, theta0, h, round(T / h))[-1] - exact) for h in lrs])


# --- euler-steps-to-tol ----------------------------------------------------------------------------


def steps_to_tol(lam, lr, tol):
    """The chapter's solution."""
    q = abs(1.0 - lr * lam)
    if q >= 1.0:
        return math.inf
    if q == 0.0:
        return 1
    return math.ceil(math.log(tol) / math.log(q))


def steps_by_loop(lam, lr, tol):
    """Also right: iterate the factor (slower, same answer)."""
    q = abs(1.0 - lr * lam)
    if q >= 1.0:
        return math.inf
    n, size = 0, 1.0
    while size > tol:
        n, size = n + 1, size * q
    return n


def steps_small_h_approximation(lam, lr, tol):
    """Wrong: log(1 - h lam) ~ -h lam, the small-step approximation."""
    if lr * lam >= 2:
        return math.inf
    return math.ceil(math.log(1 / tol) / (lr * lam))


def steps_rounded_down(lam, lr, tol):
    """Wrong: floor instead of ceil, one step short."""
    q = abs(1.0 - lr * lam)
    if q >= 1.0:
        return math.inf
    if q == 0.0:
        return 1
    return math.floor(math.log(tol) / math.log(q))


def steps_without_abs(lam, lr, tol):
    """Wrong: forgets that 1 - h lam is negative when h lam > 1 (log of a negative number)."""
    q = 1.0 - lr * lam
    if abs(q) >= 1.0:
        return math.inf
    if q == 0.0:
        return 1
    return math.ceil(math.log(tol) / math.log(q))


def steps_big_instead_of_inf(lam, lr, tol):
    """Wrong: a large number instead of math.inf when GD never gets there."""
    answer = steps_to_tol(lam, lr, tol)
    return 10**9 if math.isinf(answer) else answer


def steps_h_lam_two_converges(lam, lr, tol):
    """Wrong: treats h lam = 2 (|1 - h lam| = 1) as convergent and divides by log(1) = 0."""
    q = abs(1.0 - lr * lam)
    if q > 1.0:
        return math.inf
    if q == 0.0:
        return 1
    return math.ceil(math.log(tol) / math.log(q))


def stub(*args):
    raise NotImplementedError


CASES = {
    "euler-global-order": {
        "right": [global_order, global_order_max_norm],
        "wrong": [one_step_order, slope_against_steps, fixed_steps, textbook_answer, not_a_number],
    },
    "euler-steps-to-tol": {
        "right": [steps_to_tol, steps_by_loop],
        "wrong": [
            steps_small_h_approximation,
            steps_rounded_down,
            steps_without_abs,
            steps_big_instead_of_inf,
            steps_h_lam_two_converges,
        ],
    },
}


def test_the_chapter_checks_are_registered():
    assert {"euler-global-order", "euler-steps-to-tol"} <= set(available_checks())


@pytest.mark.parametrize("name, answer", [(n, f) for n, c in CASES.items() for f in c["right"]])
def test_right_answers_pass(name, answer):
    passed, message = run_check(name, answer)
    assert passed, message


@pytest.mark.parametrize("name, answer", [(n, f) for n, c in CASES.items() for f in c["wrong"]])
def test_wrong_answers_fail(name, answer):
    passed, message = run_check(name, answer)
    assert not passed
    assert not message.startswith("TODO")


def test_check_prints_one_line(capsys):
    igr.check("euler-steps-to-tol", steps_to_tol)
    igr.check("euler-global-order", stub)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[PASS] euler-steps-to-tol:")
    assert lines[1].startswith("[TODO] euler-global-order:")


def test_the_order_problems_are_not_all_asymptotic():
    # A check that a hard-coded 1.0 could pass would not test anything: at least one problem must be
    # far enough from the asymptotic regime that the measured order is clearly not 1.
    from igrlib.coursework.checks.euler import ORDER_TOL, _measured_order, _order_problems

    orders = [_measured_order(loss, theta0, T, lrs) for _, loss, theta0, T, lrs in _order_problems()]
    assert all(0.5 < p < 1.5 for p in orders)
    assert max(abs(p - 1) for p in orders) > 5 * ORDER_TOL


def test_the_step_cases_cover_every_regime():
    from igrlib.coursework.checks.euler import _steps_cases

    x = np.array([lam * lr for lam, lr, _ in _steps_cases()])
    assert np.any(x < 1) and np.any(x == 1) and np.any((x > 1) & (x < 2)) and np.any(x == 2) and np.any(x > 2)
