r"""Continuous-time flows: the gradient flow and the modified flows of gradient descent.

.. math::
    \dot\theta = -g(\theta) \quad\text{(gradient flow)}, \qquad
    \dot\theta = \tilde f_k(\theta) \quad\text{(modified flow of order } k\text{)}.

Chapters *Steepest descent and the gradient flow* and *The operator series and
the modified equation*.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ._validate import as_lr, as_order, as_theta, as_times, checked_grad
from .losses import d3, hvp

__all__ = ["gradient_flow", "modified_field", "modified_flow", "FlowError", "RTOL", "ATOL"]

# Tolerances of the DOP853 solver. Differences between GD and a flow are
# O(h^3) ~ 1e-6 and smaller in the book, so the solver must be far tighter.
RTOL = 1e-10
ATOL = 1e-12


class FlowError(RuntimeError):
    """The ODE solver could not integrate a flow over the requested times."""


# Evaluations of the vector field one integration may use (a few seconds for the
# book's models); a longer integration is refused instead of running without end.
MAX_EVALS = 200_000


class _TooLong(Exception):
    pass


def _integrate(field, theta0, t):
    if t.size == 1:
        return theta0[None, :].copy()

    calls = [0]

    def counted(_, y):
        calls[0] += 1
        if calls[0] > MAX_EVALS:
            raise _TooLong
        return field(y)

    def solve(**kwargs):
        calls[0] = 0
        return solve_ivp(counted, (0.0, t[-1]), theta0, method="DOP853", rtol=RTOL, atol=ATOL, **kwargs)

    try:
        sol = solve(t_eval=t)
    except _TooLong:
        raise FlowError(
            f"the flow up to t = {t[-1]:.6g} needs more than {MAX_EVALS} evaluations of the field; "
            "ask for a shorter time span"
        ) from None
    if not sol.success or sol.y.shape[1] != t.size:
        reached = solve().t[-1]  # with t_eval, sol.t holds only the requested times reached
        raise FlowError(
            f"the flow could not be integrated past t = {reached:.6g} (asked for t = {t[-1]:.6g}): {sol.message} "
            "The trajectory may blow up in finite time; try shorter times or another starting point."
        )
    return sol.y.T


def gradient_flow(loss, theta0, t):
    r"""Solve the gradient flow :math:`\dot\theta = -\nabla L(\theta)`, :math:`\theta(0) = \theta_0`.

    Integrated with the 8th-order Dormand-Prince method (``DOP853``) at
    ``rtol = 1e-10``, ``atol = 1e-12``.

    Parameters
    ----------
    loss : Loss
    theta0 : array_like, shape (d,)
        Starting point.
    t : array_like, shape (m,)
        Times at which to report the solution: ``t[0] == 0``, strictly increasing.

    Returns
    -------
    ndarray, shape (m, d)
        :math:`\theta(t_i)`.

    Raises
    ------
    FlowError
        If the solver fails (for example when the solution blows up).

    References
    ----------
    E. Hairer, S. P. Norsett, G. Wanner, Solving Ordinary Differential
    Equations I, 2nd ed., Springer 1993 (DOP853). Chapter *Steepest descent and
    the gradient flow*.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> L = igr.quadratic([[1.0]])
    >>> igr.gradient_flow(L, [1.0], [0.0, 1.0])[:, 0].round(10)  # exp(-t)
    array([1.        , 0.36787944])
    """
    theta0 = as_theta(theta0)
    t = as_times(t)
    checked_grad(loss, theta0)
    return _integrate(lambda theta: -np.asarray(loss.grad(theta), dtype=float), theta0, t)


def modified_field(loss, theta, lr, order=1):
    r"""The modified vector field of gradient descent, truncated at ``order``.

    .. math::
        \tilde f = -\Big[g + \frac{h}{2} H g
            + h^2 \Big(\frac13 H H g + \frac1{12} T(g, g)\Big)\Big] + O(h^3),

    keeping the terms up to :math:`h^{\text{order}}` (order 0 is the gradient
    flow, order 1 adds :math:`-\frac h2 Hg = -\frac h4 \nabla\lVert g\rVert^2`).
    The exact flow of this field stays within :math:`O(h^{\text{order}+1})` of the
    GD iterates over a fixed time.

    Parameters
    ----------
    loss : Loss
        Uses ``grad``, and ``hvp`` and ``d3`` (or their finite differences).
    theta : array_like, shape (d,) or (..., d)
        Point(s) where the field is evaluated (a stack needs a loss that maps stacks).
    lr : float
        Learning rate :math:`h \ge 0`; ``lr = 0`` gives the gradient field :math:`-g`.
    order : {0, 1, 2}

    Returns
    -------
    ndarray, shape like ``theta``

    References
    ----------
    E. Hairer, C. Lubich, G. Wanner, Geometric Numerical Integration, 2nd ed.,
    Springer 2006, ch. IX. D. G. T. Barrett, B. Dherin, Implicit Gradient
    Regularization, ICLR 2021. Chapter *The operator series and the modified
    equation*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[2.0]])  # g = 2 theta, H = 2
    >>> fields = [igr.modified_field(L, [1.0], 0.1, order=k) for k in (0, 1, 2)]
    >>> [round(float(f[0]), 6) for f in fields]
    [-2.0, -2.2, -2.226667]
    """
    theta = np.array(theta, dtype=float)
    if theta.ndim == 0 or theta.shape[-1] == 0 or not np.all(np.isfinite(theta)):
        raise ValueError(f"theta must be a finite array of shape (d,) or (..., d), got {theta!r}")
    h = float(as_lr(lr, allow_zero=True)) if np.ndim(lr) == 0 else None
    if h is None:
        raise ValueError(f"lr must be a single number here, got shape {np.shape(lr)}")
    order = as_order(order)
    checked_grad(loss, theta)
    return _modified_field(loss, theta, h, order)


def _modified_field(loss, theta, h, order):
    """:func:`modified_field` without the argument checks (the flow calls it at every stage)."""
    g = np.asarray(loss.grad(theta), dtype=float)
    field = g.copy()
    if order >= 1:
        Hg = hvp(loss, theta, g)
        field += h / 2 * Hg
    if order >= 2:
        field += h**2 * (hvp(loss, theta, Hg) / 3 + d3(loss, theta, g, g) / 12)
    return -field


def modified_flow(loss, theta0, lr, t, order=1):
    r"""Solve :math:`\dot\theta = \tilde f(\theta)`, the flow of :func:`modified_field`.

    Parameters
    ----------
    loss : Loss
    theta0 : array_like, shape (d,)
    lr : float
        Learning rate :math:`h \ge 0`.
    t : array_like, shape (m,)
        Times, ``t[0] == 0``, strictly increasing. GD's step n sits at ``t = n * lr``.
    order : {0, 1, 2}

    Returns
    -------
    ndarray, shape (m, d)

    Raises
    ------
    FlowError
        If the solver fails.

    References
    ----------
    Hairer, Lubich & Wanner, Geometric Numerical Integration, ch. IX. Chapter
    *The operator series and the modified equation*.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> L = igr.quadratic([[1.0]])
    >>> gd_end = igr.gd(L, [1.0], 0.1, 10)[-1, 0]
    >>> flows = [igr.modified_flow(L, [1.0], 0.1, [0.0, 1.0], order=k)[-1, 0]
    ...          for k in (0, 1, 2)]
    >>> [f"{abs(f - gd_end):.1e}" for f in flows]  # each order gains a power of h
    ['1.9e-02', '1.3e-03', '9.5e-05']
    """
    theta0 = as_theta(theta0)
    t = as_times(t)
    modified_field(loss, theta0, lr, order)  # validates lr, order and the loss once, up front
    return _integrate(lambda theta: _modified_field(loss, theta, float(lr), order), theta0, t)
