"""The self-checks of chapter 7: solutions pass, plausible wrong answers fail."""

import numpy as np
import pytest

from igrlib.coursework.checks import run_check

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

