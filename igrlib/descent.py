r"""Gradient descent: the explicit Euler method for the gradient flow.

.. math::
    \theta_{n+1} = \theta_n - h\, g(\theta_n), \qquad h = \texttt{lr}.

Chapter *Gradient descent is Euler's method*.
"""

from __future__ import annotations

import numpy as np

from ._driver import BLOWUP, DivergenceWarning, iterate
from ._validate import as_lr, as_steps, as_theta, check_output_size, checked_grad, stacked

__all__ = ["gd", "DivergenceWarning", "BLOWUP"]

def gd(loss, theta0, lr, steps):
    r"""Run gradient descent for one or many learning rates at once.

    .. math::
        \theta_{n+1} = \theta_n - h\, \nabla L(\theta_n), \qquad n = 0, \dots, \texttt{steps} - 1,

    where :math:`h` is ``lr``. A sweep over learning rates is one vectorised
    computation: pass an array of ``lr``.

    Parameters
    ----------
    loss : Loss
        The loss; only ``loss.grad`` is used.
    theta0 : array_like, shape (d,)
        Starting point (not modified).
    lr : float or array_like, shape (...)
        Learning rate(s) :math:`h`, finite and positive.
    steps : int
        Number of steps, at least 0.

    Returns
    -------
    ndarray, shape (*lr.shape, steps + 1, d)
        Every iterate, ``theta0`` first. A trajectory that diverges (an iterate
        not finite or beyond :data:`BLOWUP`) is NaN from that step on, and one
        :class:`DivergenceWarning` names the learning rates and steps; the other
        trajectories are unaffected.

    References
    ----------
    A. Cauchy, Methode generale pour la resolution des systemes d'equations
    simultanees, C. R. Acad. Sci. Paris 25 (1847) 536-538. Chapter *Gradient
    descent is Euler's method*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[1.0]])
    >>> igr.gd(L, [1.0], lr=[0.5, 1.5], steps=2)[..., 0]
    array([[ 1.  ,  0.5 ,  0.25],
           [ 1.  , -0.5 ,  0.25]])
    """
    theta0 = as_theta(theta0)
    lr = as_lr(lr)
    steps = as_steps(steps)
    check_output_size(lr.size * (steps + 1) * theta0.size, "gd")
    checked_grad(loss, theta0)
    grad = stacked(loss.grad, theta0)

    h = lr.reshape(-1, 1)  # one row per learning rate

    def evaluate(active, theta, n):
        return grad(theta)

    def update(active, theta, g, n):
        return theta - h[active] * g

    start = np.tile(theta0, (h.shape[0], 1))
    run = iterate(start, steps, evaluate, update, who="gd", label=lambda i: f"lr={h[i, 0]:.6g}", path=True)
    return run.path.reshape(*lr.shape, steps + 1, theta0.size)
