"""The self-checks of chapter 2 (igrlib/coursework/checks/euler.py): right answers pass, plausible wrong ones fail."""

import math

import numpy as np
import pytest

import igrlib as igr
from igrlib.coursework.checks import available_checks, run_check

# --- euler-richardson ------------------------------------------------------------------------------
# The right answer is taken from the chapter (tests/test_checks_solutions.py); these are others.


def gd_end(A, theta0, lr, steps):
    """Gradient descent written out as a loop, with plain numpy."""
    theta = np.array(theta0, dtype=float)
    for _ in range(steps):
        theta = theta - lr * A @ theta
    return theta


def richardson_loop(A, theta0, T, lr):
    """Also right: the two runs as loops."""
    n = round(T / lr)
    return 2 * gd_end(A, theta0, lr / 2, 2 * n) - gd_end(A, theta0, lr, n)


def richardson_eigen(A, theta0, T, lr):
    """Also right: the two runs from the eigenvalues, (1 - h lam)^n along each eigenvector."""
    n = round(T / lr)
    lam, V = np.linalg.eigh(A)
    c = V.T @ theta0
    return V @ ((2 * (1 - lr / 2 * lam) ** (2 * n) - (1 - lr * lam) ** n) * c)


def fine_run_only(A, theta0, T, lr):
    return gd_end(A, theta0, lr / 2, 2 * round(T / lr))


def swapped_weights(A, theta0, T, lr):
    n = round(T / lr)
    return 2 * gd_end(A, theta0, lr, n) - gd_end(A, theta0, lr / 2, 2 * n)


def average_of_runs(A, theta0, T, lr):
    n = round(T / lr)
    return (gd_end(A, theta0, lr, n) + gd_end(A, theta0, lr / 2, 2 * n)) / 2


def exact_flow(A, theta0, T, lr):  # what the extrapolation estimates, computed with scipy: not the exercise
    import scipy.linalg

    return scipy.linalg.expm(-T * np.asarray(A)) @ theta0


def fine_run_with_n_steps(A, theta0, T, lr):  # the finer run stops at T / 2
    n = round(T / lr)
    return 2 * gd_end(A, theta0, lr / 2, n) - gd_end(A, theta0, lr, n)


def as_list_of_strings(A, theta0, T, lr):
    return [str(v) for v in richardson_loop(A, theta0, T, lr)]


def complex_answer(A, theta0, T, lr):
    return richardson_loop(A, theta0, T, lr) + 0j


def with_gradient_flow(A, theta0, T, lr):  # the flow from the library: switched off by the check
    return igr.gradient_flow(igr.quadratic(A), theta0, [0.0, T])[-1]


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
    "euler-richardson": {
        "right": [richardson_loop, richardson_eigen],
        "wrong": [
            fine_run_only,
            swapped_weights,
            average_of_runs,
            exact_flow,
            fine_run_with_n_steps,
            as_list_of_strings,
            complex_answer,
            with_gradient_flow,
        ],
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
    assert {"euler-richardson", "euler-steps-to-tol"} <= set(available_checks())


@pytest.mark.parametrize("name, answer", [(n, f) for n, c in CASES.items() for f in c["right"]])
def test_right_answers_pass(name, answer):
    passed, message = run_check(name, answer)
    assert passed, message


@pytest.mark.parametrize("name, answer", [(n, f) for n, c in CASES.items() for f in c["wrong"]])
def test_wrong_answers_fail(name, answer):
    passed, message = run_check(name, answer)
    assert not passed
    assert not message.startswith("TODO")


def test_check_prints_each_outcome_from_the_start_of_a_line(capsys):
    igr.check("euler-steps-to-tol", steps_to_tol)
    igr.check("euler-richardson", stub)
    outcomes = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]  # not wrapped parts
    assert len(outcomes) == 2
    assert outcomes[0].startswith("[PASS] euler-steps-to-tol:")
    assert outcomes[1].startswith("[TODO] euler-richardson:")


def test_with_gradient_flow_is_told_to_do_it_without():
    passed, message = run_check("euler-richardson", with_gradient_flow)
    assert not passed and "PermissionError" in message and "igrlib.gradient_flow" in message


@pytest.mark.parametrize("answer, hint", [(fine_run_only, "one run"), (swapped_weights, "weights"),
                                          (average_of_runs, "weights"), (exact_flow, "the flow itself")])
def test_wrong_extrapolations_get_their_hint(answer, hint):
    passed, message = run_check("euler-richardson", answer)
    assert not passed and hint in message


def test_the_extrapolation_is_second_order_where_the_runs_are_first_order():
    """The check's truth, 2 theta^(h/2) - theta^(h), approaches e^{-TA} theta_0 like h^2; each run like h."""
    A, theta0, T = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([1.0, -0.5]), 1.5
    lam, V = np.linalg.eigh(A)
    flow = V @ (np.exp(-T * lam) * (V.T @ theta0))
    lrs = T / np.array([32, 64, 128, 256])
    plain = [np.linalg.norm(gd_end(A, theta0, h, round(T / h)) - flow) for h in lrs]
    extrapolated = [np.linalg.norm(richardson_loop(A, theta0, T, h) - flow) for h in lrs]
    assert np.allclose(np.diff(np.log(plain)) / np.diff(np.log(lrs)), 1, atol=0.1)
    assert np.allclose(np.diff(np.log(extrapolated)) / np.diff(np.log(lrs)), 2, atol=0.1)


def richardson_int_steps(A, theta0, T, lr):
    """Also right: the step count truncated with int(), as a student would naturally write it."""
    n = int(T / lr)
    return 2 * gd_end(A, theta0, lr / 2, 2 * n) - gd_end(A, theta0, lr, n)


def test_int_and_round_step_counts_both_pass_on_many_fresh_draws():
    """A natural right answer must not fail by chance: T / lr is an exact integer in every drawn case."""
    from igrlib.coursework.checks import fresh_rng
    from igrlib.coursework.checks.euler import _richardson_cases

    for _ in range(200):
        for _A, _theta0, T, lr in _richardson_cases(fresh_rng()):
            assert T / lr == int(T / lr) == round(T / lr) and 0.4 < T < 2.1
    for answer in (richardson_int_steps, richardson_loop):
        for _ in range(30):
            passed, message = run_check("euler-richardson", answer)
            assert passed, message


def test_int_steps_fail_where_T_over_lr_falls_just_below_an_integer():
    """The draws matter: on a case like the old ones, int(T / lr) runs one step too few."""
    T, n = 1.1, 14
    lr = T / n
    assert int(T / lr) == n - 1  # 1.1 / (1.1 / 14) falls just below 14
    A, theta0 = np.diag([1.0, 3.0]), np.array([1.0, 1.0])
    assert not np.allclose(richardson_int_steps(A, theta0, T, lr), richardson_loop(A, theta0, T, lr), rtol=1e-8)


def test_the_step_cases_cover_every_regime():
    from igrlib.coursework.checks.euler import _steps_cases

    x = np.array([lam * lr for lam, lr, _ in _steps_cases()])
    assert np.any(x < 1) and np.any(x == 1) and np.any((x > 1) & (x < 2)) and np.any(x == 2) and np.any(x > 2)
