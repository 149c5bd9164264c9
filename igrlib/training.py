r"""Train many models at once: full-batch gradient descent, optionally with an explicit gradient penalty.

.. math::
    \theta_{n+1} = \theta_n - h\,\big(g + 2\mu\, H g\big)(\theta_n)
    = \theta_n - h\, \nabla\big(L + \mu \lVert \nabla L \rVert^2\big)(\theta_n),

with :math:`h` = ``lr`` and :math:`\mu` = ``mu`` (``mu = 0`` is plain gradient
descent). A stack of starting points (seeds) and arrays of learning rates,
penalties and step counts broadcast together, and every network in the stack
advances in the same vectorised computation. Along the way :func:`train`
records the loss, the squared gradient norm (Barrett & Dherin's :math:`R_{IG}`
up to the factor :math:`1/d`), optionally the sharpness by power iteration, and
any other quantity the caller asks for.

Chapter *Experiments: does a finite learning rate regularise a network?*
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._driver import iterate
from ._validate import as_batch, as_floats, as_int, as_loss, check_output_size, stacked, start_rng
from .curvature import top_eigenvalue
from .losses import Loss, hvp

__all__ = ["train", "Run"]

# The first sharpness record starts the power iteration from a random vector, so it
# gets this many times ``sharpness_iters`` iterations; later records start from the
# previous record's vector, which is already close.
COLD_START = 20


class Run(NamedTuple):
    r"""The outcome of :func:`train`.

    Attributes
    ----------
    theta : ndarray, shape (*S, d)
        The parameters after the last step (NaN for a network that diverged).
    steps : ndarray of int, shape (*S,)
        The number of steps each network took.
    history : dict of str to ndarray, shape (*S, m)
        One row of records per network, taken at steps ``0, every, 2 every, ...``:
        ``"step"`` and ``"time"`` (:math:`t = n h`), ``"loss"`` (:math:`L`,
        without the penalty), ``"grad_norm_sq"`` (:math:`\lVert\nabla L\rVert^2`),
        ``"sharpness"`` (if asked for) and each quantity in ``record``.
        Entries after a network's last record are NaN.
    """

    theta: np.ndarray
    steps: np.ndarray
    history: dict


def train(loss, theta0, lr, steps, *, mu=0.0, every=1, record=None, sharpness_iters=0, rng=None):
    r"""Full-batch gradient descent on many networks at once, with an optional explicit gradient penalty.

    .. math::
        \theta_{n+1} = \theta_n - h\,\big(g(\theta_n) + 2\mu\, H(\theta_n)\, g(\theta_n)\big),
        \qquad n = 0, \dots, \texttt{steps} - 1,

    where :math:`h` is ``lr`` and :math:`\mu` is ``mu``: gradient descent on
    :math:`L + \mu\lVert\nabla L\rVert^2` (explicit gradient regularisation;
    :math:`\mu = 0` is plain GD). The arguments ``lr``, ``steps``, ``mu``,
    ``every`` and the stack shape of ``theta0`` broadcast to one batch shape
    ``S``; all networks step together in one array computation, and a network
    stops when it has taken its own number of steps (so that ``steps = T / lr``
    runs every learning rate to the same time :math:`T`).

    Parameters
    ----------
    loss : Loss
        Must map stacks ``(k, d)`` to ``(k,)`` and ``(k, d)`` (as :class:`igrlib.MLP` losses do).
        Uses ``value``, ``grad`` and, when ``mu > 0`` or ``sharpness_iters > 0``, ``hvp``.
    theta0 : array_like, shape (d,) or (*S0, d)
        Starting point(s), e.g. one per seed.
    lr : float or array_like, shape (*S1)
        Learning rates :math:`h > 0`.
    steps : int or array_like of int, shape (*S2)
        Steps per network, at least 0.
    mu : float or array_like, shape (*S3)
        Explicit penalty coefficients :math:`\mu \ge 0`.
    every : int or array_like of int, shape (*S4)
        Record every ``every`` steps (per network); ``every = c / lr`` records
        all learning rates at the same times.
    record : dict of str to callable, optional
        Extra quantities: ``fn(theta) -> (k,)`` for a stack ``theta`` of shape ``(k, d)``,
        e.g. the test accuracy.
    sharpness_iters : int
        If positive, record the sharpness too, the largest Hessian eigenvalue (as
        :func:`igrlib.sharpness`), by this many power iterations at each record
        (:func:`~igrlib.curvature.top_eigenvalue`), warm-started from the previous
        record (the first record, from a random vector, uses 20 times as many).
    rng : numpy.random.Generator, optional
        Draws the power iteration's first start vector (used only with
        ``sharpness_iters``). Left out (deprecated), it is ``np.random.default_rng(0)``.

    Returns
    -------
    Run
        Final parameters, steps taken and the recorded history, all with batch shape ``S``.

    Warns
    -----
    DivergenceWarning
        If a network's parameters leave :math:`|\theta_i| < 10^{100}` or become
        non-finite; that network stops and its parameters and later records are NaN.

    Notes
    -----
    The networks stop one by one, so late in a learning-rate sweep only the
    smallest learning rates are still computing. For small networks the work is
    many small matrix products: on a busy machine, limiting BLAS to one thread
    (``threadpoolctl.threadpool_limits(1)``) is faster, often several times.

    References
    ----------
    D. G. T. Barrett, B. Dherin, Implicit Gradient Regularization, ICLR 2021
    (explicit gradient regularisation). Chapter *Experiments: does a finite
    learning rate regularise a network?*

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> L = igr.quadratic([[2.0]])  # g = 2 theta, H = 2
    >>> run = igr.train(L, [1.0], lr=[0.1, 0.2], steps=[2, 1], mu=[0.0, 0.05])
    >>> run.theta[:, 0].round(6)  # (1 - 0.2)^2 and 1 - 0.2 (2 + 2 * 0.05 * 4)
    array([0.64, 0.52])
    >>> run.history["loss"].round(4)
    array([[1.    , 0.64  , 0.4096],
           [1.    , 0.2704,    nan]])
    """
    as_loss(loss, need_value=True)
    theta0, shape, settings = _settings(theta0, lr=lr, steps=steps, mu=mu, every=every)
    record = _records(record)
    sharpness_iters = as_int(sharpness_iters, "sharpness_iters")
    N, d = int(np.prod(shape, dtype=int)), theta0.shape[-1]
    h, n_steps, mus, rec_every = (np.broadcast_to(a, shape).reshape(-1) for a in settings)
    check_output_size(N * (int(np.max(settings[1] // settings[3], initial=0)) + 1) * (5 + len(record)), "train")
    if N:  # a loss or record written for one point is evaluated one network at a time
        start = theta0.reshape(-1, d)[0]
        loss = Loss(stacked(loss.value, start), stacked(loss.grad, start), loss.hvp, loss.d3)
        record = {name: stacked(fn, start) for name, fn in record.items()}
    m = int(np.max(n_steps // rec_every)) + 1 if N else 1
    sharpness = None
    if sharpness_iters:
        sharpness = sharpness_iters, start_rng(rng, "train with sharpness_iters").standard_normal(d)
    history = History(loss, h, rec_every, m, record, sharpness)
    run = iterate(
        np.broadcast_to(theta0, (*shape, d)).reshape(N, d),
        n_steps,
        *penalised_step(loss, h, mus),
        who="train",
        label=lambda i: f"lr={h[i]:.6g} mu={mus[i]:.6g}",
        observe=history.observe,
        observe_at=record_or_stop(n_steps, rec_every),
    )
    return Run(
        run.theta.reshape(*shape, d),
        run.steps.reshape(shape),
        {k: v.reshape(*shape, m) for k, v in history.columns.items()},
    )


def _settings(theta0, **settings):
    """Check ``theta0`` and the per-network settings; return them with their common batch shape S.

    Returns
    -------
    theta0 : ndarray, shape (*S0, d)
    shape : tuple
        The broadcast batch shape S of ``theta0.shape[:-1]`` and the settings.
    settings : tuple of ndarray
        ``lr``, ``steps``, ``mu``, ``every`` as checked arrays (not yet broadcast).
    """
    theta0 = as_floats(theta0, "theta0")
    if theta0.ndim == 0 or theta0.shape[-1] == 0:
        raise ValueError(f"theta0 must have shape (d,) or (..., d), got {theta0.shape}")
    if not np.all(np.isfinite(theta0)):
        raise ValueError("theta0 must be finite")
    lr = as_batch("lr", settings["lr"])
    steps = as_batch("steps", settings["steps"], integer=True, allow_zero=True)
    mu = as_batch("mu", settings["mu"], allow_zero=True)
    every = as_batch("every", settings["every"], integer=True)
    try:
        shape = np.broadcast_shapes(theta0.shape[:-1], lr.shape, steps.shape, mu.shape, every.shape)
    except ValueError:
        raise ValueError(
            f"the batch shapes do not broadcast: theta0 {theta0.shape[:-1]}, lr {lr.shape}, steps {steps.shape}, "
            f"mu {mu.shape}, every {every.shape}"
        ) from None
    return theta0, shape, (lr, steps, mu, every)


def _records(record):
    """Check the extra quantities to record, ``{name: fn}``; return a new dict."""
    record = dict(record or {})
    for name, fn in record.items():
        if not callable(fn):
            raise ValueError(f"record[{name!r}] must be a function of theta, got {type(fn).__name__}")
    return record


def record_or_stop(steps, every):
    """The steps at which some network records (``n % every == 0``) or stops (``n == steps``).

    Parameters
    ----------
    steps, every : ndarray of int, shape (N,)

    Returns
    -------
    ndarray of bool, shape (max(steps) + 1,)
    """
    event = np.zeros(int(steps.max(initial=0)) + 1, dtype=bool)
    for e, s in zip(every, steps):
        event[: s + 1 : e] = True
    event[steps] = True
    return event


def penalised_step(loss, lr, mu):
    r"""The step of gradient descent on :math:`L + \mu\lVert\nabla L\rVert^2`, as a pair for the driver.

    .. math::
        \theta_{n+1} = \theta_n - h\,\big(g + 2\mu\, H g\big)(\theta_n).

    Parameters
    ----------
    loss : Loss
        Mapping stacks (k, d).
    lr, mu : ndarray, shape (N,)
        Learning rate and penalty of every network.

    Returns
    -------
    evaluate, update : callable
        ``evaluate(active, theta, n)`` is the gradient (a new array); ``update``
        adds the penalty for the networks with ``mu > 0`` and steps, in place.
    """
    cache = {}

    def per_active(active):
        if cache.get("active") is not active:  # the driver replaces ``active`` when networks stop
            pen = np.flatnonzero(mu[active] > 0)
            cache.update(active=active, h=lr[active, None], pen=pen, two_mu=2 * mu[active[pen], None])
        return cache["h"], cache["pen"], cache["two_mu"]

    def evaluate(active, theta, n):
        g = np.asarray(loss.grad(theta), dtype=float)
        return g.copy() if np.may_share_memory(g, theta) else g  # update works in place on g

    def update(active, theta, g, n):
        h, pen, two_mu = per_active(active)
        if pen.size:
            g[pen] += two_mu * hvp(loss, theta[pen], g[pen])
        np.multiply(g, h, out=g)
        return np.subtract(theta, g, out=theta)

    return evaluate, update


class History:
    """The records of :func:`train`: one row per network, one column per record.

    Network ``i`` records at steps ``0, every[i], 2 every[i], ...``, into column
    ``n // every[i]``; entries it never reaches stay NaN.

    Parameters
    ----------
    loss : Loss
        Mapping stacks (k, d) to (k,) and (k, d).
    lr : ndarray, shape (N,)
    every : ndarray of int, shape (N,)
    m : int
        Columns.
    record : dict of str to callable
        Extra quantities, each mapping a stack (k, d) to (k,).
    sharpness : tuple (iters, v0), optional
        Also record the sharpness, the largest Hessian eigenvalue, by
        :func:`~igrlib.curvature.top_eigenvalue` with ``iters`` power iterations
        (``COLD_START`` times as many at step 0), started from ``v0``, shape (d,),
        then from each network's previous vector.
    """

    def __init__(self, loss, lr, every, m, record, sharpness=None):
        self.loss, self.lr, self.every, self.record = loss, lr, every, record
        names = ["step", "time", "loss", "grad_norm_sq"] + (["sharpness"] if sharpness else []) + list(record)
        self.columns = {name: np.full((lr.size, m), np.nan) for name in names}
        self.sharpness = None
        if sharpness:
            iters, v0 = sharpness
            self.sharpness = iters, np.broadcast_to(v0, (lr.size, v0.size)).copy()

    def observe(self, n, active, theta, g):
        """Record the networks ``active`` (parameters ``theta``, gradients ``g``) whose record falls on step ``n``."""
        rec = n % self.every[active] == 0
        if not rec.any():
            return
        idx, j = active[rec], n // self.every[active[rec]]
        cols = self.columns
        cols["step"][idx, j] = n
        cols["time"][idx, j] = n * self.lr[idx]
        cols["loss"][idx, j] = self.loss.value(theta[rec])
        cols["grad_norm_sq"][idx, j] = np.sum(g[rec] ** 2, axis=-1)
        if self.sharpness is not None:
            iters, vecs = self.sharpness
            iters *= COLD_START if n == 0 else 1
            cols["sharpness"][idx, j], vecs[idx] = top_eigenvalue(self.loss, theta[rec], iters, vecs[idx])
        for name, fn in self.record.items():
            out = np.asarray(fn(theta[rec]), dtype=float)
            if out.shape != (idx.size,):
                raise ValueError(
                    f"record[{name!r}] must return one number per network, shape ({idx.size},) for "
                    f"theta of shape {theta[rec].shape}, got shape {out.shape}"
                )
            cols[name][idx, j] = out
