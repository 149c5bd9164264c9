"""igrlib.explicit_penalties: SAM's finite-difference gradient, the unsquared penalty, flooding's two steps."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr


def away_from_critical(model, rng):
    """A random point where the gradient is not small (the unit vector g/|g| is well defined)."""
    while True:
        theta = model.points(rng)
        if np.linalg.norm(model.exact.grad(theta)) > 0.5:
            return theta


def test_sam_gradient_is_the_gradient_at_the_pushed_point(model, rng):
    theta = away_from_critical(model, rng)
    g = model.loss.grad(theta)
    assert_allclose(igr.sam_gradient(model.loss, theta, 0.1), model.loss.grad(theta + 0.1 * g / np.linalg.norm(g)))


def test_sam_gradient_expansion(model, rng):
    # sam_gradient = grad(L + rho |g|) + rho^2/2 T(u, u) + O(rho^3), u = g / |g|.
    theta = away_from_critical(model, rng)
    g = model.exact.grad(theta)
    u = g / np.linalg.norm(g)
    rhos = np.array([0.02, 0.01, 0.005])
    first, second = [], []
    for rho in rhos:
        diff = igr.sam_gradient(model.exact, theta, rho) - igr.grad_norm_loss(model.exact, rho).grad(theta)
        first.append(np.linalg.norm(diff))
        second.append(np.linalg.norm(diff - rho**2 / 2 * igr.d3(model.exact, theta, u, u)))
    s1 = np.diff(np.log(first)) / np.diff(np.log(rhos))
    s2 = np.diff(np.log(second)) / np.diff(np.log(rhos))
    if model.name not in ("quadratic", "least_squares"):  # T = 0 for them: the difference is 0 to rounding
        assert np.all(np.abs(s1 - 2) < 0.15), s1
        assert np.all(s2 > 2.7), s2
    else:
        assert max(first) < 1e-12 * (1 + np.linalg.norm(g))


def test_sam_runs_the_sam_update(model, rng):
    theta0 = away_from_critical(model, rng) * 0.3
    path = igr.sam(model.loss, theta0, [0.001, 0.002], 0.05, 4)
    assert path.shape == (2, 5, model.d)
    for h, run in zip([0.001, 0.002], path, strict=True):
        for n in range(4):
            assert_allclose(run[n + 1], run[n] - h * igr.sam_gradient(model.loss, run[n], 0.05), rtol=1e-13, atol=1e-14)


def test_grad_norm_loss_derivative(model, rng, fd):
    theta = away_from_critical(model, rng)
    Lr = igr.grad_norm_loss(model.exact, 0.3)
    assert_allclose(Lr.value(theta), model.exact.value(theta) + 0.3 * np.linalg.norm(model.exact.grad(theta)))
    assert_allclose(Lr.grad(theta), fd(Lr.value, theta), rtol=1e-6, atol=1e-6)


def test_grad_norm_loss_at_a_critical_point_is_zero():
    Lr = igr.grad_norm_loss(igr.quadratic([[2.0, 0.0], [0.0, 1.0]]), 0.3)
    assert_allclose(Lr.grad([0.0, 0.0]), [0.0, 0.0], atol=0)


def test_flooded_loss_and_gradient(model, rng):
    theta = model.points(rng)
    b = float(model.loss.value(theta))
    above, below = igr.flooded(model.loss, b - 1.0), igr.flooded(model.loss, b + 1.0)
    assert_allclose(above.value(theta), b, rtol=1e-14)
    assert_allclose(below.value(theta), b + 2.0, rtol=1e-14)
    assert_allclose(above.grad(theta), model.loss.grad(theta), rtol=1e-14)
    assert_allclose(below.grad(theta), -model.loss.grad(theta), rtol=1e-14)
    v = rng.normal(size=model.d)
    assert_allclose(below.hvp(theta, v), -igr.hvp(model.loss, theta, v), rtol=1e-12)


def test_a_descent_ascent_pair_is_a_step_on_the_squared_gradient_norm(model, rng):
    # With the flood level between L(theta) and L(theta - h g), GD on |L - b| + b takes a descent then an
    # ascent step: together theta -> theta - (h^2 / 2) grad |g|^2 + O(h^3) = theta - h^2 H g + O(h^3).
    theta = away_from_critical(model, rng)
    g = model.exact.grad(theta)
    Hg = igr.hvp(model.exact, theta, g)
    lam = max(1.0, np.abs(np.linalg.eigvalsh(igr.hessian(model.exact, theta))).max())
    hs = np.array([0.02, 0.01, 0.005]) / lam
    errs = []
    for h in hs:
        b = (model.exact.value(theta) + model.exact.value(theta - h * g)) / 2
        pair = igr.gd(igr.flooded(model.exact, b), theta, h, 2)[-1]
        assert model.exact.value(pair) > b  # the second step went back up across the level
        errs.append(np.linalg.norm(pair - (theta - h**2 * Hg)))
    if model.name in ("quadratic", "least_squares"):  # the pair is exactly theta - h^2 H g there
        assert max(errs) < 1e-13 * (1 + np.linalg.norm(theta))
    else:
        slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
        assert np.all(slopes > 2.7), slopes


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: igr.sam_gradient(igr.quadratic([[1.0]]), [1.0], 0.0), "rho"),
        (lambda: igr.sam(igr.quadratic([[1.0]]), [1.0], 0.1, -1.0, 3), "rho"),
        (lambda: igr.sam(igr.quadratic([[1.0]]), [1.0], 0.0, 0.1, 3), "lr"),
        (lambda: igr.grad_norm_loss(igr.quadratic([[1.0]]), [0.1, 0.2]), "rho"),
        (lambda: igr.flooded(igr.quadratic([[1.0]]), np.nan), "flood"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
