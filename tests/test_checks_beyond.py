"""The self-checks of chapters 6 and 7: solutions pass, plausible wrong answers fail."""

import numpy as np
import pytest

from igrlib.coursework.checks import run_check

# ---- beyond-principal-rate ----------------------------------------------------------------


def principal_rate(lam, lr):
    return np.log(1 - lr * np.asarray(lam, dtype=complex)) / lr


def real_log(lam, lr):  # NaN where 1 - h lambda < 0
    return np.log(1 - lr * np.asarray(lam)) / lr


def log_of_size(lam, lr):  # loses the flip of sign
    return np.log(np.abs(1 - lr * np.asarray(lam))) / lr


def no_division(lam, lr):
    return np.log(1 - lr * np.asarray(lam, dtype=complex))


def first_order(lam, lr):  # the modified-equation series cut after the h term
    lam = np.asarray(lam, dtype=float)
    return -lam * (1 + lr * lam / 2)


def in_place(lam, lr):
    out = principal_rate(lam, lr)
    lam *= 2
    return out


def test_principal_rate_solution_passes():
    passed, message = run_check("beyond-principal-rate", principal_rate)
    assert passed, message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (real_log, "complex logarithm"),
        (log_of_size, "sign is wrong"),
        (no_division, "division by h"),
        (first_order, "(1 - h lambda)^n"),
        (in_place, "in place"),
        (lambda lam, lr: 0.0, "shape"),
    ],
)
def test_principal_rate_wrong_answers_fail(wrong, hint):
    passed, message = run_check("beyond-principal-rate", wrong)
    assert not passed
    assert hint in message



# ---- beyond-terms-needed ------------------------------------------------------------------


def terms_needed(x, tol):
    if abs(x) >= 1:
        return None
    target = np.log1p(-x) / x if x != 0 else -1.0
    total, n = 0.0, 0
    while abs(total - target) >= tol:
        total -= x**n / (n + 1)
        n += 1
    return n


def last_term_rule(x, tol):  # stops when the next term is small, not the error
    if abs(x) >= 1:
        return None
    n = 1
    while abs(x) ** n / (n + 1) >= tol:
        n += 1
    return n


def one_too_many(x, tol):
    n = terms_needed(x, tol)
    return None if n is None else n + 1


def never_none(x, tol):
    return terms_needed(x, tol) if abs(x) < 1 else 10_000


def test_terms_needed_solution_passes():
    passed, message = run_check("beyond-terms-needed", terms_needed)
    assert passed, message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (last_term_rule, "the whole tail"),
        (one_too_many, "smallest"),
        (never_none, "does not converge"),
        (lambda x, tol: None, "converges"),
        (lambda x, tol: 2.5, "whole number"),
    ],
)
def test_terms_needed_wrong_answers_fail(wrong, hint):
    passed, message = run_check("beyond-terms-needed", wrong)
    assert not passed
    assert hint in message



# ---- beyond-flood-pair --------------------------------------------------------------------


def descent_ascent(loss, theta, lr):
    down = theta - lr * loss.grad(theta)
    return down + lr * loss.grad(down)


def same_gradient_twice(loss, theta, lr):
    g = loss.grad(theta)
    return theta - lr * g + lr * g


def two_descents(loss, theta, lr):
    down = theta - lr * loss.grad(theta)
    return down - lr * loss.grad(down)


def penalty_step_only(loss, theta, lr):  # the O(h^2) approximation, not the pair
    g = loss.grad(theta)
    return theta - lr**2 * loss.hvp(theta, g)


def modifies_theta(loss, theta, lr):
    out = descent_ascent(loss, theta, lr)
    theta -= 1.0
    return out


def test_flood_pair_solution_passes():
    passed, message = run_check("beyond-flood-pair", descent_ascent)
    assert passed, message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (same_gradient_twice, "returned theta itself"),
        (two_descents, "climbs"),
        (penalty_step_only, "one descent step, then one ascent step"),
        (modifies_theta, "in place"),
        (lambda loss, theta, lr: np.zeros(3), "shape"),
    ],
)
def test_flood_pair_wrong_answers_fail(wrong, hint):
    passed, message = run_check("beyond-flood-pair", wrong)
    assert not passed
    assert hint in message



# ---- beyond-sgd-extra-penalty -------------------------------------------------------------


def extra_penalty(losses, theta, lr):
    gs = np.array([L.grad(theta) for L in losses])
    return lr / (4 * len(losses)) * np.sum((gs - gs.mean(axis=0)) ** 2)


def whole_penalty(losses, theta, lr):
    gs = np.array([L.grad(theta) for L in losses])
    return lr / (4 * len(losses)) * np.sum(gs**2)


def no_average(losses, theta, lr):
    return extra_penalty(losses, theta, lr) * len(losses)


def averaged_twice(losses, theta, lr):
    return extra_penalty(losses, theta, lr) / len(losses)


def per_batch(losses, theta, lr):
    gs = np.array([L.grad(theta) for L in losses])
    return lr / 4 * np.sum((gs - gs.mean(axis=0)) ** 2, axis=1)


def test_sgd_extra_penalty_solution_passes():
    passed, message = run_check("beyond-sgd-extra-penalty", extra_penalty)
    assert passed, message


def test_sgd_extra_penalty_is_the_gap_between_the_modified_losses():
    """The solution equals C_SGD - C_GD, computed from igrlib's two modified losses."""
    import igrlib as igr

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 2)), rng.normal(size=12)
    losses = [igr.least_squares(X[k::3], y[k::3]) for k in range(3)]
    theta = rng.normal(size=2)
    gap = igr.sgd_modified_loss(losses, 0.2).value(theta) - igr.modified_loss(igr.least_squares(X, y), 0.2).value(theta)
    assert extra_penalty(losses, theta, 0.2) == pytest.approx(gap, rel=1e-12)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (whole_penalty, "whole SGD penalty"),
        (no_average, "too large"),
        (averaged_twice, "too small"),
        (per_batch, "one number"),
        (lambda losses, theta, lr: 0.0, "differs"),
    ],
)
def test_sgd_extra_penalty_wrong_answers_fail(wrong, hint):
    passed, message = run_check("beyond-sgd-extra-penalty", wrong)
    assert not passed
    assert hint in message

