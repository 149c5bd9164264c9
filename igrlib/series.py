r"""The operator series behind the modified equation, and its exact sum for quadratics.

Gradient descent reads :math:`(e^{hD} - 1)\theta = -h g` with :math:`D = d/dt`, so

.. math::
    D\theta = -\frac{hD}{e^{hD} - 1}\, g = -\sum_{n \ge 0} \frac{B_n}{n!} (hD)^n g,

with the Bernoulli numbers :math:`B_n`. For a quadratic loss the series sums to a
matrix logarithm. Chapter *The operator series and the modified equation*.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb, factorial

import numpy as np
import scipy.linalg

from ._validate import as_int, as_lr

__all__ = ["bernoulli_coefficients", "exact_modified_matrix", "riccati_coefficients"]

# The exact recursions cost O(n^2) operations on growing fractions; n = 500 takes seconds.
MAX_BERNOULLI = 500
MAX_RICCATI = 500


def bernoulli_coefficients(n):
    r"""The first ``n`` Taylor coefficients of :math:`x / (e^x - 1)`, exactly.

    .. math::
        \frac{x}{e^x - 1} = \sum_{k \ge 0} \frac{B_k}{k!} x^k,

    with the Bernoulli numbers from the recurrence
    :math:`\sum_{j=0}^{m} \binom{m+1}{j} B_j = 0` (:math:`m \ge 1`), :math:`B_0 = 1`.

    Parameters
    ----------
    n : int
        How many coefficients, at least 0.

    Returns
    -------
    list of fractions.Fraction, length n
        :math:`B_0/0!, B_1/1!, \dots, B_{n-1}/(n-1)!`.

    References
    ----------
    M. Abramowitz, I. A. Stegun, Handbook of Mathematical Functions, 23.1.
    Chapter *The operator series and the modified equation*.

    Examples
    --------
    >>> import igrlib as igr
    >>> [str(c) for c in igr.bernoulli_coefficients(5)]
    ['1', '-1/2', '1/12', '0', '-1/720']
    """
    n = as_int(n, "n")
    if n > MAX_BERNOULLI:
        raise ValueError(f"n must be at most {MAX_BERNOULLI} (exact fractions: n = 500 takes seconds), got {n}")
    B = []
    for m in range(n):
        if m == 0:
            B.append(Fraction(1))
        else:
            B.append(-sum(comb(m + 1, j) * B[j] for j in range(m)) / (m + 1))
    return [b / factorial(k) for k, b in enumerate(B)]


def riccati_coefficients(n):
    r"""The coefficients of the modified equation of gradient descent on :math:`L(y) = -y^3/3`, exactly.

    Gradient descent on :math:`L = -y^3/3` is Euler's method for :math:`\dot y = y^2`,
    :math:`y_{n+1} = y_n + h y_n^2`. Its modified equation (to all orders, as a formal series) is

    .. math::
        \dot y = \tilde f(y) = y^2 \sum_{k \ge 0} c_k\, (hy)^k
        = y^2 - h y^3 + \frac32 h^2 y^4 - \frac83 h^3 y^5 + \cdots .

    The field is invariant under its own time-:math:`h` map :math:`\Phi(y) = y + hy^2`,
    :math:`\tilde f(\Phi(y)) = \Phi'(y)\,\tilde f(y)`; with :math:`x = hy` and
    :math:`F(x) = \sum_k c_k x^k` this reads :math:`(1 + x)^2 F(x + x^2) = (1 + 2x) F(x)`, whose
    coefficient of :math:`x^{n+1}` gives, with :math:`c_0 = 1`,

    .. math::
        c_n = -\frac1n \sum_{k=0}^{n-1} \binom{k + 2}{n + 1 - k}\, c_k .

    The coefficients grow like :math:`n!/(2\pi)^n` (up to a power of :math:`n`): the series
    diverges for every :math:`h y \neq 0`.

    Parameters
    ----------
    n : int
        How many coefficients, at least 0 and at most 500.

    Returns
    -------
    list of fractions.Fraction, length n
        :math:`c_0, \dots, c_{n-1}`.

    References
    ----------
    E. Hairer, C. Lubich, G. Wanner, Geometric Numerical Integration, ch. IX.
    Chapter *The operator series and the modified equation*.

    Examples
    --------
    >>> import igrlib as igr
    >>> [str(c) for c in igr.riccati_coefficients(6)]
    ['1', '-1', '3/2', '-8/3', '31/6', '-157/15']
    """
    n = as_int(n, "n")
    if n > MAX_RICCATI:
        raise ValueError(f"n must be at most {MAX_RICCATI} (exact fractions: n = 500 takes seconds), got {n}")
    c = []
    for m in range(n):
        if m == 0:
            c.append(Fraction(1))
        else:
            c.append(-sum(comb(k + 2, m + 1 - k) * c[k] for k in range(m)) / m)
    return c


def exact_modified_matrix(A, lr):
    r"""The exact modified equation of gradient descent on a quadratic.

    For :math:`L = \tfrac12 \theta^\top A\theta`, GD gives
    :math:`\theta_n = (I - hA)^n \theta_0`, and the linear flow
    :math:`\dot\theta = M\theta` with

    .. math::
        M = \frac1h \log(I - hA) = -\Big(A + \frac h2 A^2 + \frac{h^2}{3} A^3 + \dots\Big)

    passes through every iterate: :math:`e^{nhM} = (I - hA)^n`. The power
    series converges only for :math:`h\lambda_{\max} < 1`.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Symmetric matrix.
    lr : float
        Learning rate :math:`h > 0`.

    Returns
    -------
    ndarray, shape (d, d)
        Real when every eigenvalue satisfies :math:`h\lambda < 1`; complex (the
        principal logarithm) when some :math:`1 - h\lambda < 0`, where GD flips
        sign each step and no real flow reproduces it.

    Raises
    ------
    ValueError
        If :math:`h\lambda = 1` for an eigenvalue (:math:`I - hA` is singular).

    References
    ----------
    Hairer, Lubich & Wanner, Geometric Numerical Integration, ch. IX.
    Chapter *The operator series and the modified equation*.

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.exact_modified_matrix([[1.0]], 0.5).round(6)  # 2 log(1/2)
    array([[-1.386294]])
    """
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or not np.all(np.isfinite(A)):
        raise ValueError(f"A must be a finite square matrix, got shape {A.shape}")
    if not np.allclose(A, A.T, rtol=1e-12, atol=1e-12):
        raise ValueError("A must be symmetric")
    if np.ndim(lr) != 0:
        raise ValueError(f"lr must be a single number, got shape {np.shape(lr)}")
    h = float(as_lr(lr))
    lam, V = scipy.linalg.eigh(A)
    return (V * log_rates(lam, h)) @ V.T


def log_rates(lam, h):
    r"""The eigenvalues :math:`\log(1 - h\lambda)/h` of :math:`\frac1h\log(I - hA)`, from those of :math:`A`.

    The one place where the library takes this logarithm: :func:`exact_modified_matrix`
    and :func:`igrlib.principal_flow_quadratic` both build on it.

    Parameters
    ----------
    lam : ndarray, shape (d,)
        Eigenvalues :math:`\lambda` of the symmetric matrix :math:`A`.
    h : float
        Learning rate, positive.

    Returns
    -------
    ndarray, shape (d,)
        Real when every :math:`1 - h\lambda > 0`; otherwise complex, with the
        principal logarithm :math:`\log|1 - h\lambda| + i\pi` where :math:`1 - h\lambda < 0`.

    Raises
    ------
    ValueError
        If :math:`h\lambda = 1` for an eigenvalue (:math:`I - hA` is singular).
    """
    factor = 1 - h * lam
    if np.any(np.isclose(factor, 0.0, atol=1e-14)):
        raise ValueError(f"I - lr A is singular: lr * lambda = 1 for an eigenvalue lambda of A (lr={h})")
    if np.all(factor > 0):
        return np.log(factor) / h
    return np.log(factor.astype(complex)) / h
