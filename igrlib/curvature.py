r"""Curvature of a loss: the Hessian matrix, its largest eigenvalue (sharpness), power iteration.

A minimum is *flat* when the Hessian's eigenvalues are small. GD with learning
rate :math:`h` cannot stay near a minimum whose sharpness exceeds :math:`2/h`.
Chapters *Gradient descent is Euler's method* and *The implicit gradient penalty*.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg

from ._validate import as_floats, as_int, as_theta, start_rng
from .losses import Loss, hvp

__all__ = ["hessian", "sharpness", "power_iteration", "top_eigenvalue"]

# Up to this dimension the Hessian is formed and diagonalised exactly; above it
# the largest eigenvalue comes from Lanczos iterations on Hessian-vector products.
DENSE_MAX_DIM = 200


def hessian(loss, theta):
    r"""The Hessian matrix :math:`H(\theta)`, column by column from Hessian-vector products.

    Parameters
    ----------
    loss : Loss
    theta : array_like, shape (d,)

    Returns
    -------
    ndarray, shape (d, d)
        Symmetrised, :math:`(H + H^\top)/2` (exact HVPs are symmetric already).

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.hessian(igr.two_param(), [1.0, 1.0])
    array([[1., 1.],
           [1., 1.]])
    """
    theta = as_theta(theta, "theta")
    d = theta.size
    H = np.array([hvp(loss, theta, e) for e in np.eye(d)]).T
    return (H + H.T) / 2


def sharpness(loss, theta, *, rng=None):
    r"""The largest eigenvalue :math:`\lambda_{\max}` of the Hessian :math:`H(\theta)`.

    Parameters
    ----------
    loss : Loss
    theta : array_like, shape (d,)
    rng : numpy.random.Generator, optional
        Draws the Lanczos start vector (``d > 200``), so that the result repeats exactly;
        without it ARPACK picks its own start.

    Returns
    -------
    float
        Exact (dense eigenvalues) for ``d <= 200``; otherwise from ARPACK's
        Lanczos iteration on Hessian-vector products (relative tolerance 1e-8).

    References
    ----------
    J. Cohen et al., Gradient Descent on Neural Networks Typically Occurs at
    the Edge of Stability, ICLR 2021 (sharpness as a diagnostic).

    Examples
    --------
    >>> import igrlib as igr
    >>> round(igr.sharpness(igr.two_param(), [1.0, 1.0]), 12)  # x^2 (a^2 + b^2)
    2.0
    """
    theta = as_theta(theta, "theta")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator or None, got {rng!r}")
    d = theta.size
    if d <= DENSE_MAX_DIM:
        return float(np.linalg.eigvalsh(hessian(loss, theta))[-1])
    op = scipy.sparse.linalg.LinearOperator((d, d), matvec=lambda v: hvp(loss, theta, np.ravel(v)), dtype=float)
    v0 = None if rng is None else rng.standard_normal(d)
    return float(scipy.sparse.linalg.eigsh(op, k=1, which="LA", v0=v0, tol=1e-8, return_eigenvectors=False)[0])


def power_iteration(loss, theta, *, iters=50, v0=None, rng=None):
    r"""Largest-magnitude Hessian eigenvalue of each network in a stack, by power iteration.

    .. math::
        v_{j+1} = \frac{H v_j}{\lVert H v_j \rVert}, \qquad
        \lambda_j = v_j^\top H v_j \to \lambda \text{ of largest } |\lambda|.

    At and near a minimum the Hessian is nearly positive semidefinite and
    :math:`\lambda` is the sharpness :math:`\lambda_{\max}`. The error shrinks
    like :math:`|\lambda_2/\lambda_1|^{j}`; a warm start ``v0`` (the vector from
    a nearby ``theta``) needs few iterations.

    Parameters
    ----------
    loss : Loss
        Uses ``loss.hvp`` (exact when given, else :func:`igrlib.hvp`'s finite difference).
    theta : array_like, shape (d,) or (k, d)
    iters : int
        Number of Hessian-vector products, at least 1.
    v0 : array_like, shape like ``theta``, optional
        Start vectors (nonzero). Default: one random vector drawn from ``rng``,
        the same for every row.
    rng : numpy.random.Generator, optional
        Draws the start vector when ``v0`` is not given. Left out (deprecated),
        it is ``np.random.default_rng(0)``.

    Returns
    -------
    lam : float or ndarray, shape (k,)
        Rayleigh quotient :math:`v^\top H v` at the last vector.
    v : ndarray, shape like ``theta``
        The last unit vector, to warm-start the next call.

    References
    ----------
    R. von Mises, H. Pollaczek-Geiringer, Praktische Verfahren der
    Gleichungsaufloesung, ZAMM 9 (1929) 152-164. Chapter *Experiments*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.quadratic([[3.0, 1.0], [1.0, 3.0]])
    >>> rng = np.random.default_rng(0)
    >>> lam, v = igr.power_iteration(L, [0.0, 0.0], iters=30, rng=rng)
    >>> round(float(lam), 8), abs(v).round(6)
    (4.0, array([0.707107, 0.707107]))
    """
    theta = as_floats(theta, "theta")
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta must be finite")
    if theta.ndim not in (1, 2) or theta.shape[-1] == 0:
        raise ValueError(f"theta must have shape (d,) or (k, d), got {theta.shape}")
    iters = as_int(iters, "iters", minimum=1)
    if v0 is None:
        rng = start_rng(rng, "power_iteration")
        v = np.broadcast_to(rng.standard_normal(theta.shape[-1]), theta.shape).copy()
    else:
        v = np.array(v0, dtype=float)
        if v.shape != theta.shape:
            raise ValueError(f"v0 must have the shape of theta, {theta.shape}, got {v.shape}")
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    if not np.all(norm > 0) or not np.all(np.isfinite(norm)):
        raise ValueError("v0 must be finite and nonzero in every row")
    v = v / norm
    for _ in range(int(iters)):
        w = hvp(loss, theta, v)
        lam = np.sum(v * w, axis=-1)
        wn = np.linalg.norm(w, axis=-1, keepdims=True)
        v = np.where(wn > 0, w / np.where(wn > 0, wn, 1.0), v)
    return (float(lam) if theta.ndim == 1 else lam), v


def top_eigenvalue(loss, theta, iters, v0):
    r"""The sharpness :math:`\lambda_{\max}` of each network in a stack, by power iteration.

    Power iteration (:func:`power_iteration`) finds the eigenvalue :math:`\lambda`
    of largest modulus. Where it is negative, the largest eigenvalue is found by
    a second power iteration on :math:`H - \lambda I`, whose eigenvalues
    :math:`\lambda_i - \lambda \ge 0` have their largest at :math:`\lambda_{\max} - \lambda`.
    Where :math:`\lambda \ge 0` the result is that of :func:`power_iteration` itself.

    Parameters
    ----------
    loss : Loss
    theta : ndarray, shape (k, d)
    iters : int
        Power iterations, each time.
    v0 : ndarray, shape (k, d)
        Start vectors, nonzero.

    Returns
    -------
    lam : ndarray, shape (k,)
        Estimates of :math:`\lambda_{\max}` (as accurate as ``iters`` allows).
    v : ndarray, shape (k, d)
        The last unit vectors, to warm-start the next call.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> from igrlib.curvature import top_eigenvalue
    >>> L = igr.quadratic(np.diag([1.0, -3.0]))  # power iteration alone finds -3
    >>> lam, v = top_eigenvalue(L, np.zeros((1, 2)), 60, np.ones((1, 2)))
    >>> lam.round(10)
    array([1.])
    """
    lam, v = power_iteration(loss, theta, iters=iters, v0=v0)
    neg = np.flatnonzero(lam < 0)
    if neg.size:
        shift = lam[neg, None]
        shifted = Loss(None, loss.grad, lambda th, w: hvp(loss, th, w) - shift * w)
        mu, v[neg] = power_iteration(shifted, theta[neg], iters=iters, v0=v0[neg])
        lam[neg] = mu + shift[:, 0]
    return lam, v
