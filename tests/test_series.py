"""igrlib.series: the Bernoulli coefficients and the exact modified equation of a quadratic."""

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose

import igrlib as igr


def test_bernoulli_coefficients_exact_values():
    expected = [Fraction(1), Fraction(-1, 2), Fraction(1, 12), Fraction(0), Fraction(-1, 720), Fraction(0)]
    expected.append(Fraction(1, 30240))
    got = igr.bernoulli_coefficients(7)
    assert got == expected and all(isinstance(c, Fraction) for c in got)
    assert igr.bernoulli_coefficients(0) == []
    assert igr.bernoulli_coefficients(30)[:7] == expected
    assert all(c == 0 for c in igr.bernoulli_coefficients(30)[3::2])  # odd Bernoulli numbers past B_1 vanish


def test_bernoulli_coefficients_sum_to_x_over_expm1():
    # The series of x / (e^x - 1) converges for |x| < 2 pi; 40 terms at |x| <= 2 leave < 1e-16.
    coefficients = np.array([float(c) for c in igr.bernoulli_coefficients(40)])
    x = np.linspace(-2, 2, 9)
    x = x[x != 0]
    series = np.polynomial.polynomial.polyval(x, coefficients)
    assert_allclose(series, x / np.expm1(x), rtol=1e-14)


@pytest.mark.parametrize("n", [-1, 2.5, True, "3", None])
def test_bernoulli_bad_n(n):
    with pytest.raises(ValueError, match="n must be a non-negative integer"):
        igr.bernoulli_coefficients(n)


def spd(rng, eigenvalues):
    Q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    return (Q * eigenvalues) @ Q.T


