r"""Diagonal linear networks: :math:`\beta = u \odot v`, the balance :math:`u^2 - v^2`, and the
interpolator that the balance selects.

The network predicts :math:`x^\top\beta` with :math:`\beta = u \odot v` (elementwise), and its
parameters are :math:`\theta = (u, v) \in \mathbb R^{2d}`. On the square loss

.. math::
    L(\theta) = \frac{1}{2n}\lVert X(u \odot v) - y\rVert^2, \qquad
    \nabla_u L = v \odot g, \quad \nabla_v L = u \odot g, \quad g = \tfrac1n X^\top(X\beta - y),

the gradient flow keeps every balance :math:`u_i^2 - v_i^2`, and one step of (stochastic)
gradient descent with gradient :math:`g` multiplies it by exactly :math:`1 - h^2 g_i^2`.
Started at :math:`u = \sqrt2\,\alpha`, :math:`v = 0`, the flow ends at the interpolator
minimising the hyperbolic entropy :math:`\psi_\alpha` (Woodworth et al. 2020); with a step,
training ends near the minimiser of :math:`\psi_{\alpha_\infty}` with the *effective* scales
:math:`\alpha_{\infty,i} = \sqrt{(u_i^2 - v_i^2)/2}` at the end (Even et al. 2023).

Chapter *Where the step size decides the answer*.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._driver import iterate
from ._validate import as_floats, as_int, as_lr, check_output_size, regression_data
from .losses import Loss

__all__ = [
    "diagonal_network",
    "diagonal_start",
    "product",
    "balance",
    "effective_alpha",
    "hyperbolic_entropy",
    "entropy_interpolator",
    "train_diagonal",
    "DiagonalRun",
    "sparse_problem",
]


def _halves(theta):
    theta = np.asarray(theta, dtype=float)
    if theta.ndim == 0 or theta.shape[-1] % 2:
        raise ValueError(
            f"theta must hold (u, v), an even number 2d of entries in its last axis, got shape {theta.shape}"
        )
    d = theta.shape[-1] // 2
    return theta[..., :d], theta[..., d:]


def product(theta):
    r"""The regression vector :math:`\beta = u \odot v` of the network :math:`\theta = (u, v)`.

    Parameters
    ----------
    theta : array_like, shape (..., 2d)

    Returns
    -------
    ndarray, shape (..., d)

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.product([1.0, 2.0, 3.0, -0.5])
    array([ 3., -1.])
    """
    u, v = _halves(theta)
    return u * v


def balance(theta):
    r"""The balance :math:`u_i^2 - v_i^2` of every coordinate, which the gradient flow keeps.

    Parameters
    ----------
    theta : array_like, shape (..., 2d)

    Returns
    -------
    ndarray, shape (..., d)

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.balance([1.0, 2.0, 3.0, -0.5])
    array([-8.  ,  3.75])
    """
    u, v = _halves(theta)
    return u**2 - v**2


def effective_alpha(theta):
    r"""The effective initialisation scale :math:`\alpha_i = \sqrt{\lvert u_i^2 - v_i^2\rvert / 2}`.

    A network started at :func:`diagonal_start` with scale :math:`\alpha` has this scale,
    :math:`\alpha`, at the start; the gradient flow keeps it; a step of gradient descent shrinks
    it. At the end of training it is the :math:`\alpha_\infty` of Even et al. (2023).

    Parameters
    ----------
    theta : array_like, shape (..., 2d)

    Returns
    -------
    ndarray, shape (..., d)

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.effective_alpha(igr.diagonal_start(0.1, 2))
    array([0.1, 0.1])
    """
    return np.sqrt(np.abs(balance(theta)) / 2)


def diagonal_start(alpha, d):
    r"""The start :math:`u = \sqrt2\,\alpha`, :math:`v = 0`: :math:`\beta = 0` with balance :math:`2\alpha^2`.

    Parameters
    ----------
    alpha : float or array_like, shape (d,)
        Initialisation scale(s), positive.
    d : int
        Number of coordinates.

    Returns
    -------
    ndarray, shape (2d,)

    Examples
    --------
    >>> import igrlib as igr
    >>> igr.diagonal_start(0.5, 2).round(4)
    array([0.7071, 0.7071, 0.    , 0.    ])
    """
    d = as_int(d, "d", minimum=1)
    alpha = as_floats(alpha, "alpha")
    if alpha.ndim > 1 or alpha.size not in (1, d) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(f"alpha must be one positive number or {d} of them, got {alpha!r}")
    return np.concatenate([np.sqrt(2.0) * np.broadcast_to(alpha, (d,)), np.zeros(d)])


def diagonal_network(X, y):
    r"""The square loss of the diagonal linear network, :math:`\theta = (u, v)`, :math:`\beta = u \odot v`.

    .. math::
        L(\theta) = \frac{1}{2n}\lVert X(u \odot v) - y\rVert^2, \qquad
        \nabla L = (v \odot g,\; u \odot g), \quad g = \tfrac1n X^\top (X\beta - y),

    with the exact Hessian-vector product
    :math:`H(a, b) = (b \odot g + v \odot A\delta,\; a \odot g + u \odot A\delta)`,
    :math:`\delta = a \odot v + u \odot b`, :math:`A = X^\top X / n`.

    Parameters
    ----------
    X : array_like, shape (n, d)
    y : array_like, shape (n,)

    Returns
    -------
    Loss
        On ``theta`` of shape (2d,) or a stack (..., 2d).

    References
    ----------
    B. Woodworth, S. Gunasekar, J. D. Lee, E. Moroshko, P. Savarese, I. Golan, D. Soudry,
    N. Srebro, Kernel and rich regimes in overparametrized models, COLT 2020.
    Chapter *Where the step size decides the answer*.

    Examples
    --------
    >>> import igrlib as igr
    >>> L = igr.diagonal_network([[1.0, 2.0]], [1.0])
    >>> float(L.value([1.0, 1.0, 1.0, 0.0])), L.grad([1.0, 1.0, 1.0, 0.0])
    (0.0, array([0., 0., 0., 0.]))
    """
    X, y = regression_data(X, y)
    n = X.shape[0]
    A = X.T @ X / n

    def residual(theta):
        return product(theta) @ X.T - y

    def value(theta):
        return 0.5 * np.sum(residual(theta) ** 2, axis=-1) / n

    def grad(theta):
        u, v = _halves(theta)
        g = residual(theta) @ X / n
        return np.concatenate([v * g, u * g], axis=-1)

    def hvp(theta, direction):
        u, v = _halves(theta)
        a, b = _halves(direction)
        g = residual(theta) @ X / n
        Ad = (a * v + u * b) @ A
        return np.concatenate([b * g + v * Ad, a * g + u * Ad], axis=-1)

    return Loss(value, grad, hvp)


def _entropy_terms(beta, alpha):
    a2 = np.asarray(alpha, dtype=float) ** 2
    z = beta / a2
    return a2 * (z * np.arcsinh(z) - np.sqrt(1.0 + z**2) + 1.0)


def hyperbolic_entropy(beta, alpha):
    r"""The hyperbolic entropy :math:`\psi_\alpha(\beta) = \sum_i \alpha_i^2\, q(\beta_i / \alpha_i^2)`,
    :math:`q(z) = z\,\mathrm{arsinh}\,z - \sqrt{1 + z^2} + 1`.

    Its gradient is :math:`\mathrm{arsinh}(\beta_i / \alpha_i^2)`. As :math:`\alpha \to 0`,
    :math:`\psi_\alpha(\beta) / \ln(1/\alpha^2) \to \lVert\beta\rVert_1`; as :math:`\alpha \to \infty`,
    :math:`\alpha^2\psi_\alpha \to \frac12\lVert\beta\rVert_2^2`.

    Parameters
    ----------
    beta : array_like, shape (..., d)
    alpha : float or array_like, shape (d,)
        Positive scales.

    Returns
    -------
    ndarray, shape (...)

    References
    ----------
    Woodworth et al., COLT 2020. Chapter *Where the step size decides the answer*.

    Examples
    --------
    >>> import igrlib as igr
    >>> round(float(igr.hyperbolic_entropy([0.0, 0.0], 0.1)), 6)
    0.0
    >>> round(float(igr.hyperbolic_entropy([1.0], 10.0)), 6)
    0.005
    """
    beta = as_floats(beta, "beta")
    alpha = _scales(alpha, beta.shape[-1] if beta.ndim else 1)
    return np.sum(_entropy_terms(beta, alpha), axis=-1)


def _scales(alpha, d):
    alpha = as_floats(alpha, "alpha")
    if alpha.ndim > 1 or alpha.size not in (1, d) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(f"alpha must be one positive number or {d} of them, got {alpha!r}")
    return np.broadcast_to(alpha, (d,))


# Newton on the dual stops when the constraint residual |X beta - y| is this small relative to |y|.
INTERPOLATION_RTOL = 1e-12


def entropy_interpolator(X, y, alpha, *, max_iter=500):
    r"""The interpolator of least hyperbolic entropy: :math:`\arg\min \psi_\alpha(\beta)` subject to :math:`X\beta = y`.

    The minimiser has the form :math:`\beta_i = \alpha_i^2 \sinh((X^\top\mu)_i)`, with :math:`\mu`
    minimising the convex dual :math:`\sum_i \alpha_i^2\cosh((X^\top\mu)_i) - y^\top\mu`; this
    function finds :math:`\mu` by Newton's method with backtracking.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Of full row rank (n <= d), so that interpolators exist.
    y : array_like, shape (n,)
    alpha : float or array_like, shape (d,)
        The scales, positive (per coordinate: the :math:`\alpha_\infty` of a trained network).
    max_iter : int
        Most Newton steps.

    Returns
    -------
    ndarray, shape (d,)

    References
    ----------
    Woodworth et al., COLT 2020; M. Even, S. Pesme, S. Gunasekar, N. Flammarion, (S)GD over
    diagonal linear networks: implicit bias, large stepsizes and edge of stability, NeurIPS 2023.
    Chapter *Where the step size decides the answer*.

    Examples
    --------
    >>> import igrlib as igr
    >>> X, y = [[1.0, 1.0]], [2.0]
    >>> igr.entropy_interpolator(X, y, 1e-3).round(6)  # symmetric: equal parts
    array([1., 1.])
    >>> beta = igr.entropy_interpolator(X, y, [1e-3, 1e-1])  # the larger scale wins:
    >>> round(float(beta[1] / beta[0]), 6)  # beta_i / alpha_i^2 equal for both
    10000.0
    """
    X, y = regression_data(X, y)
    a2 = _scales(alpha, X.shape[1]) ** 2
    max_iter = as_int(max_iter, "max_iter", minimum=1)
    # Continuation: solve first with all scales raised to at least 1 (an easy, nearly quadratic
    # problem), then lower them by factors of 10 to the requested ones, each from the last solution.
    lift = max(1.0, 1.0 / float(a2.min()))
    factors = [10.0**e for e in range(math.ceil(math.log10(lift)), 0, -1)] + [1.0]
    mu = np.zeros(X.shape[0])
    for f in factors:
        mu, beta, done = _newton(X, y, a2 * f, mu, max_iter)
    if not done:
        raise ValueError(
            f"entropy_interpolator: Newton did not reach |X beta - y| <= {INTERPOLATION_RTOL:g} |y| in {max_iter} "
            "steps (is X of full row rank, and alpha not extreme?)"
        )
    return beta


def _newton(X, y, a2, mu, max_iter):
    """Newton with backtracking on the dual sum a2 cosh(X^T mu) - y^T mu, from ``mu``."""
    scale = max(1.0, float(np.linalg.norm(y)))

    def dual(mu):
        return float(np.sum(a2 * np.cosh(X.T @ mu)) - y @ mu)

    with np.errstate(over="ignore"):
        for _ in range(max_iter):
            z = X.T @ mu
            beta = a2 * np.sinh(z)
            r = X @ beta - y
            if np.linalg.norm(r) <= INTERPOLATION_RTOL * scale:
                return mu, beta, True
            J = (X * (a2 * np.cosh(z))) @ X.T
            step = np.linalg.solve(J, r)
            if np.linalg.norm(step) <= 1e-15 * (1.0 + np.linalg.norm(mu)):  # at rounding level
                return mu, beta, np.linalg.norm(r) <= 1e3 * INTERPOLATION_RTOL * scale
            t, f0, slope = 1.0, dual(mu), -float(r @ step)
            # near the solution the decrease is below the rounding of the dual: take the full step
            while -slope > 1e-9 * (1.0 + abs(f0)) and not dual(mu - t * step) <= f0 + 0.25 * t * slope and t > 1e-12:
                t /= 2
            mu = mu - t * step
    return mu, beta, False


class DiagonalRun(NamedTuple):
    """The outcome of :func:`train_diagonal`.

    Attributes
    ----------
    theta : ndarray, shape (p, k, 2d)
        The parameters (u, v) at the end, per problem and learning rate; NaN if diverged.
    steps : ndarray of int, shape (p, k)
        The steps taken (for a diverged run: the step at which it blew up).
    """

    theta: np.ndarray
    steps: np.ndarray


def train_diagonal(X, y, theta0, lr, steps, *, batch=None, label_noise=0.0, rng=None):
    r"""Train diagonal linear networks with (stochastic) gradient descent, many problems and learning rates at once.

    .. math::
        u \leftarrow u - h\, v \odot g_B, \qquad v \leftarrow v - h\, u \odot g_B, \qquad
        g_B = \tfrac1B X_B^\top(X_B\beta - y_B - \sigma\xi),

    with :math:`h` = ``lr``, :math:`X_B, y_B` the examples of the current minibatch (all of them
    for gradient descent), minibatches of size :math:`B` = ``batch`` drawn by random reshuffling
    (a fresh order every epoch, for every run), and, with :math:`\sigma` = ``label_noise`` > 0,
    fresh Gaussian noise :math:`\xi` on the labels at every step. Every run goes through the
    library's one driver: a run that blows up is NaN from then on, with one
    :class:`DivergenceWarning`.

    Parameters
    ----------
    X : array_like, shape (n, d) or (p, n, d)
        Inputs of one problem, or of p problems trained side by side.
    y : array_like, shape (n,) or (p, n)
    theta0 : array_like, shape (2d,) or (p, k, 2d)
        The start (u, v), shared or per run (e.g. the end of an earlier phase).
    lr : float or array_like, shape (k,)
        Learning rates :math:`h`, positive.
    steps : int or array_like of int, shape (k,) or (p, k)
        Steps per run.
    batch : int, optional
        Minibatch size B, dividing n; None (or n) is full-batch gradient descent.
    label_noise : float
        Standard deviation :math:`\sigma` of the label noise, 0 for none.
    rng : numpy.random.Generator, optional
        Needed when ``batch < n`` or ``label_noise > 0``.

    Returns
    -------
    DiagonalRun
        ``theta`` of shape (p, k, 2d) and ``steps`` of shape (p, k); p = 1 for a single problem.

    References
    ----------
    S. Pesme, L. Pillaud-Vivien, N. Flammarion, Implicit bias of SGD for diagonal linear
    networks: a provable benefit of stochasticity, NeurIPS 2021. Even et al., NeurIPS 2023.
    Chapter *Where the step size decides the answer*.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> X, y = [[1.0, 2.0]], [2.0]
    >>> run = igr.train_diagonal(X, y, igr.diagonal_start(0.1, 2), [0.05, 0.1], 2000)
    >>> (igr.product(run.theta) @ np.array(X).T).round(6)  # both interpolate
    array([[[2.],
            [2.]]])
    """
    X = as_floats(X, "X")
    y = as_floats(y, "y")
    if X.ndim == 2:
        X, y = X[None], y[None]
    if X.ndim != 3 or 0 in X.shape:
        raise ValueError(f"X must have shape (n, d) or (p, n, d), got {X.shape}")
    p, n, d = X.shape
    if y.shape != (p, n):
        raise ValueError(f"y must have shape {(p, n)[1:] if p == 1 else (p, n)} to match X, got {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite")
    lr = as_lr(lr)
    if lr.ndim > 1:
        raise ValueError(f"lr must be a number or a 1-D array, got shape {lr.shape}")
    k = lr.size
    theta0 = as_floats(theta0, "theta0")
    if theta0.shape not in ((2 * d,), (p, k, 2 * d)) or not np.all(np.isfinite(theta0)):
        raise ValueError(f"theta0 must be finite with shape ({2 * d},) or {(p, k, 2 * d)}, got {theta0.shape}")
    steps = np.asarray(steps)
    if steps.dtype.kind not in "iu" or np.any(steps < 0):
        raise ValueError(f"steps must be non-negative integers, got {steps!r}")
    try:
        steps = np.broadcast_to(steps, (p, k)).reshape(-1)
    except ValueError:
        raise ValueError(f"steps must be one integer or of shape ({k},) or {(p, k)}, got {steps.shape}") from None
    B = n if batch is None else as_int(batch, "batch", minimum=1)
    if B > n or n % B:
        raise ValueError(f"batch must divide the number of examples n = {n}, got {batch!r}")
    sigma = as_floats(label_noise, "label_noise")
    if sigma.ndim or not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"label_noise must be one finite number >= 0, got {label_noise!r}")
    sigma = float(sigma)
    random = B < n or sigma > 0
    if random and not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator for SGD or label noise, got {rng!r}")
    check_output_size(p * k * 2 * d, "train_diagonal")

    rows = p * k
    problem = np.repeat(np.arange(p), k)  # the problem of each row
    h = np.tile(lr, p)[:, None]
    m = n // B  # minibatches per epoch
    order = np.empty((rows, n), dtype=int)
    Xt = X.transpose(0, 2, 1)

    def evaluate(active, theta, step):
        u, v = theta[:, :d], theta[:, d:]
        if B == n and sigma == 0:  # full batch: one product per problem for all rows
            full = np.zeros((rows, d))
            full[active] = u * v
            r = full.reshape(p, k, d) @ Xt - y[:, None, :]
            g = (r @ X).reshape(rows, d)[active] / n
        else:
            j = step % m
            if j == 0:  # a new epoch: every run draws its order
                order[...] = rng.permuted(np.tile(np.arange(n), (rows, 1)), axis=1)
            idx = order[active, j * B : (j + 1) * B]  # (rows, B)
            Xb = X[problem[active, None], idx]  # (rows, B, d)
            yb = y[problem[active, None], idx]
            if sigma > 0:
                yb = yb + sigma * rng.standard_normal(yb.shape)
            r = np.einsum("rbd,rd->rb", Xb, u * v) - yb
            g = np.einsum("rb,rbd->rd", r, Xb) / B
        return g

    def update(active, theta, g, step):
        u, v = theta[:, :d], theta[:, d:]
        hg = h[active] * g
        return np.concatenate([u - hg * v, v - hg * u], axis=1)

    def label(i):
        return f"problem {problem[i]} lr={h[i, 0]:.6g}"

    start = np.broadcast_to(theta0, (p, k, 2 * d)).reshape(rows, 2 * d)
    run = iterate(start, steps, evaluate, update, who="train_diagonal", label=label)
    return DiagonalRun(run.theta.reshape(p, k, 2 * d), run.steps.reshape(p, k))


def sparse_problem(rng, n, d, s, *, problems=None):
    r"""Sparse regression without label noise: :math:`y = X\beta^*`, :math:`X` Gaussian, :math:`\beta^*` s-sparse.

    :math:`X_{ij} \sim N(0, 1)`; :math:`\beta^*` has :math:`s` non-zero entries, on the first
    :math:`s` coordinates, each :math:`\pm 1` with a random sign. For a new input
    :math:`x \sim N(0, I)` the expected test error of :math:`\beta` is exactly
    :math:`\frac12\lVert\beta - \beta^*\rVert^2`, so no test set is needed.

    Parameters
    ----------
    rng : numpy.random.Generator
    n, d, s : int
        Examples, coordinates, non-zero coordinates (s <= d).
    problems : int, optional
        Draw this many independent problems, stacked along a first axis.

    Returns
    -------
    X : ndarray, shape (n, d) or (problems, n, d)
    y : ndarray, shape (n,) or (problems, n)
    beta_star : ndarray, shape (d,) or (problems, d)

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> X, y, beta_star = igr.sparse_problem(np.random.default_rng(0), 5, 8, 2)
    >>> X.shape, int(np.count_nonzero(beta_star)), bool(np.allclose(X @ beta_star, y))
    ((5, 8), 2, True)
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")
    n, d, s = as_int(n, "n", minimum=1), as_int(d, "d", minimum=1), as_int(s, "s")
    if s > d:
        raise ValueError(f"s must be at most d = {d}, got {s}")
    p = 1 if problems is None else as_int(problems, "problems", minimum=1)
    X = rng.standard_normal((p, n, d))
    beta_star = np.zeros((p, d))
    beta_star[:, :s] = rng.choice([-1.0, 1.0], size=(p, s))
    y = np.einsum("pnd,pd->pn", X, beta_star)
    if problems is None:
        return X[0], y[0], beta_star[0]
    return X, y, beta_star
