"""igrlib.implicit_penalty: the gradient norm and the modified loss, by closed forms and finite differences."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr


def test_grad_norm_sq_on_a_stack(model, rng):
    thetas = model.points(rng, 4)
    g = model.loss.grad(thetas)
    assert_allclose(igr.grad_norm_sq(model.loss, thetas), np.einsum("ki,ki->k", g, g), rtol=1e-14)
    assert_allclose([igr.grad_norm_sq(model.loss, th) for th in thetas], np.sum(g**2, axis=1), rtol=1e-12)


def test_two_param_penalty_closed_form(rng):
    # |grad E|^2 = 2 x^2 (a^2 + b^2) E, so E~ = E (1 + (h/2) x^2 (a^2 + b^2)).
    x, y, h = 1.5, -0.7, 0.1
    E, Et = igr.two_param(x, y), igr.modified_loss(igr.two_param(x, y), h)
    for a, b in rng.uniform(-2, 2, (5, 2)):
        assert_allclose(igr.grad_norm_sq(E, [a, b]), 2 * x**2 * (a**2 + b**2) * E.value([a, b]), rtol=1e-12)
        assert_allclose(Et.value([a, b]), E.value([a, b]) * (1 + h / 2 * x**2 * (a**2 + b**2)), rtol=1e-12)


def test_quadratic_modified_loss_closed_form(rng):
    # L = theta A theta / 2 - b theta: grad L~ = (I + hA/2)(A theta - b), hessian A + h A^2 / 2.
    S = rng.normal(size=(3, 3))
    A, b, h = S + S.T, rng.normal(size=3), 0.2
    Lt = igr.modified_loss(igr.quadratic(A, b), h)
    for theta, v in zip(rng.normal(size=(3, 3)), rng.normal(size=(3, 3))):
        g = A @ theta - b
        assert_allclose(Lt.value(theta), theta @ A @ theta / 2 - b @ theta + h / 4 * g @ g, rtol=1e-12)
        assert_allclose(Lt.grad(theta), g + h / 2 * A @ g, rtol=1e-12, atol=1e-12)
        assert_allclose(Lt.hvp(theta, v), (A + h / 2 * A @ A) @ v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lr", [0.03, 0.3])
def test_modified_loss_derivatives_match_differences(model, rng, fd, lr):
    Lt = igr.modified_loss(model.loss, lr)
    for theta, v in zip(model.points(rng, 3), rng.normal(size=(3, model.d))):
        grad = Lt.grad(theta)
        assert_allclose(grad, fd(Lt.value, theta), rtol=1e-6, atol=1e-6 * np.abs(grad).max())
        Hv = Lt.hvp(theta, v)
        assert_allclose(Hv, fd(Lt.grad, theta) @ v, rtol=1e-5, atol=1e-5 * np.abs(Hv).max())


def test_modified_loss_on_a_stack_matches_row_by_row(model, rng):
    Lt = igr.modified_loss(model.loss, 0.1)
    thetas, vs = model.points(rng, 4), rng.normal(size=(4, model.d))
    assert_allclose(Lt.value(thetas), [Lt.value(th) for th in thetas], rtol=1e-12)
    assert_allclose(Lt.grad(thetas), [Lt.grad(th) for th in thetas], rtol=1e-12, atol=1e-12)
    tol = 1e-7 if model.name == "bare" else 1e-12  # a twice-differenced d3 carries ~1e-8 round-off noise
    assert_allclose(Lt.hvp(thetas, vs), [Lt.hvp(th, v) for th, v in zip(thetas, vs)], rtol=tol, atol=tol)


def test_modified_loss_at_lr_zero_is_the_loss(model, rng):
    Lt = igr.modified_loss(model.loss, 0.0)
    for theta, v in zip(model.points(rng, 3), rng.normal(size=(3, model.d))):
        assert_allclose(Lt.value(theta), model.loss.value(theta), rtol=0)
        assert_allclose(Lt.grad(theta), model.loss.grad(theta), rtol=0)
        assert_allclose(Lt.hvp(theta, v), igr.hvp(model.loss, theta, v), rtol=0)


@pytest.mark.parametrize("lr", [-0.1, np.nan, np.inf, [0.1, 0.2]])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="lr must be"):
        igr.modified_loss(igr.himmelblau(), lr)