def test_exact_modified_matrix_is_the_log_series(rng):
    # M = (1/h) log(I - hA) = -sum_k h^(k-1) A^k / k; h lambda_max = 0.3, so 40 terms suffice.
    A, h = spd(rng, [0.5, 1.0, 2.0, 3.0]), 0.1
    M = igr.exact_modified_matrix(A, h)
    series = -sum(h ** (k - 1) * np.linalg.matrix_power(A, k) / k for k in range(1, 41))
    assert M.dtype == float
    assert_allclose(M, M.T, rtol=0, atol=1e-14)
    assert_allclose(M, series, rtol=1e-12, atol=1e-13)
    assert_allclose(scipy.linalg.expm(h * M), np.eye(4) - h * A, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("h", [0.1, 0.45, 0.75, 1.3])  # h lambda_max = 0.2, 0.9, 1.5, 2.6: real, then complex
def test_exact_modified_flow_reproduces_gd(rng, h):
    # e^(n h M) theta0 passes through every iterate, also where GD oscillates (1 < h lambda < 2)
    # or grows (h lambda > 2) and M is complex.
    A = spd(rng, [0.1, 0.4, 1.0, 2.0])
    theta0 = rng.normal(size=4)
    path = igr.gd(igr.quadratic(A), theta0, h, 40)
    M = igr.exact_modified_matrix(A, h)
    assert np.iscomplexobj(M) == (h * 2.0 > 1)
    flow = np.array([scipy.linalg.expm(n * h * M) @ theta0 for n in range(41)])
    scale = np.abs(path).max(axis=1, keepdims=True)
    assert np.all(np.abs(flow - path) <= 1e-12 * scale)


def test_complex_when_a_direction_flips_sign():
    # 1 - h lambda = -1/2 along the second eigenvector: log(-1/2) = -log 2 + i pi.
    M = igr.exact_modified_matrix(np.diag([1.0, 3.0]), 0.5)
    assert_allclose(M, np.diag([np.log(0.5), np.log(0.5) + 1j * np.pi]) / 0.5, rtol=1e-14)


@pytest.mark.parametrize("A, lr", [(np.diag([0.5, 2.0]), 0.5), (np.diag([4.0]), 0.25), (np.diag([1.0, 10.0]), 0.1)])
def test_singular_step_raises(A, lr):
    with pytest.raises(ValueError, match=r"I - lr A is singular"):
        igr.exact_modified_matrix(A, lr)


@pytest.mark.parametrize(
    "A, lr, match",
    [
        ([[1.0, 2.0], [0.0, 1.0]], 0.1, "A must be symmetric"),
        ([1.0, 2.0], 0.1, "A must be a finite square matrix"),
        ([[np.nan]], 0.1, "A must be a finite square matrix"),
        ([[1.0]], 0.0, "lr must be positive"),
        ([[1.0]], -0.1, "lr must be positive"),
        ([[1.0]], np.inf, "lr must be finite"),
        ([[1.0]], [0.1, 0.2], "lr must be a single number"),
    ],
)
def test_bad_arguments(A, lr, match):
    with pytest.raises(ValueError, match=match):
        igr.exact_modified_matrix(A, lr)


def test_riccati_coefficients_exact_values():
    got = igr.riccati_coefficients(8)
    expected = [Fraction(1), Fraction(-1), Fraction(3, 2), Fraction(-8, 3), Fraction(31, 6), Fraction(-157, 15)]
    assert got[:6] == expected and all(isinstance(c, Fraction) for c in got)
    assert igr.riccati_coefficients(0) == []


def _poly_mul(p, q, n):
    out = [Fraction(0)] * n
    for i, a in enumerate(p[:n]):
        for j, b in enumerate(q[: n - i]):
            out[i + j] += a * b
    return out


@pytest.mark.parametrize("K", [1, 3, 6])
def test_riccati_truncation_reproduces_the_euler_step_by_the_lie_series(K):
    """Independent route: the time-h flow of y' = y^2 F(hy), as a Lie series, is y (1 + hy) up to (hy)^(K+1).

    With x = hy, the Lie derivative D = f d/dy maps y^m G(x) to y^(m+1) F(x) (m G + x G'), so
    D^j y = y^(j+1) P_j(x) with P_0 = 1 and P_(j+1) = F ((j+1) P_j + x P_j'); the flow is
    y sum_j x^j P_j(x) / j!, which must equal y (1 + x) through x^(K+1) once F is c_0 + ... + c_K x^K,
    and must miss it at x^(K+2) (the next coefficient is not zero).
    """
    n = K + 3
    F = igr.riccati_coefficients(K + 1) + [Fraction(0)] * (n - K - 1)
    P = [Fraction(1)] + [Fraction(0)] * (n - 1)
    flow = [Fraction(0)] * n
    factorial = 1
    for j in range(n):
        for i in range(n - j):
            flow[i + j] += P[i] / factorial
        derivative = [i * P[i] for i in range(n)]  # x P'
        P = _poly_mul(F, [(j + 1) * a + b for a, b in zip(P, derivative)], n)
        factorial *= j + 1
    assert flow[: K + 2] == [Fraction(1), Fraction(1)] + [Fraction(0)] * K
    assert flow[K + 2] != 0


def test_riccati_coefficients_grow_factorially_with_rate_two_pi():
    c = igr.riccati_coefficients(200)
    n = np.arange(60, 200)
    log_ratio = np.array([math.log(abs(c[k].numerator)) - math.log(c[k].denominator) - math.lgamma(k + 1) for k in n])
    rate = np.linalg.lstsq(np.column_stack([n, np.log(n), np.ones(n.size)]), log_ratio, rcond=None)[0][0]
    assert abs(-rate - math.log(2 * math.pi)) < 0.02  # |c_n| ~ n! n^b / (2 pi)^n
    assert all(c[k] != 0 for k in range(200))


@pytest.mark.parametrize("n", [-1, 2.5, True, "3", None, 501])
def test_riccati_bad_n(n):
    with pytest.raises(ValueError, match="n must be"):
        igr.riccati_coefficients(n)
