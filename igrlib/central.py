r"""The central flow at the edge of stability: gradient flow projected onto :math:`\lambda_{\max} \le 2/h`.

When gradient descent with learning rate :math:`h` reaches the edge of stability, its
iterates oscillate along the top eigenvector :math:`u` of the Hessian, and their time
average follows a smooth path. With one eigenvalue at the edge, Cohen et al. (ICLR 2025)
model that path by

.. math::
    \dot\theta = -\Big(\nabla L(\theta) + \frac{\sigma^2}{2}\nabla S(\theta)\Big),
    \qquad S = \lambda_{\max}, \quad \nabla S = \nabla^3 L(\theta)[u, u],

where :math:`\sigma^2 \ge 0` (the variance of the oscillation along :math:`u`) is the
smallest value that keeps :math:`S \le 2/h`: zero while :math:`S < 2/h`, and
:math:`\sigma^2 = \max\big(0, -2\,\nabla L \cdot \nabla S / \lVert\nabla S\rVert^2\big)`
on the edge. This is the gradient flow of :math:`L` projected onto the set
:math:`\{S \le 2/h\}`; the term :math:`\frac{\sigma^2}{2}\nabla S` is the implicit sharpness
penalty of the self-stabilisation analysis of Damian, Nichani and Lee (ICLR 2023). The time
average of the loss along gradient descent is predicted as :math:`L + \frac{\sigma^2}{2} S`.
Chapter *Large learning rates and the edge of stability*.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .curvature import hessian
from .losses import d3


class CentralFlow(NamedTuple):
    """The central flow sampled at fixed times.

    Attributes
    ----------
    t : ndarray, shape (n,)
        Times, ``0, dt, 2 dt, ...``.
    theta : ndarray, shape (n, d)
        The flow.
    sigma2 : ndarray, shape (n,)
        The predicted variance :math:`\\sigma^2` of the oscillation (0 off the edge).
    sharpness : ndarray, shape (n,)
        :math:`\\lambda_{\\max}(\\theta)` along the flow.
    loss : ndarray, shape (n,)
        The predicted time-averaged loss :math:`L(\\theta) + \\frac{\\sigma^2}{2}\\lambda_{\\max}`.
    """

    t: np.ndarray
    theta: np.ndarray
    sigma2: np.ndarray
    sharpness: np.ndarray
    loss: np.ndarray


def _top(loss, theta):
    """Largest Hessian eigenvalue, its unit eigenvector and the gradient of that eigenvalue."""
    w, U = np.linalg.eigh(hessian(loss, theta))
    u = U[:, -1]
    return w[-1], u, d3(loss, theta, u, u)


def _positive(x, name):
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return float(x)


def central_flow(loss, theta0, lr, t_end, dt=None):
    r"""Integrate the central flow (one eigenvalue at the edge) from ``theta0`` up to ``t_end``.

    Parameters
    ----------
    loss : Loss
        Needs ``value`` and ``grad``; Hessians and third derivatives come from
        :func:`igrlib.hvp` and :func:`igrlib.d3` (exact when the loss has them).
        Dense Hessians: meant for small models.
    theta0 : array_like, shape (d,)
        Start, with :math:`\lambda_{\max}(\theta_0) \le 2/h`.
    lr : float
        The learning rate :math:`h` of the gradient descent being modelled; the edge is :math:`2/h`.
    t_end : float
        Final time (gradient-descent time :math:`t = nh`).
    dt : float, optional
        Integration step; default ``lr / 20``. Forward Euler on the projected field, followed
        by one Newton step back onto :math:`\lambda_{\max} = 2/h` whenever a step overshoots
        the edge: first-order accurate in ``dt``.

    Returns
    -------
    CentralFlow

    Raises
    ------
    ValueError
        For a non-positive ``lr``, ``t_end`` or ``dt``, a ``theta0`` that is not a finite
        vector, or a start above the edge.

    References
    ----------
    J. Cohen, A. Damian, A. Talwalkar, J. Z. Kolter, J. D. Lee, Understanding
    Optimization in Deep Learning with Central Flows, ICLR 2025.
    A. Damian, E. Nichani, J. D. Lee, Self-Stabilization: The Implicit Bias of
    Gradient Descent at the Edge of Stability, ICLR 2023.
    """
    try:
        theta = np.array(theta0, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"theta0 must be real numbers, got {theta0!r}") from None
    if theta.ndim != 1 or theta.size == 0 or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta0 must be a finite 1-D array of shape (d,), got {theta0!r}")
    lr = _positive(lr, "lr")
    t_end = _positive(t_end, "t_end")
    dt = lr / 20 if dt is None else _positive(dt, "dt")
    edge = 2 / lr
    S, u, gS = _top(loss, theta)
    if S > edge * (1 + 1e-9):
        raise ValueError(f"theta0 has sharpness {S:.6g} above the edge 2/lr = {edge:.6g}; start below it")
    n = int(np.ceil(t_end / dt - 1e-9))
    thetas, sigma2s, sharps = [], [], []
    for _ in range(n + 1):
        g = np.asarray(loss.grad(theta), dtype=float)
        sigma2 = 0.0
        if S >= edge * (1 - 1e-9):
            sigma2 = max(0.0, -2 * (g @ gS) / (gS @ gS))
        thetas.append(theta.copy())
        sigma2s.append(sigma2)
        sharps.append(S)
        theta = theta - dt * (g + 0.5 * sigma2 * gS)
        S, u, gS = _top(loss, theta)
        if S > edge:  # back onto the edge along the gradient of the sharpness
            theta = theta - (S - edge) * gS / (gS @ gS)
            S, u, gS = _top(loss, theta)
    theta_arr = np.array(thetas)
    sigma2_arr = np.array(sigma2s)
    sharp_arr = np.array(sharps)
    values = np.array([float(loss.value(th)) for th in theta_arr])
    return CentralFlow(dt * np.arange(n + 1), theta_arr, sigma2_arr, sharp_arr, values + 0.5 * sigma2_arr * sharp_arr)
