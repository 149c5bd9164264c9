"""igrlib.losses: every derivative checked against differences of the one below it, on every model."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr


def test_grad_matches_differences_of_value(model, rng, fd):
    for theta in model.points(rng, 4):
        assert_allclose(model.loss.grad(theta), fd(model.loss.value, theta), rtol=1e-7, atol=1e-7)


def test_hvp_matches_differences_of_grad(model, rng, fd):
    for theta, v in zip(model.points(rng, 4), rng.normal(size=(4, model.d))):
        expected = fd(model.loss.grad, theta) @ v
        assert_allclose(igr.hvp(model.loss, theta, v), expected, rtol=1e-7, atol=1e-7)
        assert_allclose(model.exact.hvp(theta, v), expected, rtol=1e-7, atol=1e-7)


def test_d3_matches_differences_of_hvp(model, rng, fd):
    for theta, u, v in zip(model.points(rng, 4), rng.normal(size=(4, model.d)), rng.normal(size=(4, model.d))):
        expected = fd(lambda th: model.exact.hvp(th, v), theta) @ u
        assert_allclose(model.exact.d3(theta, u, v), expected, rtol=1e-7, atol=1e-7)
        # The fallback (for the bare model) differences twice: about 7 digits.
        assert_allclose(igr.d3(model.loss, theta, u, v), expected, rtol=1e-5, atol=1e-5)


def test_d3_is_symmetric(model, rng):
    # T is the third derivative tensor: w . T(u, v) is symmetric in (u, v, w).
    theta = model.points(rng)
    u, v, w = rng.normal(size=(3, model.d))
    Tuv_w = igr.d3(model.loss, theta, u, v) @ w
    for other in (igr.d3(model.loss, theta, v, u) @ w, igr.d3(model.loss, theta, w, v) @ u):
        assert_allclose(other, Tuv_w, rtol=1e-5, atol=1e-6)


def test_finite_difference_fallbacks_reach_their_stated_accuracy(rng):
    # About 10 digits for hvp from an exact grad and d3 from an exact hvp; about 7 when differencing twice.
    for name in ("two_param", "rosenbrock", "himmelblau"):
        exact = getattr(igr, name)()
        grad_only = igr.Loss(exact.value, exact.grad)
        with_hvp = igr.Loss(exact.value, exact.grad, exact.hvp)
        for theta, u, v in zip(rng.uniform(-2, 2, (10, 2)), rng.normal(size=(10, 2)), rng.normal(size=(10, 2))):
            Hv = exact.hvp(theta, v)
            Tuv = exact.d3(theta, u, v)
            assert_allclose(igr.hvp(grad_only, theta, v), Hv, rtol=1e-8, atol=1e-8 * np.abs(Hv).max())
            assert_allclose(igr.d3(with_hvp, theta, u, v), Tuv, rtol=1e-8, atol=1e-8 * np.abs(Tuv).max())
            assert_allclose(igr.d3(grad_only, theta, u, v), Tuv, rtol=2e-6, atol=2e-6 * np.abs(Tuv).max())


def test_stack_matches_row_by_row(model, rng):
    thetas, us, vs = model.points(rng, 5), rng.normal(size=(5, model.d)), rng.normal(size=(5, model.d))
    L = model.loss
    pairs = [
        (L.value(thetas), [L.value(t) for t in thetas]),
        (L.grad(thetas), [L.grad(t) for t in thetas]),
        (igr.hvp(L, thetas, vs), [igr.hvp(L, t, v) for t, v in zip(thetas, vs)]),
        (igr.d3(L, thetas, us, vs), [igr.d3(L, t, u, v) for t, u, v in zip(thetas, us, vs)]),
    ]
    for stacked, rows in pairs:
        rows = np.array(rows)
        assert stacked.shape == rows.shape
        assert_allclose(stacked, rows, rtol=1e-12, atol=1e-12)


def test_two_param_closed_forms(rng):
    x, y = 1.5, -0.7
    E = igr.two_param(x, y)
    for a, b in rng.uniform(-2, 2, (5, 2)):
        r = y - a * b * x
        assert_allclose(E.value([a, b]), r**2 / 2, rtol=1e-14)
        H = [[b**2 * x**2, a * b * x**2 - r * x], [a * b * x**2 - r * x, a**2 * x**2]]
        assert_allclose(igr.hessian(E, [a, b]), H, rtol=1e-12, atol=1e-12)
    a = 0.9  # on the hyperbola of minima, a b = y / x: zero loss and zero gradient
    assert_allclose(E.value([a, y / (x * a)]), 0, atol=1e-30)
    assert_allclose(E.grad([a, y / (x * a)]), 0, atol=1e-15)


@pytest.mark.parametrize(
    "loss, minimum, value",
    [
        (igr.rosenbrock(a=1.5, b=7.0), [1.5, 2.25], 0.0),
        (igr.himmelblau(), [3.0, 2.0], 0.0),
        (igr.quadratic([[2.0]], [4.0]), [2.0], -4.0),  # theta* = A^-1 b, L* = -b A^-1 b / 2
    ],
)
def test_known_minima(loss, minimum, value):
    assert_allclose(loss.value(minimum), value, atol=1e-14)
    assert_allclose(loss.grad(minimum), 0, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(igr.hessian(loss, minimum)) > 0)


def test_least_squares_is_a_quadratic(rng):
    X, y = rng.normal(size=(7, 3)), rng.normal(size=7)
    L = igr.least_squares(X, y)
    Q = igr.quadratic(X.T @ X / 7, X.T @ y / 7)  # the same loss up to the constant |y|^2 / 14
    for theta in rng.normal(size=(3, 3)):
        assert_allclose(L.value(theta), Q.value(theta) + y @ y / 14, rtol=1e-12)
        assert_allclose(L.grad(theta), Q.grad(theta), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: igr.quadratic([[1.0, 2.0], [0.0, 1.0]]), "A must be symmetric"),
        (lambda: igr.quadratic([1.0, 2.0]), "A must be a non-empty square matrix"),
        (lambda: igr.quadratic([[np.nan]]), "A must be finite"),
        (lambda: igr.quadratic([[1.0]], b=[1.0, 2.0]), "b must have shape"),
        (lambda: igr.least_squares([1.0, 2.0], [1.0]), "X must be 2-D"),
        (lambda: igr.least_squares([[1.0], [2.0]], [1.0]), "y must have shape"),
        (lambda: igr.least_squares([[np.inf]], [1.0]), "finite"),
        (lambda: igr.two_param(x=0.0), "x must be finite and nonzero"),
        (lambda: igr.rosenbrock(b=0.0), "b finite and positive"),
        (lambda: igr.two_param().grad([1.0, 2.0, 3.0]), "theta = \\(a, b\\)"),
        (lambda: igr.rosenbrock().value([1.0]), "theta = \\(x, y\\)"),
        (lambda: igr.himmelblau().hvp([1.0], [1.0]), "theta = \\(x, y\\)"),
    ],
)
def test_bad_model_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


IMPORT_SCRIPT = """
import sys, warnings
import numpy, scipy.integrate, scipy.linalg, scipy.sparse.linalg  # dependencies: they add filters of their own
filters, errstate = list(warnings.filters), numpy.geterr()
import igrlib
assert list(warnings.filters) == filters, [f for f in warnings.filters if f not in filters]
assert numpy.geterr() == errstate, numpy.geterr()
assert not any(m.split(".")[0] == "matplotlib" for m in sys.modules), "matplotlib was imported"
"""


def test_importing_igrlib_has_no_side_effects():
    root = pathlib.Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
