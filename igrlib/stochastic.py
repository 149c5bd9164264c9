r"""Stochastic gradient descent with random shuffling, and its modified loss.

The training loss is the mean of :math:`m` minibatch losses,
:math:`C = \frac1m\sum_{k} C_k`. One *epoch* visits every minibatch once, in a
random order :math:`\sigma`:

.. math::
    \theta_{j+1} = \theta_j - h\, \nabla C_{\sigma(j)}(\theta_j), \qquad j = 0, \dots, m - 1.

Averaged over the orders, the iterate at the end of an epoch follows the
gradient flow of (Smith, Dherin, Barrett & De, ICLR 2021)

.. math::
    \tilde C_{SGD} = C + \frac{h}{4m}\sum_{k=1}^m \lVert\nabla C_k\rVert^2
    = C + \frac h4\lVert\nabla C\rVert^2 + \frac{h}{4m}\sum_{k=1}^m \lVert\nabla C_k - \nabla C\rVert^2.

Chapter *Stochastic gradients, momentum and explicit penalties*.
"""

from __future__ import annotations

import itertools

import numpy as np

from ._driver import iterate
from ._validate import as_int, as_lr, as_steps, as_theta, check_output_size, checked_grad, rowwise, stacked
from .losses import Loss, d3, hvp

__all__ = ["sgd", "sgd_epoch_mean", "sgd_modified_loss"]

# sgd_epoch_mean enumerates all m! orders; 8! = 40320 is the most it will try.
MAX_EXACT_BATCHES = 8


def _check_losses(losses, theta0):
    losses = list(losses)
    if not losses or not all(isinstance(L, Loss) for L in losses):
        raise ValueError("losses must be a non-empty sequence of igrlib Loss objects, one per minibatch")
    for L in losses:
        checked_grad(L, theta0)
    # a gradient written for one point is evaluated one row at a time
    return [L._replace(grad=stacked(L.grad, theta0)) for L in losses]


def sgd(losses, theta0, lr, epochs, *, rng, runs=1):
    r"""Run SGD with random shuffling: many runs and learning rates at once.

    .. math::
        \theta_{j+1} = \theta_j - h\, \nabla C_{\sigma_e(j)}(\theta_j),

    with a fresh uniformly random order :math:`\sigma_e` of the :math:`m`
    minibatches in every epoch :math:`e`, drawn independently for every run, and
    :math:`h` = ``lr``. All runs and learning rates advance together, one
    vectorised step at a time.

    Parameters
    ----------
    losses : sequence of Loss, length m
        The minibatch losses :math:`C_k`; the training loss is their mean. Their
        ``grad`` must map a stack of points, shape (k, d), as the built-in models do.
    theta0 : array_like, shape (d,)
        Starting point, the same for every run.
    lr : float or array_like, shape (...)
        Learning rate(s), positive.
    epochs : int
        Number of epochs (each has m steps), at least 0.
    rng : numpy.random.Generator
        Source of the random orders.
    runs : int
        Independent runs per learning rate, at least 1.

    Returns
    -------
    ndarray, shape (*lr.shape, runs, epochs * m + 1, d)
        Every iterate, ``theta0`` first; the end of epoch e is index ``e * m``.
        Diverged runs are NaN from then on, with a :class:`DivergenceWarning`.

    References
    ----------
    S. L. Smith, B. Dherin, D. G. T. Barrett, S. De, On the Origin of Implicit
    Regularization in Stochastic Gradient Descent, ICLR 2021. Chapter
    *Stochastic gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> batches = [igr.quadratic([[1.0]], [1.0]), igr.quadratic([[1.0]], [-1.0])]
    >>> path = igr.sgd(batches, [0.0], 0.5, 1, rng=np.random.default_rng(0), runs=4)
    >>> path[:, -1, 0]  # either order ends at +-0.25
    array([-0.25, -0.25, -0.25,  0.25])
    """
    theta0 = as_theta(theta0)
    losses = _check_losses(losses, theta0)
    lr = as_lr(lr)
    epochs = as_steps(epochs, "epochs")
    runs = as_int(runs, "runs", minimum=1)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), got {rng!r}")
    m, d = len(losses), theta0.size
    check_output_size(lr.size * runs * (epochs * m + 1) * d, "sgd")

    h = np.repeat(lr.reshape(-1), runs)[:, None]  # one row per (learning rate, run)
    k = h.shape[0]
    order = np.empty((k, m), dtype=int)  # this epoch's order of the minibatches, one row per run

    def evaluate(active, theta, n):
        j = n % m
        if j == 0:  # a new epoch: every run (diverged ones too) draws its order
            order[...] = rng.permuted(np.tile(np.arange(m), (k, 1)), axis=1)
        batch = order[active, j]
        g = np.empty_like(theta)
        for b in range(m):
            sel = np.flatnonzero(batch == b)
            if sel.size:
                g[sel] = losses[b].grad(theta[sel])
        return g

    def update(active, theta, g, n):
        return theta - h[active] * g

    def label(i):
        return f"lr={h[i, 0]:.6g} run {i % runs}"

    start = np.tile(theta0, (k, 1))
    path = iterate(start, epochs * m, evaluate, update, who="sgd", label=label, path=True).path
    return path.reshape(*lr.shape, runs, epochs * m + 1, d)


