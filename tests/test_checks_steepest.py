"""The self-checks of chapter 1 (igrlib/checks/steepest.py): right answers pass, plausible wrong ones fail."""

import numpy as np
import pytest
from scipy.integrate import simpson

import igrlib as igr
from igrlib.coursework.checks import run_check

# ---------------------------------------------------------------- steepest-quadratic-flow


def quadratic_flow(A, b, theta0, t):
    """The chapter's solution: theta(t) = theta* + V exp(-t Lambda) V^T (theta0 - theta*)."""
    lam, V = np.linalg.eigh(A)
    theta_star = np.linalg.solve(A, b)
    z0 = V.T @ (np.asarray(theta0, dtype=float) - theta_star)
    return theta_star + (np.exp(-np.outer(t, lam)) * z0) @ V.T


def via_expm(A, b, theta0, t):
    """Another right answer, with the matrix exponential."""
    from scipy.linalg import expm

    theta_star = np.linalg.solve(A, b)
    return np.array([theta_star + expm(-s * A) @ (theta0 - theta_star) for s in t])


def forgets_b(A, b, theta0, t):
    lam, V = np.linalg.eigh(A)
    return (np.exp(-np.outer(t, lam)) * (V.T @ theta0)) @ V.T


def swaps_v(A, b, theta0, t):
    lam, V = np.linalg.eigh(A)
    theta_star = np.linalg.solve(A, b)
    return theta_star + (np.exp(-np.outer(t, lam)) * (V @ (theta0 - theta_star))) @ V


def wrong_sign(A, b, theta0, t):
    lam, V = np.linalg.eigh(A)
    theta_star = np.linalg.solve(A, b)
    return theta_star + (np.exp(np.outer(t, lam)) * (V.T @ (theta0 - theta_star))) @ V.T


def transposed(A, b, theta0, t):
    return quadratic_flow(A, b, theta0, t).T


def modifies_input(A, b, theta0, t):
    out = quadratic_flow(A, b, theta0, t)
    theta0 -= 1.0
    return out


def test_quadratic_flow_solutions_pass():
    for answer in (quadratic_flow, via_expm):
        passed, message = run_check("steepest-quadratic-flow", answer)
        assert passed, message


@pytest.mark.parametrize(
    "answer, hint",
    [
        (forgets_b, "minimiser"),
        (swaps_v, "order in which V and V^T act"),
        (wrong_sign, "NaN or infinity|off by"),
        (transposed, "return shape"),
        (modifies_input, "changed one of its inputs"),
    ],
)
def test_quadratic_flow_wrong_answers_fail(answer, hint):
    passed, message = run_check("steepest-quadratic-flow", answer)
    assert not passed
    assert any(h in message for h in hint.split("|")), message


# ---------------------------------------------------------------- steepest-dissipation


def dissipated(loss, theta0, T):
    """The chapter's solution: Simpson's rule on the flow sampled at 2001 times."""
    t = np.linspace(0, T, 2001)
    return float(simpson(igr.grad_norm_sq(loss, igr.gradient_flow(loss, theta0, t)), x=t))


def trapezoid(loss, theta0, T):
    """Another right answer: the trapezoid rule, one row of the flow at a time."""
    t = np.linspace(0, T, 2001)
    path = igr.gradient_flow(loss, theta0, t)
    g2 = np.array([np.sum(loss.grad(row) ** 2) for row in path])
    return float(np.sum((g2[1:] + g2[:-1]) / 2 * np.diff(t)))


def norm_not_squared(loss, theta0, T):
    t = np.linspace(0, T, 2001)
    return float(simpson(np.sqrt(igr.grad_norm_sq(loss, igr.gradient_flow(loss, theta0, t))), x=t))


def rectangle_at_start(loss, theta0, T):
    return float(igr.grad_norm_sq(loss, theta0) * T)


def coarse_grid(loss, theta0, T):
    t = np.linspace(0, T, 11)
    g2 = igr.grad_norm_sq(loss, igr.gradient_flow(loss, theta0, t))
    return float(np.sum((g2[1:] + g2[:-1]) / 2 * np.diff(t)))


def uses_value(loss, theta0, T):
    return float(loss.value(theta0) - loss.value(igr.gradient_flow(loss, theta0, [0.0, T])[-1]))


def returns_array(loss, theta0, T):
    t = np.linspace(0, T, 2001)
    return igr.grad_norm_sq(loss, igr.gradient_flow(loss, theta0, t))


def test_dissipation_solutions_pass():
    for answer in (dissipated, trapezoid):
        passed, message = run_check("steepest-dissipation", answer)
        assert passed, message


@pytest.mark.parametrize(
    "answer, hint",
    [
        (norm_not_squared, "differs from the drop"),
        (rectangle_at_start, "differs from the drop"),
        (coarse_grid, "differs from the drop"),
        (uses_value, "hides loss.value"),
        (returns_array, "return one number"),
    ],
)
def test_dissipation_wrong_answers_fail(answer, hint):
    passed, message = run_check("steepest-dissipation", answer)
    assert not passed
    assert hint in message, message


def test_check_problems_are_not_trivial():
    """The dissipation cases lose a real amount of loss, and the solution is far more accurate than needed."""
    from igrlib.coursework.checks.steepest import DISSIPATION_RTOL, _dissipation_cases

    for loss, theta0, T, drop in _dissipation_cases():
        assert drop >= 1.0
        assert np.isclose(drop, loss.value(theta0) - loss.value(igr.gradient_flow(loss, theta0, [0.0, T])[-1]))
        assert abs(dissipated(loss, theta0, T) - drop) < 1e-3 * DISSIPATION_RTOL * drop


def test_the_dissipation_losses_are_fresh_and_not_quadratic():
    """Fixed losses (Rosenbrock's, Himmelblau's, named in the messages) let an answer that knows them
    return the drop of their known values; a quadratic's value follows from d + 1 gradients. Each
    run draws new losses, and an answer that fits a quadratic to the gradients fails."""
    from igrlib.coursework.checks.steepest import _dissipation_cases

    first, second = _dissipation_cases(), _dissipation_cases()
    for (loss, theta0, _, _), (other, _, _, _) in zip(first, second):
        assert not np.allclose(loss.grad(theta0), other.grad(theta0))
        d = theta0.size
        b = -loss.grad(np.zeros(d))
        A = np.array([loss.grad(e) + b for e in np.eye(d)]).T
        assert not np.allclose(loss.grad(theta0), A @ theta0 - b, atol=1e-3)

    def fits_a_quadratic(loss, theta0, T):
        from scipy.linalg import expm

        d = len(theta0)
        b = -np.asarray(loss.grad(np.zeros(d)))
        A = np.array([np.asarray(loss.grad(e)) + b for e in np.eye(d)]).T
        A = (A + A.T) / 2
        star = np.linalg.solve(A, b)
        end = star + expm(-T * A) @ (theta0 - star)
        value = lambda th: 0.5 * th @ A @ th - b @ th  # noqa: E731
        return float(value(theta0) - value(end))

    passed, message = run_check("steepest-dissipation", fits_a_quadratic)
    assert not passed, message
