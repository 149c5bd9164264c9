r"""Heavy-ball momentum and its modified equation.

Polyak's heavy-ball method with learning rate :math:`h` and momentum :math:`\beta`,

.. math::
    \theta_{n+1} = \theta_n - h\, g(\theta_n) + \beta(\theta_n - \theta_{n-1}),

follows, once its start-up transient (which decays like :math:`\beta^n`) has
died out, the flow

.. math::
    \dot\theta = -\frac{1}{1-\beta}\nabla\Big(L + \frac{h(1+\beta)}{4(1-\beta)^2}\lVert\nabla L\rVert^2\Big) + O(h^2).

Per step it moves like gradient descent with the *effective* learning rate
:math:`h/(1-\beta)`, and its penalty is :math:`(1+\beta)/(1-\beta)` times that
of gradient descent with that learning rate (Ghosh, Lyu, Zhang & Wang, ICLR
2023). Chapter *Stochastic gradients, momentum and explicit penalties*.
"""

from __future__ import annotations

import numpy as np

from ._driver import iterate
from ._validate import as_beta, as_lr, as_steps, as_theta, as_times, check_output_size, checked_grad, stacked
from .flow import gradient_flow, modified_flow

__all__ = ["heavy_ball", "heavy_ball_penalty_lr", "heavy_ball_flow"]


def heavy_ball(loss, theta0, lr, beta, steps, *, v0=None):
    r"""Run heavy-ball momentum for one or many (learning rate, momentum) pairs at once.

    .. math::
        \theta_{n+1} = \theta_n - h\, \nabla L(\theta_n) + \beta\, (\theta_n - \theta_{n-1}),
        \qquad \theta_0 - \theta_{-1} = v_0,

    with :math:`h` = ``lr`` and :math:`\beta` = ``beta``, broadcast against each other.

    Parameters
    ----------
    loss : Loss
    theta0 : array_like, shape (d,)
    lr : float or array_like
        Learning rate(s) :math:`h > 0`.
    beta : float or array_like
        Momentum :math:`0 \le \beta < 1`; ``beta = 0`` is gradient descent.
    steps : int
    v0 : array_like, shape (d,), optional
        The initial velocity :math:`\theta_0 - \theta_{-1}`; zero by default (a ball
        at rest, as deep-learning libraries start). ``-lr * grad(theta0) / (1 - beta)``
        starts on the slow motion that the modified flow describes.

    Returns
    -------
    ndarray, shape (*broadcast(lr, beta).shape, steps + 1, d)
        Every iterate, ``theta0`` first; NaN after a divergence, with a
        :class:`DivergenceWarning`.

    References
    ----------
    B. T. Polyak, Some methods of speeding up the convergence of iteration
    methods, USSR Comput. Math. Math. Phys. 4 (1964) 1-17. Chapter *Stochastic
    gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], 0.5, [0.0, 0.5], 2)[..., 0]
    array([[1.  , 0.5 , 0.25],
           [1.  , 0.5 , 0.  ]])
    """
    theta0 = as_theta(theta0)
    lr = as_lr(lr)
    beta = as_beta(beta)
    steps = as_steps(steps)
    checked_grad(loss, theta0)
    v0 = np.zeros_like(theta0) if v0 is None else np.array(v0, dtype=float)
    if v0.shape != theta0.shape or not np.all(np.isfinite(v0)):
        raise ValueError(f"v0 must be a finite array of shape {theta0.shape}, got {v0!r}")
    try:
        shape = np.broadcast_shapes(lr.shape, beta.shape)
    except ValueError:
        raise ValueError(f"lr of shape {lr.shape} and beta of shape {beta.shape} do not broadcast") from None
    check_output_size(int(np.prod(shape)) * (steps + 1) * theta0.size, "heavy_ball")
    h = np.broadcast_to(lr, shape).reshape(-1, 1)
    b = np.broadcast_to(beta, shape).reshape(-1, 1)
    grad = stacked(loss.grad, theta0)

    start = np.tile(theta0, (h.shape[0], 1))
    prev = start - v0  # theta_{n-1} of every row

    def evaluate(active, theta, n):
        return grad(theta)

    def update(active, theta, g, n):
        new = theta - h[active] * g + b[active] * (theta - prev[active])
        prev[active] = theta
        return new

    def label(i):
        return f"lr={h[i, 0]:.6g} beta={b[i, 0]:.6g}"

    path = iterate(start, steps, evaluate, update, who="heavy_ball", label=label, path=True).path
    return path.reshape(*shape, steps + 1, theta0.size)


