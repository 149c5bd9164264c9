r"""The implicit gradient penalty and the modified loss.

.. math::
    \tilde L = L + \frac h4 \lVert \nabla L \rVert^2, \qquad
    \nabla \tilde L = g + \frac h2 H g.

Chapter *The implicit gradient penalty*.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_lr
from .losses import Loss, d3, hvp

__all__ = ["grad_norm_sq", "modified_loss"]


def grad_norm_sq(loss, theta):
    r"""The squared gradient norm :math:`\lVert \nabla L(\theta) \rVert^2`.

    Parameters
    ----------
    loss : Loss
    theta : array_like, shape (d,) or (..., d)

    Returns
    -------
    float or ndarray, shape (...)

    Examples
    --------
    >>> import igrlib as igr
    >>> float(igr.grad_norm_sq(igr.quadratic([[1.0, 0.0], [0.0, 2.0]]), [3.0, 2.0]))
    25.0
    """
    g = np.asarray(loss.grad(np.asarray(theta, dtype=float)), dtype=float)
    return np.sum(g**2, axis=-1)


def modified_loss(loss, lr):
    r"""The first-order modified loss of gradient descent.

    .. math::
        \tilde L(\theta) = L(\theta) + \frac h4 \lVert g(\theta) \rVert^2, \quad
        \nabla\tilde L = g + \frac h2 H g, \quad
        \nabla^2\tilde L\, v = H v + \frac h2 \big(H H v + T(g, v)\big).

    Gradient descent with learning rate :math:`h` follows the gradient flow of
    :math:`\tilde L` up to :math:`O(h^2)`. With a chosen ``lr`` this is also the
    loss of *explicit* gradient regularisation with coefficient ``lr / 4``.

    Parameters
    ----------
    loss : Loss
    lr : float
        Learning rate :math:`h \ge 0`.

    Returns
    -------
    Loss
        Exact value, gradient and Hessian-vector product (the last uses
        ``loss.d3``, or its finite difference); ``d3`` is left to finite differences.

    References
    ----------
    D. G. T. Barrett, B. Dherin, Implicit Gradient Regularization, ICLR 2021.
    Chapter *The implicit gradient penalty*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[2.0]])
    >>> Lt = igr.modified_loss(L, 0.1)  # L + 0.025 (2 theta)^2
    >>> float(Lt.value([1.0])), Lt.grad([1.0])
    (1.1, array([2.2]))
    """
    if np.ndim(lr) != 0:
        raise ValueError(f"lr must be a single number, got shape {np.shape(lr)}")
    h = float(as_lr(lr, allow_zero=True))

    def value(theta):
        return loss.value(theta) + h / 4 * grad_norm_sq(loss, theta)

    def grad(theta):
        g = np.asarray(loss.grad(theta), dtype=float)
        return g + h / 2 * hvp(loss, theta, g)

    def hvp_(theta, v):
        g = np.asarray(loss.grad(theta), dtype=float)
        Hv = hvp(loss, theta, v)
        return Hv + h / 2 * (hvp(loss, theta, Hv) + d3(loss, theta, g, v))

    return Loss(value, grad, hvp_)
