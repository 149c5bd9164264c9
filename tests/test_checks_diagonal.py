"""The self-checks of chapter 9: solutions pass, plausible wrong answers fail."""

import numpy as np
import pytest
from scipy.optimize import minimize

import igrlib as igr
from igrlib.coursework.checks import run_check

# ---- diagonal-effective-alpha -------------------------------------------------------------


def effective_alpha(X, y, alpha, lr, steps):
    n, d = X.shape
    u, v = np.full(d, np.sqrt(2) * alpha), np.zeros(d)
    for _ in range(steps):
        g = X.T @ (X @ (u * v) - y) / n
        u, v = u - lr * v * g, v - lr * u * g
    return np.sqrt(np.abs(u**2 - v**2) / 2)


def by_identity(X, y, alpha, lr, steps):  # the product of the factors 1 - h^2 g^2: also right
    n, d = X.shape
    u, v = np.full(d, np.sqrt(2) * alpha), np.zeros(d)
    factor = np.ones(d)
    for _ in range(steps):
        g = X.T @ (X @ (u * v) - y) / n
        factor *= 1 - lr**2 * g**2
        u, v = u - lr * v * g, v - lr * u * g
    return alpha * np.sqrt(factor)


def sequential_update(X, y, alpha, lr, steps):  # v updated with the new u
    n, d = X.shape
    u, v = np.full(d, np.sqrt(2) * alpha), np.zeros(d)
    for _ in range(steps):
        g = X.T @ (X @ (u * v) - y) / n
        u = u - lr * v * g
        v = v - lr * u * g
    return np.sqrt(np.abs(u**2 - v**2) / 2)


def flow(X, y, alpha, lr, steps):
    return np.full(X.shape[1], alpha)


def squared(X, y, alpha, lr, steps):
    return effective_alpha(X, y, alpha, lr, steps) ** 2


def library(X, y, alpha, lr, steps):
    run = igr.train_diagonal(X, y, igr.diagonal_start(alpha, X.shape[1]), lr, steps)
    return igr.effective_alpha(run.theta[0, 0])


def test_effective_alpha_solutions_pass():
    for answer in (effective_alpha, by_identity):
        passed, message = run_check("diagonal-effective-alpha", answer)
        assert passed, message


@pytest.mark.parametrize(
    "wrong, hint",
    [(sequential_update, "same (old) values"), (flow, "did not change"), (squared, "squared")],
)
def test_effective_alpha_wrong_answers_fail(wrong, hint):
    passed, message = run_check("diagonal-effective-alpha", wrong)
    assert not passed and hint in message, message


def test_effective_alpha_library_is_switched_off():
    passed, message = run_check("diagonal-effective-alpha", library)
    assert not passed and "igrlib.train_diagonal is switched off" in message, message


# ---- diagonal-entropy-interpolator --------------------------------------------------------


def dual_newton(X, y, alpha):
    a2 = np.broadcast_to(np.asarray(alpha, dtype=float) ** 2, (X.shape[1],))
    res = minimize(
        lambda mu: np.sum(a2 * np.cosh(X.T @ mu)) - y @ mu,
        np.zeros(X.shape[0]),
        jac=lambda mu: X @ (a2 * np.sinh(X.T @ mu)) - y,
        hess=lambda mu: (X * (a2 * np.cosh(X.T @ mu))) @ X.T,
        method="trust-exact",
        options={"gtol": 1e-12},
    )
    return a2 * np.sinh(X.T @ res.x)


def minimum_norm(X, y, alpha):
    return np.linalg.pinv(X) @ y


def uniform_scale(X, y, alpha):  # ignores per-coordinate scales
    return dual_newton(X, y, float(np.mean(alpha)))


def library_interpolator(X, y, alpha):
    return igr.entropy_interpolator(X, y, alpha)


def test_interpolator_solution_passes():
    passed, message = run_check("diagonal-entropy-interpolator", dual_newton)
    assert passed, message


@pytest.mark.parametrize("wrong, hint", [(minimum_norm, "minimum-norm"), (uniform_scale, "one scale per coordinate")])
def test_interpolator_wrong_answers_fail(wrong, hint):
    passed, message = run_check("diagonal-entropy-interpolator", wrong)
    assert not passed and hint in message, message


def test_interpolator_library_is_switched_off():
    passed, message = run_check("diagonal-entropy-interpolator", library_interpolator)
    assert not passed and "igrlib.entropy_interpolator is switched off" in message, message
