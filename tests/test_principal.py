"""igrlib.principal: the factor log(1 - x)/x, its series, the principal field and the exact quadratic flow."""

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose

import igrlib as igr
from igrlib.principal import SERIES_BELOW

X_VALUES = np.array([-2.5, -0.7, -1e-3, 0.0, 2e-5, 0.3, 0.9, 1.2, 1.5, 1.99, 2.0, 2.6, 4.0])


def test_factor_reproduces_gradient_descent_steps():
    # exp(n x phi(x)) must equal (1 - x)^n for every whole n, in every regime (decay, flip, growth).
    phi = igr.principal_factor(X_VALUES)
    for n in range(6):
        assert_allclose(np.exp(n * X_VALUES * phi), (1 - X_VALUES) ** n, rtol=1e-12, atol=1e-14)


def test_factor_regimes():
    phi = igr.principal_factor([0.5, 1.5, 2.5, -1.0])
    assert phi[0].imag == 0 and phi[0].real < 0  # monotone decay
    assert_allclose(phi[1].imag * 1.5, np.pi, rtol=1e-14)  # a flip of sign every step
    assert phi[1].real < 0 and phi[2].real > 0  # 1 < x < 2 contracts, x > 2 grows
    assert phi[3].imag == 0 and -1 < phi[3].real < 0  # negative curvature: real, grows in time


def test_factor_is_smooth_across_the_series_switch():
    for x in (SERIES_BELOW, -SERIES_BELOW):
        below, above = igr.principal_factor([x * (1 - 1e-9), x * (1 + 1e-9)])
        assert_allclose(below, above, rtol=1e-12)
        assert_allclose(above, np.log1p(-x) / x, rtol=1e-12)


def test_series_converges_inside_the_unit_disc_only():
    for x in (-0.9, 0.5, 0.9):
        assert_allclose(igr.principal_series(x, 400), igr.principal_factor(x).real, rtol=1e-13)
    short, long = igr.principal_series(1.5, 10), igr.principal_series(1.5, 40)
    assert abs(long) > 1e4 * abs(short)  # terms grow like 1.5^k / k


def test_series_truncation_error_has_the_next_power():
    # Keeping n terms misses -x^n / (n + 1) + O(x^(n+1)).
    for n in (1, 2, 3):
        x = np.array([0.02, 0.01, 0.005])
        err = igr.principal_series(x, n) - igr.principal_factor(x).real
        assert_allclose(err / x**n, 1 / (n + 1), rtol=0.05)


def test_field_on_a_quadratic_is_the_exact_modified_field(rng):
    S = rng.normal(size=(4, 4))
    A = S @ S.T
    theta = rng.normal(size=4)
    lam_max = np.linalg.eigvalsh(A)[-1]
    for h in (0.5 / lam_max, 1.5 / lam_max, 2.5 / lam_max):  # real, oscillating, growing
        got = igr.principal_field(igr.quadratic(A), theta, h)
        want = scipy.linalg.logm(np.eye(4) - h * A) @ theta / h  # principal matrix logarithm
        assert_allclose(got, want, rtol=1e-9, atol=1e-10)


def test_field_expands_like_the_modified_field_without_third_derivatives(model, rng):
    # f = -(g + h/2 Hg + h^2/3 H^2 g) + O(h^3).
    theta = model.points(rng)
    g = model.loss.grad(theta)
    Hg = igr.hvp(model.exact, theta, g)
    HHg = igr.hvp(model.exact, theta, Hg)
    lam = np.abs(np.linalg.eigvalsh(igr.hessian(model.exact, theta))).max()
    hs = np.array([0.04, 0.02, 0.01]) / lam
    errs = [np.linalg.norm(igr.principal_field(model.exact, theta, h) + g + h / 2 * Hg + h**2 / 3 * HHg) for h in hs]
    slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
    assert np.all(slopes > 2.8), slopes


def test_quadratic_flow_passes_through_the_iterates(rng):
    S = rng.normal(size=(3, 3))
    A = S @ S.T + np.eye(3)
    theta0 = rng.normal(size=3)
    lam_max = np.linalg.eigvalsh(A)[-1]
    for h in (0.5 / lam_max, 1.7 / lam_max):
        t = h * np.arange(12)
        flow = igr.principal_flow_quadratic(A, theta0, h, t)
        assert_allclose(flow.real, igr.gd(igr.quadratic(A), theta0, h, 11), rtol=1e-10, atol=1e-12)
        assert_allclose(flow.imag, 0, atol=1e-10)


def test_quadratic_flow_solves_its_ode(rng):
    S = rng.normal(size=(3, 3))
    A = S @ S.T
    h = 1.4 / np.linalg.eigvalsh(A)[-1]
    M = scipy.linalg.logm(np.eye(3) - h * A) / h
    t = np.array([0.0, 0.3, 0.3 + 1e-6, 0.3 + 2e-6])
    flow = igr.principal_flow_quadratic(A, rng.normal(size=3), h, t)
    assert_allclose((flow[3] - flow[1]) / 2e-6, M @ flow[2], rtol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: igr.principal_factor([0.5, 1.0]), "must not equal 1"),
        (lambda: igr.principal_factor(np.nan), "finite"),
        (lambda: igr.principal_series(0.5, 0), "terms"),
        (lambda: igr.principal_series(0.5, 2.0), "terms"),
        (lambda: igr.principal_field(igr.quadratic([[1.0]]), [1.0], -0.1), "lr"),
        (lambda: igr.principal_field(igr.quadratic([[1.0]]), [1.0], [0.1, 0.2]), "lr"),
        (lambda: igr.principal_field(igr.quadratic([[1.0]]), [1.0], 1.0), "must not equal 1"),
        (lambda: igr.principal_flow_quadratic([[1.0, 2.0], [0.0, 1.0]], [1.0, 1.0], 0.1, [0.0, 1.0]), "symmetric"),
        (lambda: igr.principal_flow_quadratic([[1.0]], [1.0, 1.0], 0.1, [0.0, 1.0]), "theta0"),
        (lambda: igr.principal_flow_quadratic([[1.0]], [1.0], 0.1, [0.5, 1.0]), "t must start at 0"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