def heavy_ball_penalty_lr(lr, beta):
    r"""The learning rate whose gradient-descent penalty equals heavy ball's: :math:`h(1+\beta)/(1-\beta)^2`.

    .. math::
        \frac{h(1+\beta)}{4(1-\beta)^2}\lVert\nabla L\rVert^2
        = \frac{h'}{4}\lVert\nabla L\rVert^2, \qquad h' = \frac{h(1+\beta)}{(1-\beta)^2}
        = \frac{1+\beta}{1-\beta}\cdot\frac{h}{1-\beta}.

    Pass it to :func:`igrlib.modified_loss` to get heavy ball's modified loss.

    Parameters
    ----------
    lr : float or array_like
        Learning rate(s) :math:`h \ge 0`.
    beta : float or array_like
        Momentum :math:`0 \le \beta < 1`.

    Returns
    -------
    float or ndarray

    References
    ----------
    A. Ghosh, H. Lyu, X. Zhang, R. Wang, Implicit Regularization in Heavy-ball
    Momentum Accelerated Stochastic Gradient Descent, ICLR 2023.

    Examples
    --------
    >>> import igrlib as igr
    >>> round(igr.heavy_ball_penalty_lr(0.01, 0.9), 12)  # 0.01 * 1.9 / 0.1^2
    1.9
    """
    h = as_lr(lr, allow_zero=True)
    beta = as_beta(beta)
    out = h * (1 + beta) / (1 - beta) ** 2
    return float(out) if out.ndim == 0 else out


def heavy_ball_flow(loss, theta0, lr, beta, t, order=1):
    r"""The flow that heavy ball follows, order 0 (rescaled gradient flow) or 1 (with its penalty).

    .. math::
        \dot\theta = -\frac{1}{1-\beta}\nabla\Big(L + \frac{h(1+\beta)}{4(1-\beta)^2}\lVert\nabla L\rVert^2\Big)
        \quad(\text{order } 1),

    solved as the modified flow of gradient descent (:func:`igrlib.modified_flow`)
    with learning rate :func:`heavy_ball_penalty_lr` over the rescaled time
    :math:`t/(1-\beta)`. Heavy ball's step n sits at ``t = n * lr``.

    Parameters
    ----------
    loss : Loss
    theta0 : array_like, shape (d,)
    lr : float
        Learning rate :math:`h > 0`.
    beta : float
        Momentum :math:`0 \le \beta < 1`.
    t : array_like, shape (m,)
        Times, ``t[0] == 0``, strictly increasing.
    order : {0, 1}

    Returns
    -------
    ndarray, shape (m, d)

    References
    ----------
    Ghosh, Lyu, Zhang & Wang, ICLR 2023. Chapter *Stochastic gradients,
    momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[1.0]])
    >>> for h in (0.01, 0.005):  # started on the slow motion: v0 = -h g / (1 - beta)
    ...     hb = igr.heavy_ball(L, [1.0], h, 0.5, round(1 / h), v0=[-2 * h])[-1, 0]
    ...     flows = [igr.heavy_ball_flow(L, [1.0], h, 0.5, [0.0, 1.0], order=k)
    ...              for k in (0, 1)]
    ...     print([f"{abs(f[-1, 0] - hb):.1e}" for f in flows])  # h / 2: errors / 2, / 4
    ['8.2e-03', '3.6e-04']
    ['4.1e-03', '9.0e-05']
    """
    if np.ndim(lr) != 0 or np.ndim(beta) != 0:
        raise ValueError("lr and beta must be single numbers here")
    h = float(as_lr(lr))
    b = float(as_beta(beta))
    if isinstance(order, bool) or order not in (0, 1):
        raise ValueError(f"order must be 0 or 1, got {order!r}")
    t = as_times(t) / (1 - b)
    if order == 0:
        return gradient_flow(loss, theta0, t)
    return modified_flow(loss, theta0, heavy_ball_penalty_lr(h, b), t, order=1)
