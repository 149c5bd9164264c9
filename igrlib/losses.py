r"""Loss functions with their derivatives: the models every chapter uses.

A loss is an :class:`Loss`, a tuple of pure functions of the parameters
``theta``. Every model here accepts a single point, shape ``(d,)``, or a stack
of points, shape ``(..., d)``, and returns one value (or vector) per point, so
that a sweep over learning rates runs as one array computation.

Notation (chapter *Steepest descent and the gradient flow*): :math:`g` is the
gradient, :math:`H` the Hessian and :math:`T(u, v)_k = \sum_{ij} \partial^3 L /
(\partial\theta_k \partial\theta_i \partial\theta_j)\, u_i v_j` the third
derivative contracted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ._validate import as_floats, regression_data

__all__ = [
    "Loss",
    "hvp",
    "d3",
    "quadratic",
    "least_squares",
    "two_param",
    "rosenbrock",
    "himmelblau",
]

# Central differences of a gradient have truncation error O(eps**2) and
# round-off error O(machine epsilon / eps); eps ~ u**(1/3) balances the two
# (u = 2.2e-16), giving about 10 correct digits. Differencing twice (d3 from a
# finite-difference hvp) balances at eps ~ u**(1/4), about 7 correct digits.
FD_STEP_ONCE = np.finfo(float).eps ** (1 / 3)
FD_STEP_TWICE = np.finfo(float).eps ** (1 / 4)


class Loss(NamedTuple):
    r"""A loss :math:`L(\theta)` given by pure functions of ``theta``.

    Parameters
    ----------
    value : callable
        ``value(theta) -> float``: the loss :math:`L(\theta)`, ``theta`` of
        shape ``(d,)``.
    grad : callable
        ``grad(theta) -> (d,)``: the gradient :math:`g(\theta)`.
    hvp : callable, optional
        ``hvp(theta, v) -> (d,)``: the Hessian-vector product :math:`H(\theta)
        v`. Left ``None``, :func:`igrlib.hvp` uses central differences of
        ``grad`` (about 10 correct digits).
    d3 : callable, optional
        ``d3(theta, u, v) -> (d,)``: the third derivative contracted twice,
        :math:`T(u, v)`. Left ``None``, :func:`igrlib.d3` uses central
        differences of the Hessian-vector product (about 10 correct digits
        with an exact ``hvp``, about 7 when that is itself a difference).

    Notes
    -----
    The functions may also accept a stack of points, ``theta`` of shape
    ``(..., d)``, returning shapes ``(...)`` and ``(..., d)``; all the built-in
    models do. :func:`igrlib.gd` then runs a whole sweep of learning rates as
    one computation, and falls back to one point at a time otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> L = igr.Loss(value=lambda th: 0.5 * th @ th, grad=lambda th: th)
    >>> igr.hvp(L, np.array([1.0, 2.0]), np.array([1.0, 0.0])).round(8)
    array([1., 0.])
    """

    value: Callable
    grad: Callable
    hvp: Callable | None = None
    d3: Callable | None = None


def _fd_step(theta, v, base):
    """Step size for a central difference along ``v`` at ``theta`` (per row)."""
    scale = 1.0 + np.linalg.norm(theta, axis=-1, keepdims=True)
    vnorm = np.linalg.norm(v, axis=-1, keepdims=True)
    return base * scale / np.where(vnorm > 0, vnorm, 1.0)


def hvp(loss, theta, v):
    r"""Hessian-vector product :math:`H(\theta) v`, exact when the loss has one.

    Parameters
    ----------
    loss : Loss
    theta, v : array_like, shape (d,) or (..., d)

    Returns
    -------
    ndarray, shape like ``theta``
        ``loss.hvp(theta, v)`` if given, else the central difference
        :math:`(g(\theta + \epsilon v) - g(\theta - \epsilon v)) / (2\epsilon)`.
    """
    theta = np.asarray(theta, dtype=float)
    v = np.asarray(v, dtype=float)
    if loss.hvp is not None:
        return np.asarray(loss.hvp(theta, v), dtype=float)
    eps = _fd_step(theta, v, FD_STEP_ONCE)
    return (loss.grad(theta + eps * v) - loss.grad(theta - eps * v)) / (2 * eps)


def d3(loss, theta, u, v):
    r"""Third derivative contracted twice, :math:`T(u, v)`, exact when given.

    Parameters
    ----------
    loss : Loss
    theta, u, v : array_like, shape (d,) or (..., d)

    Returns
    -------
    ndarray, shape like ``theta``
        ``loss.d3(theta, u, v)`` if given, else the central difference of
        :func:`hvp` along ``u``: :math:`(H(\theta + \epsilon u) v -
        H(\theta - \epsilon u) v) / (2\epsilon)`.
    """
    theta = np.asarray(theta, dtype=float)
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    if loss.d3 is not None:
        return np.asarray(loss.d3(theta, u, v), dtype=float)
    base = FD_STEP_ONCE if loss.hvp is not None else FD_STEP_TWICE
    eps = _fd_step(theta, u, base)
    return (hvp(loss, theta + eps * u, v) - hvp(loss, theta - eps * u, v)) / (2 * eps)


def _matrix(name, A):
    A = as_floats(A, name)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} must be finite")
    return A


def _two_coordinates(theta, model, names):
    """Split ``theta`` of shape (..., 2) into its two coordinates, or raise naming the model."""
    theta = np.asarray(theta, dtype=float)
    if theta.shape[-1] != 2:
        raise ValueError(f"{model} takes theta = ({names}), got shape {theta.shape}")
    return theta[..., 0], theta[..., 1]


def quadratic(A, b=None):
    r"""The quadratic :math:`L(\theta) = \tfrac12 \theta^\top A \theta - b^\top \theta`.

    Gradient :math:`A\theta - b`, Hessian :math:`A`, third derivative zero.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Symmetric matrix.
    b : array_like, shape (d,), optional
        Linear term; zero by default.

    Returns
    -------
    Loss

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[2.0, 0.0], [0.0, 1.0]])
    >>> float(L.value([1.0, 1.0])), L.grad([1.0, 1.0])
    (1.5, array([2., 1.]))
    """
    A = _matrix("A", A)
    if not np.allclose(A, A.T, rtol=1e-12, atol=1e-12):
        raise ValueError("A must be symmetric (only its symmetric part enters L)")
    d = A.shape[0]
    b = np.zeros(d) if b is None else as_floats(b, "b")
    if b.shape != (d,):
        raise ValueError(f"b must have shape ({d},) to match A, got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("b must be finite")

    def value(theta):
        theta = np.asarray(theta, dtype=float)
        return 0.5 * np.einsum("...i,ij,...j->...", theta, A, theta) - theta @ b

    def grad(theta):
        return np.asarray(theta, dtype=float) @ A - b

    def hvp_(theta, v):
        return np.asarray(v, dtype=float) @ A

    def d3_(theta, u, v):
        return np.zeros(np.broadcast_shapes(np.shape(theta), np.shape(u)))

    return Loss(value, grad, hvp_, d3_)


def least_squares(X, y):
    r"""Linear regression, :math:`L(\theta) = \frac{1}{2n} \lVert X\theta - y\rVert^2`.

    Gradient :math:`X^\top (X\theta - y) / n`, Hessian :math:`X^\top X / n`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Inputs, one example a row.
    y : array_like, shape (n,)
        Targets.

    Returns
    -------
    Loss

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.least_squares([[1.0, 0.0], [0.0, 2.0]], [1.0, 2.0])
    >>> float(L.value([1.0, 1.0])), L.grad([0.0, 0.0])
    (0.0, array([-0.5, -2. ]))
    """
    X, y = regression_data(X, y)
    n = X.shape[0]

    def value(theta):
        r = np.asarray(theta, dtype=float) @ X.T - y
        return 0.5 * np.sum(r**2, axis=-1) / n

    def grad(theta):
        r = np.asarray(theta, dtype=float) @ X.T - y
        return r @ X / n

    def hvp_(theta, v):
        return (np.asarray(v, dtype=float) @ X.T) @ X / n

    def d3_(theta, u, v):
        return np.zeros(np.broadcast_shapes(np.shape(theta), np.shape(u)))

    return Loss(value, grad, hvp_, d3_)


def two_param(x=1.0, y=1.0):
    r"""Barrett & Dherin's two-parameter model, :math:`E(a, b) = \tfrac12 (y - abx)^2`.

    One data point ``(x, y)`` and ``theta = (a, b)``. The global minima form the
    hyperbola :math:`ab = y/x`; with :math:`r = y - abx`,

    .. math::
        g = -r x \begin{pmatrix} b \\ a \end{pmatrix}, \qquad
        H = \begin{pmatrix} b^2x^2 & abx^2 - rx \\ abx^2 - rx & a^2x^2 \end{pmatrix}.

    Parameters
    ----------
    x, y : float
        The data point; ``x`` must be nonzero.

    Returns
    -------
    Loss

    References
    ----------
    D. G. T. Barrett and B. Dherin, Implicit Gradient Regularization, ICLR
    2021, Fig. 1. Chapter *The implicit gradient penalty*.

    Examples
    --------
    >>> import igrlib as igr
    >>> E = igr.two_param()
    >>> round(float(E.value([2.8, 3.5])), 6), E.grad([2.8, 3.5]).round(6)
    (38.72, array([30.8 , 24.64]))
    """
    x, y = float(x), float(y)
    if not (np.isfinite(x) and np.isfinite(y)) or x == 0:
        raise ValueError(f"x must be finite and nonzero and y finite, got x={x}, y={y}")

    def split(theta):
        return _two_coordinates(theta, "two_param", "a, b")

    def value(theta):
        a, b = split(theta)
        return 0.5 * (y - a * b * x) ** 2

    def grad(theta):
        a, b = split(theta)
        r = y - a * b * x
        return np.stack([-r * b * x, -r * a * x], axis=-1)

    def hvp_(theta, v):
        a, b = split(theta)
        v = np.asarray(v, dtype=float)
        r = y - a * b * x
        off = a * b * x**2 - r * x
        return np.stack(
            [b**2 * x**2 * v[..., 0] + off * v[..., 1], off * v[..., 0] + a**2 * x**2 * v[..., 1]],
            axis=-1,
        )

    def d3_(theta, u, v):
        # Nonzero third derivatives: E_aab = 2 b x^2, E_abb = 2 a x^2.
        a, b = split(theta)
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        ua, ub, va, vb = u[..., 0], u[..., 1], v[..., 0], v[..., 1]
        mixed = ua * vb + ub * va
        return np.stack(
            [2 * b * x**2 * mixed + 2 * a * x**2 * ub * vb, 2 * b * x**2 * ua * va + 2 * a * x**2 * mixed],
            axis=-1,
        )

    return Loss(value, grad, hvp_, d3_)


def rosenbrock(a=1.0, b=100.0):
    r"""Rosenbrock's banana valley, :math:`L(x, y) = (a - x)^2 + b (y - x^2)^2`.

    Nonconvex, with one minimum at :math:`(a, a^2)` at the bottom of a curved
    valley; ``b`` sets how steep the valley walls are.

    Parameters
    ----------
    a, b : float
        Shape parameters; ``b`` must be positive.

    Returns
    -------
    Loss

    References
    ----------
    H. H. Rosenbrock, An automatic method for finding the greatest or least
    value of a function, The Computer Journal 3 (1960) 175-184.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.rosenbrock()
    >>> float(L.value([1.0, 1.0])), L.grad([0.0, 0.0])
    (0.0, array([-2.,  0.]))
    """
    a, b = float(a), float(b)
    if not np.isfinite(a) or not (np.isfinite(b) and b > 0):
        raise ValueError(f"a must be finite and b finite and positive, got a={a}, b={b}")

    def split(theta):
        return _two_coordinates(theta, "rosenbrock", "x, y")

    def value(theta):
        x, y = split(theta)
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def grad(theta):
        x, y = split(theta)
        w = y - x**2
        return np.stack([-2 * (a - x) - 4 * b * x * w, 2 * b * w], axis=-1)

    def hvp_(theta, v):
        x, y = split(theta)
        v = np.asarray(v, dtype=float)
        hxx = 2 - 4 * b * y + 12 * b * x**2
        hxy = -4 * b * x
        return np.stack([hxx * v[..., 0] + hxy * v[..., 1], hxy * v[..., 0] + 2 * b * v[..., 1]], axis=-1)

    def d3_(theta, u, v):
        # Nonzero third derivatives: L_xxx = 24 b x, L_xxy = -4 b.
        x, _ = split(theta)
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        ux, uy, vx, vy = u[..., 0], u[..., 1], v[..., 0], v[..., 1]
        return np.stack([24 * b * x * ux * vx - 4 * b * (ux * vy + uy * vx), -4 * b * ux * vx], axis=-1)

    return Loss(value, grad, hvp_, d3_)


def himmelblau():
    r"""Himmelblau's function, :math:`L(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2`.

    Nonconvex with four global minima (value 0, one at :math:`(3, 2)`), a local
    maximum and four saddles: a good landscape for drawing gradient-flow lines.

    Returns
    -------
    Loss

    References
    ----------
    D. M. Himmelblau, Applied Nonlinear Programming, McGraw-Hill, 1972.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.himmelblau()
    >>> float(L.value([3.0, 2.0])), L.grad([0.0, 0.0])
    (0.0, array([-14., -22.]))
    """

    def split(theta):
        return _two_coordinates(theta, "himmelblau", "x, y")

    def value(theta):
        x, y = split(theta)
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def grad(theta):
        x, y = split(theta)
        p, q = x**2 + y - 11, x + y**2 - 7
        return np.stack([4 * x * p + 2 * q, 2 * p + 4 * y * q], axis=-1)

    def hvp_(theta, v):
        x, y = split(theta)
        v = np.asarray(v, dtype=float)
        p, q = x**2 + y - 11, x + y**2 - 7
        hxx = 4 * p + 8 * x**2 + 2
        hxy = 4 * (x + y)
        hyy = 4 * q + 8 * y**2 + 2
        return np.stack([hxx * v[..., 0] + hxy * v[..., 1], hxy * v[..., 0] + hyy * v[..., 1]], axis=-1)

    def d3_(theta, u, v):
        # L_xxx = 24 x, L_xxy = L_xyy = 4, L_yyy = 24 y.
        x, y = split(theta)
        u = np.asarray(u, dtype=float)
        v = np.asarray(v, dtype=float)
        ux, uy, vx, vy = u[..., 0], u[..., 1], v[..., 0], v[..., 1]
        mixed = ux * vy + uy * vx
        return np.stack(
            [24 * x * ux * vx + 4 * mixed + 4 * uy * vy, 4 * ux * vx + 4 * mixed + 24 * y * uy * vy],
            axis=-1,
        )

    return Loss(value, grad, hvp_, d3_)
