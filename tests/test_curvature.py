"""igrlib.curvature: the Hessian, the sharpness and power iteration against closed forms and differences."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr
from igrlib.curvature import DENSE_MAX_DIM


def test_hessian_matches_differences_of_grad(model, rng, fd):
    for theta in model.points(rng, 3):
        H = igr.hessian(model.loss, theta)
        assert_allclose(H, fd(model.loss.grad, theta), rtol=1e-7, atol=1e-7)
        assert_allclose(H, [model.exact.hvp(theta, e) for e in np.eye(model.d)], rtol=1e-8, atol=1e-8)


def test_quadratic_hessian_is_A(rng):
    S = rng.normal(size=(4, 4))
    A = S + S.T
    assert_allclose(igr.hessian(igr.quadratic(A), rng.normal(size=4)), A, rtol=1e-15, atol=1e-15)
    assert_allclose(igr.sharpness(igr.quadratic(A), rng.normal(size=4)), np.linalg.eigvalsh(A)[-1], rtol=1e-14)


@pytest.mark.parametrize("x, y, a", [(1.0, 1.0, 1.0), (1.0, 1.0, 3.0), (1.5, -0.7, 0.4), (-2.0, 3.0, -1.2)])
def test_two_param_eigenvalues_at_a_minimum(x, y, a):
    # On the hyperbola a b = y / x the Hessian has eigenvalues 0 (along the valley) and x^2 (a^2 + b^2).
    b = y / (x * a)
    E = igr.two_param(x, y)
    lam = np.linalg.eigvalsh(igr.hessian(E, [a, b]))
    assert_allclose(lam, [0.0, x**2 * (a**2 + b**2)], rtol=1e-13, atol=1e-13)
    assert_allclose(igr.sharpness(E, [a, b]), x**2 * (a**2 + b**2), rtol=1e-13)


def test_flattest_minimum_of_two_param_has_equal_weights():
    # Along a b = 1 the sharpness a^2 + 1/a^2 is smallest, 2, at |a| = |b| = 1.
    E = igr.two_param()
    a = np.linspace(0.3, 3.0, 28)
    sharp = np.array([igr.sharpness(E, [ai, 1 / ai]) for ai in a])
    assert_allclose(sharp, a**2 + 1 / a**2, rtol=1e-13)
    assert a[np.argmin(sharp)] == pytest.approx(1.0) and sharp.min() == pytest.approx(2.0)


def test_rosenbrock_sharpness_at_its_minimum():
    # At (a, a^2): H = [[2 + 8 b a^2, -4 a b], [-4 a b, 2 b]], trace 2 + 2b + 8 b a^2, determinant 4b.
    a, b = 1.5, 7.0
    tr = 2 + 2 * b + 8 * b * a**2
    assert_allclose(igr.sharpness(igr.rosenbrock(a, b), [a, a**2]), (tr + np.sqrt(tr**2 - 16 * b)) / 2, rtol=1e-13)


def test_himmelblau_eigenvalues_at_3_2():
    # H(3, 2) = [[74, 20], [20, 34]]: eigenvalues 54 -+ 20 sqrt(2).
    lam = np.linalg.eigvalsh(igr.hessian(igr.himmelblau(), [3.0, 2.0]))
    assert_allclose(lam, [54 - 20 * np.sqrt(2), 54 + 20 * np.sqrt(2)], rtol=1e-14)


@pytest.mark.parametrize("bare", [False, True])
def test_lanczos_branch_matches_eigvalsh(rng, bare):
    d = 300
    assert d > DENSE_MAX_DIM  # the Lanczos branch
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    # Indefinite, with the largest |eigenvalue| negative: sharpness is the largest, not the largest in size.
    eigenvalues = np.concatenate([rng.uniform(-10, 2.5, d - 1), [3.0]])
    A = (Q * eigenvalues) @ Q.T
    A = (A + A.T) / 2
    loss = igr.quadratic(A)
    if bare:  # Hessian-vector products by differences of grad
        loss = igr.Loss(loss.value, loss.grad)
    got = igr.sharpness(loss, rng.normal(size=d))
    assert_allclose(got, np.linalg.eigvalsh(A)[-1], rtol=1e-7)
    assert_allclose(got, 3.0, rtol=1e-7)


@pytest.mark.parametrize("theta", [1.0, [], [[1.0, 2.0]], [np.nan, 1.0]])
def test_bad_theta(theta):
    for fn in (igr.hessian, igr.sharpness):
        with pytest.raises(ValueError, match="theta must be"):
            fn(igr.quadratic(np.eye(2)), theta)


def test_power_iteration_finds_the_top_eigenvalue_of_a_network():
    net = igr.MLP((4, 6, 3))
    rng = np.random.default_rng(0)
    L = net.loss(rng.normal(size=(25, 4)), rng.integers(0, 3, size=25), kind="squared")
    theta = net.init(np.random.default_rng(5), 3)
    lam, v = igr.power_iteration(L, theta, iters=300, rng=np.random.default_rng(0))
    assert_allclose(lam, [igr.sharpness(L, th) for th in theta], rtol=1e-8)
    assert_allclose(np.linalg.norm(v, axis=-1), 1.0, rtol=1e-12)
    lam2, _ = igr.power_iteration(L, theta, iters=2, v0=v)  # warm start: already converged
    assert_allclose(lam2, lam, rtol=1e-8)


def test_power_iteration_returns_the_largest_magnitude_eigenvalue():
    L = igr.quadratic(np.diag([1.0, -3.0]))
    lam, v = igr.power_iteration(L, [0.0, 0.0], iters=80, rng=np.random.default_rng(0))
    assert lam == pytest.approx(-3.0, rel=1e-12) and abs(v[1]) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [(dict(iters=0), "iters"), (dict(v0=[0.0, 0.0]), "v0"),
                                           (dict(v0=[1.0]), "v0")])
def test_power_iteration_bad_input(kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=match):
            igr.power_iteration(igr.quadratic(np.eye(2)), [1.0, 0.0], **kwargs)


def test_power_iteration_start_comes_from_rng_and_without_it_is_the_old_one_with_a_warning():
    L, theta = igr.quadratic([[3.0, 1.0], [1.0, 2.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])
    with pytest.warns(DeprecationWarning, match="rng=np.random.default_rng"):
        old = igr.power_iteration(L, theta, iters=3)
    new = igr.power_iteration(L, theta, iters=3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(new[0], old[0])
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        igr.power_iteration(L, theta, rng=0)


def test_top_eigenvalue_is_the_largest_eigenvalue_even_when_a_negative_one_dominates(rng):
    from igrlib.curvature import top_eigenvalue

    Q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    spectra = [[-6.0, -1.0, 0.5, 1.0, 2.0], [-1.0, 0.0, 0.5, 1.0, 4.0]]  # dominant -6, then dominant 4
    H = np.array([(Q * s) @ Q.T for s in spectra])
    theta, v0 = np.eye(5)[[0, 1]], rng.normal(size=(2, 5))  # network i has the Hessian H[i]
    loss = igr.Loss(None, None, lambda th, v: np.einsum("kij,kj->ki", H[np.argmax(th, axis=-1)], v))
    lam, v = top_eigenvalue(loss, theta, 400, v0)
    assert_allclose(lam, [2.0, 4.0], rtol=1e-8)
    assert_allclose(np.abs(v @ Q), np.eye(5)[[4, 4]], atol=1e-6)  # the top eigenvectors
    plain = igr.power_iteration(loss, theta[1:], iters=400, v0=v0[1:])[0]
    np.testing.assert_array_equal(lam[1:], plain)  # no negative eigenvalue dominates: power iteration itself


def test_sharpness_with_a_generator_repeats_exactly_and_names_a_bad_rng():
    net = igr.MLP((30, 8, 3))  # 275 parameters: the Lanczos path
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 30)), rng.integers(0, 3, 40)
    L, theta = net.loss(X, y), net.init(np.random.default_rng(2))
    a = igr.sharpness(L, theta, rng=np.random.default_rng(5))
    assert a == igr.sharpness(L, theta, rng=np.random.default_rng(5))
    assert abs(a - np.linalg.eigvalsh(igr.hessian(L, theta))[-1]) < 1e-6 * abs(a)
    with pytest.raises(ValueError, match="rng must be"):
        igr.sharpness(L, theta, rng=5)