def sgd_epoch_mean(losses, theta0, lr):
    r"""The mean, over all :math:`m!` orders, of the iterate after one epoch of SGD.

    .. math::
        \mathbb E_\sigma[\theta_m] = \frac{1}{m!}\sum_{\sigma} \theta_m(\sigma)
        = \theta_0 - mh\, g + \frac{h^2}{2}\Big(m^2 H g - \sum_k H_k g_k\Big) + O(h^3),

    with :math:`g, H` the gradient and Hessian of :math:`C` and :math:`g_k, H_k` those
    of :math:`C_k` at :math:`\theta_0`. Exact (no sampling), for testing the modified
    loss without Monte-Carlo noise.

    Parameters
    ----------
    losses : sequence of Loss, length m <= 8
    theta0 : array_like, shape (d,)
    lr : float
        Learning rate :math:`h > 0`.

    Returns
    -------
    ndarray, shape (d,)

    References
    ----------
    Smith, Dherin, Barrett & De, ICLR 2021. Chapter *Stochastic gradients,
    momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> batches = [igr.quadratic([[1.0]], [1.0]), igr.quadratic([[1.0]], [-1.0])]
    >>> igr.sgd_epoch_mean(batches, [0.0], 0.5)  # (0.25 - 0.25) / 2
    array([0.])
    """
    theta0 = as_theta(theta0)
    losses = _check_losses(losses, theta0)
    h = float(as_lr(lr, scalar=True))
    m = len(losses)
    if m > MAX_EXACT_BATCHES:
        raise ValueError(f"losses: at most {MAX_EXACT_BATCHES} minibatches ({m}! orders would be enumerated)")
    orders = np.array(list(itertools.permutations(range(m))))
    theta = np.tile(theta0, (orders.shape[0], 1))
    for j in range(m):
        g = np.empty_like(theta)
        for k in range(m):
            sel = orders[:, j] == k
            g[sel] = losses[k].grad(theta[sel])
        theta = theta - h * g
    return theta.mean(axis=0)


def sgd_modified_loss(losses, lr):
    r"""The modified loss of SGD with random shuffling (Smith et al. 2021).

    .. math::
        \tilde C_{SGD}(\theta) = C(\theta) + \frac{h}{4m}\sum_{k=1}^m \lVert\nabla C_k(\theta)\rVert^2,
        \qquad
        \nabla\tilde C_{SGD} = \nabla C + \frac{h}{2m}\sum_k H_k \nabla C_k,

    with :math:`C = \frac1m\sum_k C_k` and :math:`h` = ``lr``. Its gradient flow over
    time :math:`mh` matches the mean SGD iterate after one epoch up to
    :math:`O(h^3)`. With :math:`m = 1` it is the modified loss of gradient descent.

    Parameters
    ----------
    losses : sequence of Loss, length m
    lr : float
        Learning rate :math:`h \ge 0`.

    Returns
    -------
    Loss
        Value, gradient and Hessian-vector product (the last uses each
        minibatch's ``d3`` or its finite difference).

    References
    ----------
    S. L. Smith, B. Dherin, D. G. T. Barrett, S. De, On the Origin of Implicit
    Regularization in Stochastic Gradient Descent, ICLR 2021. Chapter
    *Stochastic gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> batches = [igr.quadratic([[1.0]], [1.0]), igr.quadratic([[1.0]], [-1.0])]
    >>> C = igr.sgd_modified_loss(batches, 0.4)  # theta^2/2 + 0.05 ((t-1)^2 + (t+1)^2)
    >>> round(float(C.value([0.0])), 6), C.grad([1.0])
    (0.1, array([1.2]))
    """
    losses = list(losses)
    if not losses or not all(isinstance(L, Loss) for L in losses):
        raise ValueError("losses must be a non-empty sequence of igrlib Loss objects, one per minibatch")
    h = float(as_lr(lr, allow_zero=True, scalar=True))
    m = len(losses)
    # a gradient written for one point is evaluated one row at a time on a stack
    losses = [L._replace(grad=rowwise(L.grad)) for L in losses]

    def value(theta):
        theta = np.asarray(theta, dtype=float)
        total = sum(np.asarray(L.value(theta), dtype=float) for L in losses) / m
        pen = sum(np.sum(np.asarray(L.grad(theta), dtype=float) ** 2, axis=-1) for L in losses)
        return total + h / (4 * m) * pen

    def grad(theta):
        theta = np.asarray(theta, dtype=float)
        out = 0.0
        for L in losses:
            gk = np.asarray(L.grad(theta), dtype=float)
            out = out + gk / m + h / (2 * m) * hvp(L, theta, gk)
        return out

    def hvp_(theta, v):
        theta = np.asarray(theta, dtype=float)
        v = np.asarray(v, dtype=float)
        out = 0.0
        for L in losses:
            gk = np.asarray(L.grad(theta), dtype=float)
            Hv = hvp(L, theta, v)
            out = out + Hv / m + h / (2 * m) * (hvp(L, theta, Hv) + d3(L, theta, gk, v))
        return out

    return Loss(value, grad, hvp_)
