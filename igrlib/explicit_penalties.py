r"""Explicit relatives of the implicit penalty: sharpness-aware minimisation and flooding.

* SAM (Foret et al., ICLR 2021) steps with the gradient at a point pushed a
  distance :math:`\rho` uphill,

  .. math::
      \theta_{n+1} = \theta_n - h\,\nabla L\Big(\theta_n + \rho\frac{g}{\lVert g\rVert}\Big),
      \qquad
      \nabla L\Big(\theta + \rho\frac{g}{\lVert g\rVert}\Big) = \nabla\big(L + \rho\lVert g\rVert\big) + O(\rho^2),

  a finite-difference gradient of the *unsquared* penalty :math:`\rho\lVert\nabla L\rVert`.
* Flooding (Ishida et al., ICML 2020) trains on :math:`|L - b| + b`: descent above
  the flood level :math:`b`, ascent below. A descent step followed by an ascent
  step moves :math:`\theta` by :math:`-\frac{h^2}{2}\nabla\lVert\nabla L\rVert^2 + O(h^3)`.

Chapter *Stochastic gradients, momentum and explicit penalties*.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_positive, as_scalar, as_theta
from .descent import gd
from .losses import Loss, hvp

__all__ = ["sam_gradient", "sam", "grad_norm_loss", "flooded"]


def _unit(g):
    """``g / |g|`` row by row, and 0 where ``g = 0``."""
    n = np.linalg.norm(g, axis=-1, keepdims=True)
    return np.where(n > 0, g / np.where(n > 0, n, 1.0), 0.0)


def sam_gradient(loss, theta, rho):
    r"""SAM's gradient: :math:`\nabla L` at the point pushed :math:`\rho` along the gradient.

    .. math::
        \nabla L\big(\theta + \rho\,\hat g\big), \quad \hat g = \frac{g}{\lVert g\rVert}
        \qquad = g + \rho H\hat g + \frac{\rho^2}{2} T(\hat g, \hat g) + O(\rho^3),

    and :math:`g + \rho H\hat g = \nabla(L + \rho\lVert g\rVert)`: to first order in
    :math:`\rho` a finite difference of the unsquared gradient-norm penalty, at the
    cost of one extra gradient. Where :math:`g = 0` there is no push.

    Parameters
    ----------
    loss : Loss
    theta : array_like, shape (d,) or (..., d)
        A stack needs a loss whose ``grad`` maps stacks.
    rho : float
        Radius :math:`\rho > 0`.

    Returns
    -------
    ndarray, shape like ``theta``

    References
    ----------
    P. Foret, A. Kleiner, H. Mobahi, B. Neyshabur, Sharpness-Aware
    Minimization for Efficiently Improving Generalization, ICLR 2021. Chapter
    *Stochastic gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[2.0]])  # g = 2 theta; at theta + 0.1: 2 theta + 0.2
    >>> igr.sam_gradient(L, [1.0], 0.1)
    array([2.2])
    """
    rho = as_positive(rho, "rho")
    theta = np.asarray(theta, dtype=float)
    g = np.asarray(loss.grad(theta), dtype=float)
    return np.asarray(loss.grad(theta + rho * _unit(g)), dtype=float)


def sam(loss, theta0, lr, rho, steps):
    r"""Run sharpness-aware minimisation for one or many learning rates at once.

    .. math::
        \theta_{n+1} = \theta_n - h\,\nabla L\Big(\theta_n + \rho\frac{g(\theta_n)}{\lVert g(\theta_n)\rVert}\Big).

    Parameters
    ----------
    loss : Loss
        Its ``grad`` should map a stack of points for a vectorised sweep.
    theta0 : array_like, shape (d,)
    lr : float or array_like, shape (...)
        Learning rate(s) :math:`h > 0`.
    rho : float
        Radius :math:`\rho > 0`.
    steps : int

    Returns
    -------
    ndarray, shape (*lr.shape, steps + 1, d)
        As :func:`igrlib.gd` (NaN after a divergence, with a warning).

    References
    ----------
    Foret, Kleiner, Mobahi & Neyshabur, ICLR 2021. Chapter *Stochastic
    gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.sam(igr.quadratic([[2.0]]), [1.0], 0.1, 0.1, 2)[:, 0].round(4)
    array([1.   , 0.78 , 0.604])
    """
    theta0 = as_theta(theta0)
    rho = as_positive(rho, "rho")
    stepper = Loss(value=loss.value, grad=lambda theta: sam_gradient(loss, theta, rho))
    return gd(stepper, theta0, lr, steps)


def grad_norm_loss(loss, rho):
    r"""The loss with an unsquared gradient-norm penalty, :math:`L + \rho\lVert\nabla L\rVert`.

    .. math::
        L_\rho = L + \rho\lVert g\rVert, \qquad \nabla L_\rho = g + \rho\frac{Hg}{\lVert g\rVert}.

    The first-order model of SAM (Foret et al. 2021); the gradient-norm penalty
    of Zhao, Zhang & Hu (ICML 2022). Compare the squared penalty of gradient
    descent, :func:`igrlib.modified_loss`. :math:`\lVert g\rVert` has a kink where
    :math:`g = 0`; there the gradient returned is :math:`g = 0`.

    Parameters
    ----------
    loss : Loss
    rho : float
        Strength :math:`\rho > 0`.

    Returns
    -------
    Loss
        Value and exact gradient (from ``loss.hvp`` or its finite difference);
        Hessian-vector products left to finite differences.

    References
    ----------
    Foret et al., ICLR 2021; Y. Zhao, H. Zhang, X. Hu, Penalizing Gradient Norm
    for Efficiently Improving Generalization in Deep Learning, ICML 2022.
    Chapter *Stochastic gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> Lr = igr.grad_norm_loss(igr.quadratic([[2.0]]), 0.1)  # theta^2 + 0.1 |2 theta|
    >>> float(Lr.value([1.0])), Lr.grad([1.0])
    (1.2, array([2.2]))
    """
    rho = as_positive(rho, "rho")

    def value(theta):
        g = np.asarray(loss.grad(np.asarray(theta, dtype=float)), dtype=float)
        return loss.value(theta) + rho * np.linalg.norm(g, axis=-1)

    def grad(theta):
        theta = np.asarray(theta, dtype=float)
        g = np.asarray(loss.grad(theta), dtype=float)
        return g + rho * hvp(loss, theta, _unit(g))

    return Loss(value, grad)


def flooded(loss, flood):
    r"""The flooded loss :math:`|L - b| + b` of Ishida et al. (2020).

    .. math::
        L_b = |L - b| + b, \qquad \nabla L_b = \operatorname{sign}(L - b)\, g:

    gradient descent on :math:`L_b` descends :math:`L` above the flood level
    :math:`b` and ascends it below (and at) :math:`b`. Near the flood level the
    steps alternate, and each descent-ascent pair moves :math:`\theta` by
    :math:`-\frac{h^2}{2}\nabla\lVert g\rVert^2 + O(h^3)`: a gradient step on the
    squared gradient norm.

    Parameters
    ----------
    loss : Loss
    flood : float
        The flood level :math:`b` (finite).

    Returns
    -------
    Loss
        Run it with :func:`igrlib.gd`. ``hvp`` is :math:`\operatorname{sign}(L - b) H v`.

    References
    ----------
    T. Ishida, I. Yamane, T. Sakai, G. Niu, M. Sugiyama, Do We Need Zero
    Training Loss After Achieving Zero Training Error?, ICML 2020. Chapter
    *Stochastic gradients, momentum and explicit penalties*.

    Examples
    --------
    >>> import igrlib as igr
    >>> Lb = igr.flooded(igr.quadratic([[1.0]]), 0.125)  # L = theta^2 / 2
    >>> Lb.grad([1.0]), Lb.grad([0.1])  # above b: descent; below: ascent
    (array([1.]), array([-0.1]))
    """
    b = as_scalar(flood, "flood")

    def sign(theta):
        return np.where(np.asarray(loss.value(theta), dtype=float) > b, 1.0, -1.0)[..., None]

    def value(theta):
        return np.abs(loss.value(theta) - b) + b

    def grad(theta):
        theta = np.asarray(theta, dtype=float)
        return sign(theta) * np.asarray(loss.grad(theta), dtype=float)

    def hvp_(theta, v):
        theta = np.asarray(theta, dtype=float)
        return sign(theta) * hvp(loss, theta, v)

    return Loss(value, grad, hvp_)
