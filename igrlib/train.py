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

from ._divergence import BLOWUP, warn_diverged
from ._validate import as_batch, as_floats, as_int, as_loss, check_output_size, stacked, start_rng
from .curvature import power_iteration
from .losses import Loss, hvp

__all__ = ["train", "Run", "power_iteration"]  # power_iteration lives in curvature

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
        If positive, record the sharpness too, by this many power iterations
        (:func:`power_iteration`) at each record, warm-started from the previous
        record (the first record, from a random vector, uses 20 times as many).
        Power iteration finds the eigenvalue of largest modulus: it is the
        sharpness of :func:`igrlib.sharpness` (the largest eigenvalue) only
        where no negative eigenvalue is larger in modulus, as near a minimum.
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
    theta0 = as_floats(theta0, "theta0")
    if theta0.ndim == 0 or theta0.shape[-1] == 0:
        raise ValueError(f"theta0 must have shape (d,) or (..., d), got {theta0.shape}")
    if not np.all(np.isfinite(theta0)):
        raise ValueError("theta0 must be finite")
    lr = as_batch("lr", lr)
    steps = as_batch("steps", steps, integer=True, allow_zero=True)
    mu = as_batch("mu", mu, allow_zero=True)
    every = as_batch("every", every, integer=True)
    record = dict(record or {})
    for name, fn in record.items():
        if not callable(fn):
            raise ValueError(f"record[{name!r}] must be a function of theta, got {type(fn).__name__}")
    sharpness_iters = as_int(sharpness_iters, "sharpness_iters")
    d = theta0.shape[-1]
    try:
        shape = np.broadcast_shapes(theta0.shape[:-1], lr.shape, steps.shape, mu.shape, every.shape)
    except ValueError:
        raise ValueError(
            f"the batch shapes do not broadcast: theta0 {theta0.shape[:-1]}, lr {lr.shape}, steps {steps.shape}, "
            f"mu {mu.shape}, every {every.shape}"
        ) from None

    def flat(a):
        return np.broadcast_to(a, shape).reshape(-1)

    N = int(np.prod(shape, dtype=int))
    check_output_size(N * (int(np.max(steps // every, initial=0)) + 1) * (5 + len(record)), "train")
    if N:  # a loss or record written for one point is evaluated one network at a time
        start = theta0.reshape(-1, d)[0]
        loss = Loss(stacked(loss.value, start), stacked(loss.grad, start), loss.hvp, loss.d3)
        record = {name: stacked(fn, start) for name, fn in record.items()}
    th = np.broadcast_to(theta0, (*shape, d)).reshape(N, d).copy()
    h, n_steps, mus, rec_every = flat(lr), flat(steps), flat(mu), flat(every)
    m = int(np.max(n_steps // rec_every)) + 1 if N else 1
    names = ["loss", "grad_norm_sq"] + (["sharpness"] if sharpness_iters else []) + list(record)
    hist = {name: np.full((N, m), np.nan) for name in ["step", "time", *names]}
    final = np.full((N, d), np.nan)
    taken = n_steps.copy()
    vecs = None
    if sharpness_iters:
        vecs = np.broadcast_to(start_rng(rng, "train with sharpness_iters").standard_normal(d), (N, d)).copy()

    if N == 0:
        return Run(np.empty((*shape, d)), n_steps.reshape(shape), {k: v.reshape(*shape, m) for k, v in hist.items()})
    # Steps at which some network records or stops; between them a step is just the update.
    last = int(n_steps.max(initial=0))
    event = np.zeros(last + 1, dtype=bool)
    for e, s in zip(rec_every, n_steps):
        event[: s + 1 : e] = True
    event[n_steps] = True

    active = np.arange(N)  # indices of the networks still running; th holds their parameters

    def per_active():
        pen = np.flatnonzero(mus[active] > 0)
        return h[active, None], pen, 2 * mus[active[pen], None]

    h_col, pen, two_mu = per_active()
    diverged = []
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(last + 1):
            g = np.asarray(loss.grad(th), dtype=float)
            if np.may_share_memory(g, th):  # the update below works in place on g
                g = g.copy()
            if event[n]:
                rec = n % rec_every[active] == 0
                if rec.any():
                    idx, j = active[rec], n // rec_every[active[rec]]
                    hist["step"][idx, j] = n
                    hist["time"][idx, j] = n * h[idx]
                    hist["loss"][idx, j] = loss.value(th[rec])
                    hist["grad_norm_sq"][idx, j] = np.sum(g[rec] ** 2, axis=-1)
                    if sharpness_iters:  # a cold start at step 0 gets COLD_START times the iterations
                        iters = sharpness_iters * (COLD_START if n == 0 else 1)
                        lam, vecs[idx] = power_iteration(loss, th[rec], iters=iters, v0=vecs[idx])
                        hist["sharpness"][idx, j] = lam
                    for name, fn in record.items():
                        out = np.asarray(fn(th[rec]), dtype=float)
                        if out.shape != (idx.size,):
                            raise ValueError(
                                f"record[{name!r}] must return one number per network, shape ({idx.size},) for "
                                f"theta of shape {th[rec].shape}, got shape {out.shape}"
                            )
                        hist[name][idx, j] = out
                done = n_steps[active] == n
                if done.any():
                    final[active[done]] = th[done]
                    keep = ~done
                    active, th, g = active[keep], th[keep], g[keep]
                    if active.size == 0:
                        break
                    h_col, pen, two_mu = per_active()
            if pen.size:
                g[pen] += two_mu * hvp(loss, th[pen], g[pen])
            np.multiply(g, h_col, out=g)
            np.subtract(th, g, out=th)
            if not np.abs(th).max() < BLOWUP:  # also catches inf and NaN
                bad = ~np.all(np.abs(th) < BLOWUP, axis=1)
                taken[active[bad]] = n + 1
                diverged.extend((h[i], mus[i], n + 1) for i in active[bad])
                keep = ~bad
                active, th = active[keep], th[keep]
                if active.size == 0:
                    break
                h_col, pen, two_mu = per_active()
    warn_diverged("train", [(f"lr={a:.6g} mu={b:.6g}", s) for a, b, s in diverged])
    hist = {k: v.reshape(*shape, m) for k, v in hist.items()}
    return Run(final.reshape(*shape, d), taken.reshape(shape), hist)
