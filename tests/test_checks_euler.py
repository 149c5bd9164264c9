"""The self-checks of chapter 2 (igrlib/coursework/checks/euler.py): right answers pass, plausible wrong ones fail."""

import math

import numpy as np
import pytest

import igrlib as igr
from igrlib.coursework.checks import available_checks, run_check

# --- euler-error-constant --------------------------------------------------------------------------
# The right answer is taken from the chapter (tests/test_checks_solutions.py); these are others.


def measured_constant(lam, T):
    """Also right: measure (theta_n - theta(T)) / (h theta_0) with plain numpy, Richardson-extrapolated to h = 0."""

    def at(n):  # (1 - h lam)^n through log1p: a plain power loses digits for large lam T
        h = T / n
        return (np.exp(n * np.log1p(-h * lam)) - np.exp(-lam * T)) / h

    return float(2 * at(2**20) - at(2**19))


def wrong_sign(lam, T):
    return 0.5 * lam**2 * T * np.exp(-lam * T)


def without_decay(lam, T):  # forgets that theta(T) itself decays
    return -0.5 * lam**2 * T


def local_error_constant(lam, T):  # the one-step constant h^2 lam^2 / 2, not the global one
    return 0.5 * lam**2


def not_a_number(lam, T):
    return [-0.5 * lam**2 * T * np.exp(-lam * T)]


def with_gd(lam, T):  # a simulation with the library: switched off by the check
    h = T / 4096
    return float((igr.gd(igr.quadratic([[lam]]), [1.0], h, 4096)[-1, 0] - np.exp(-lam * T)) / h)


class Rigged(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def rigged(lam, T):
    return Rigged(0.0)


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
    "euler-error-constant": {
        "right": [measured_constant],
        "wrong": [wrong_sign, without_decay, local_error_constant, not_a_number, with_gd, rigged],
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
    assert {"euler-error-constant", "euler-steps-to-tol"} <= set(available_checks())


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
    igr.check("euler-error-constant", stub)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[PASS] euler-steps-to-tol:")
    assert lines[1].startswith("[TODO] euler-error-constant:")


def test_with_gd_is_told_to_do_it_without():
    passed, message = run_check("euler-error-constant", with_gd)
    assert not passed and "PermissionError" in message and "igrlib.gd" in message


def test_the_step_cases_cover_every_regime():
    from igrlib.coursework.checks.euler import _steps_cases

    x = np.array([lam * lr for lam, lr, _ in _steps_cases()])
    assert np.any(x < 1) and np.any(x == 1) and np.any((x > 1) & (x < 2)) and np.any(x == 2) and np.any(x > 2)
