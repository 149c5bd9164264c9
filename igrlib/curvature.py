r"""Curvature of a loss: the Hessian matrix and its largest eigenvalue (sharpness).

A minimum is *flat* when the Hessian's eigenvalues are small. GD with learning
rate :math:`h` cannot stay near a minimum whose sharpness exceeds :math:`2/h`.
Chapters *Gradient descent is Euler's method* and *The implicit gradient penalty*.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg

from ._validate import as_theta
from .losses import hvp

__all__ = ["hessian", "sharpness"]

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


def sharpness(loss, theta):
    r"""The largest eigenvalue :math:`\lambda_{\max}` of the Hessian :math:`H(\theta)`.

    Parameters
    ----------
    loss : Loss
    theta : array_like, shape (d,)

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
    d = theta.size
    if d <= DENSE_MAX_DIM:
        return float(np.linalg.eigvalsh(hessian(loss, theta))[-1])
    op = scipy.sparse.linalg.LinearOperator((d, d), matvec=lambda v: hvp(loss, theta, np.ravel(v)), dtype=float)
    return float(scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=1e-8, return_eigenvectors=False)[0])
