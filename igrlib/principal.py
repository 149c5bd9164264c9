r"""Large learning rates, one Hessian eigen-direction at a time: the principal-flow factor.

Along an eigenvector of the Hessian with eigenvalue :math:`\lambda`, one step of
gradient descent multiplies the component by :math:`1 - h\lambda`. A flow
:math:`\dot\theta = -\phi\,\lambda\,\theta` reproduces that step exactly when

.. math::
    \phi(h\lambda) = -\frac{\log(1 - h\lambda)}{h\lambda}, \qquad
    \frac{\log(1 - x)}{x} = -\sum_{k \ge 0} \frac{x^k}{k + 1} \quad (|x| < 1).

The library returns the *principal-flow factor* :math:`\log(1 - x)/x`
(negative for a stable direction), with the principal branch of the complex
logarithm when :math:`x > 1`: its imaginary part :math:`\pi/x` is the sign flip of
every step. Rosca, Wu, Qin & Dherin (TMLR 2023) build their *principal flow* on
this factor. Chapter *Large learning rates and the edge of stability*.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._validate import as_int, as_lr, as_theta, as_times
from .curvature import hessian
from .losses import _matrix
from .series import log_rates

__all__ = ["principal_factor", "principal_series", "principal_field", "principal_flow_quadratic"]

# Below this |x| the factor is evaluated from its Taylor series (four terms,
# error below x^4/5 = 2e-17): the quotient log(1 - x)/x is 0/0 at x = 0.
SERIES_BELOW = 1e-4


def _as_x(x):
    x = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x (= lr * lambda) must be finite, got {x!r}")
    if np.any(x == 1.0):
        raise ValueError(
            "x (= lr * lambda) must not equal 1: there 1 - x = 0 and GD sends that direction to 0 in one step"
        )
    return x


def principal_factor(x):
    r"""The per-direction factor :math:`\log(1 - x)/x` of the principal flow, :math:`x = h\lambda`.

    .. math::
        \theta_{n} = (1 - h\lambda)^n \theta_0 = e^{n h\, \mu}\theta_0, \qquad
        \mu = \frac{\log(1 - h\lambda)}{h} = \lambda \cdot \frac{\log(1 - x)}{x}.

    For :math:`x < 1` the factor is real and negative (it is :math:`-1` at
    :math:`x = 0`, gradient flow). For :math:`x > 1` it is complex, with the principal
    logarithm :math:`\log|1 - x| + i\pi`: the real part gives the contraction
    (:math:`1 < x < 2`) or the growth (:math:`x > 2`) per unit time, the imaginary part
    the flip of sign at every step. Negative :math:`x` (negative curvature) gives a
    real factor in :math:`(-1, 0)`.

    Parameters
    ----------
    x : float or array_like, shape (...)
        :math:`h\lambda`, learning rate times a Hessian eigenvalue; finite, not 1.

    Returns
    -------
    ndarray, shape (...), complex

    References
    ----------
    M. Rosca, Y. Wu, C. Qin, B. Dherin, On a continuous time model of gradient
    descent dynamics and instability in deep learning, TMLR 2023. Chapter
    *Large learning rates and the edge of stability*.

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.principal_factor([0.0, 0.5, 1.5, 2.5]).round(4)
    array([-1.    +0.j    , -1.3863+0.j    , -0.4621+2.0944j,  0.1622+1.2566j])
    """
    x = _as_x(x)
    small = np.abs(x) < SERIES_BELOW
    safe = np.where(small, 0.5, x)  # placeholder where the series is used
    with np.errstate(divide="ignore"):
        # principal branch: log(1 - x) = log|1 - x| + i pi when 1 - x < 0
        log = np.where(safe < 1, np.log1p(-np.where(safe < 1, safe, 0.0)), np.log(np.abs(1 - safe)) + 1j * np.pi)
    series = -(1 + x / 2 + x**2 / 3 + x**3 / 4)
    return np.where(small, series, log / safe).astype(complex)


def principal_series(x, terms):
    r"""The partial sum :math:`-\sum_{k=0}^{\text{terms}-1} x^k/(k+1)` of the factor's Taylor series.

    Keeping ``terms`` terms is the modified equation of gradient descent on a
    quadratic truncated at order :math:`h^{\text{terms}-1}`. The series
    converges to :func:`principal_factor` for :math:`|x| < 1` and diverges for
    :math:`|x| > 1`, although gradient descent itself is stable up to :math:`x < 2`.

    Parameters
    ----------
    x : float or array_like, shape (...)
        :math:`h\lambda`.
    terms : int
        Number of terms, at least 1.

    Returns
    -------
    ndarray, shape (...), float

    Examples
    --------
    >>> import igrlib as igr
    >>> [round(float(igr.principal_series(0.5, n)), 4) for n in (1, 2, 3, 50)]
    [-1.0, -1.25, -1.3333, -1.3863]
    """
    terms = as_int(terms, "terms", minimum=1)
    x = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x must be finite, got {x!r}")
    k = np.arange(terms)
    return -np.sum(x[..., None] ** k / (k + 1), axis=-1)


def principal_field(loss, theta, lr):
    r"""The principal-flow vector field at one point, from the Hessian's eigen-decomposition.

    .. math::
        f(\theta) = \sum_i \frac{\log(1 - h\lambda_i)}{h\lambda_i}\,
        \big(u_i^\top \nabla L(\theta)\big)\, u_i,

    with :math:`(\lambda_i, u_i)` the eigenpairs of :math:`H(\theta)` and :math:`h`
    the learning rate ``lr``. As :math:`h \to 0` it tends to :math:`-\nabla L`; its
    Taylor expansion in :math:`h` starts :math:`-(g + \frac h2 Hg + \frac{h^2}{3}H^2 g
    + \dots)`, the modified field of gradient descent without the third-derivative
    terms. For a quadratic loss it is exact: its flow passes through every GD iterate.

    Parameters
    ----------
    loss : Loss
    theta : array_like, shape (d,)
    lr : float
        Learning rate :math:`h > 0`, with :math:`h\lambda_i \ne 1` for every eigenvalue.

    Returns
    -------
    ndarray, shape (d,), complex
        Real (zero imaginary part) when every :math:`h\lambda_i < 1`.

    References
    ----------
    Rosca, Wu, Qin & Dherin, TMLR 2023 (the principal flow). Chapter *Large
    learning rates and the edge of stability*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[1.0, 0.0], [0.0, 3.0]])
    >>> igr.principal_field(L, [1.0, 1.0], lr=0.5).round(4)  # 2 log(1/2), 2 log(-1/2)
    array([-1.3863+0.j    , -1.3863+6.2832j])
    """
    theta = as_theta(theta, "theta")
    if np.ndim(lr) != 0:
        raise ValueError(f"lr must be a single number, got shape {np.shape(lr)}")
    h = float(as_lr(lr))
    g = np.asarray(loss.grad(theta), dtype=float)
    lam, U = np.linalg.eigh(hessian(loss, theta))
    factor = principal_factor(h * lam)
    return U @ (factor * (U.T @ g))


def principal_flow_quadratic(A, theta0, lr, t):
    r"""The principal flow of :math:`L = \tfrac12\theta^\top A\theta`, solved exactly.

    .. math::
        \theta(t) = U \exp\!\Big(\frac{t}{h}\log(1 - h\Lambda)\Big) U^\top \theta_0,
        \qquad A = U\Lambda U^\top,

    so :math:`\theta(nh) = (I - hA)^n\theta_0`, the gradient-descent iterates, for
    every whole number :math:`n`. Between the steps the solution is complex when
    some :math:`h\lambda > 1`; its real part along such a direction is
    :math:`|1 - h\lambda|^{t/h}\cos(\pi t/h)`, an oscillation of period :math:`2h`.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Symmetric matrix.
    theta0 : array_like, shape (d,)
    lr : float
        Learning rate :math:`h > 0`, :math:`h\lambda \ne 1` for every eigenvalue.
    t : array_like, shape (m,)
        Times, ``t[0] == 0``, strictly increasing.

    Returns
    -------
    ndarray, shape (m, d), complex

    References
    ----------
    Rosca, Wu, Qin & Dherin, TMLR 2023. Chapter *Large learning rates and the
    edge of stability*.

    Examples
    --------
    >>> import igrlib as igr
    >>> path = igr.principal_flow_quadratic([[3.0]], [1.0], 0.5, [0.0, 0.25, 0.5, 1.0])
    >>> path[:, 0].real.round(4)  # GD gives 1, -0.5, 0.25 at t = 0, 0.5, 1
    array([ 1.  ,  0.  , -0.5 ,  0.25])
    """
    A = _matrix("A", A)
    if not np.allclose(A, A.T, rtol=1e-12, atol=1e-12):
        raise ValueError("A must be symmetric")
    theta0 = as_theta(theta0)
    if theta0.size != A.shape[0]:
        raise ValueError(f"theta0 must have shape ({A.shape[0]},) to match A, got {theta0.shape}")
    if np.ndim(lr) != 0:
        raise ValueError(f"lr must be a single number, got shape {np.shape(lr)}")
    h = float(as_lr(lr))
    t = as_times(t)
    lam, U = scipy.linalg.eigh(A)
    rate = log_rates(lam, h).astype(complex)  # log(1 - h lam) / h
    coef = U.T @ theta0
    return (np.exp(np.outer(t, rate)) * coef) @ U.T
