r"""The one iteration driver: every batched iteration of the library runs through :func:`iterate`.

:func:`igrlib.gd`, :func:`igrlib.heavy_ball`, :func:`igrlib.sgd`, :func:`igrlib.sam`
and :func:`igrlib.train` advance one row of parameters per setting (learning
rate, momentum, run, seed). What differs between them is one step; what they
share lives here, once:

* the loop over steps, with rows that stop after their own number of steps;
* the blow-up test: a row whose iterate is not finite or leaves
  :math:`|\theta_i| < 10^{100}` (:data:`BLOWUP`) stops, is NaN from then on, and
  the others are unaffected;
* one :class:`DivergenceWarning` per call, naming each diverged setting and its step;
* the trajectory of every row, when the method returns one.

A method supplies two functions, in the manner of scipy's ``OdeSolver`` (the
driver owns the loop, the solver supplies a step):

``evaluate(active, theta, n) -> g``
    what the step needs at :math:`\theta_n` (usually the gradient), one row per
    row of ``theta``; ``active`` holds the indices of those rows among all rows;
``update(active, theta, g, n) -> theta``
    :math:`\theta_{n+1}` for the same rows (it may overwrite ``theta`` and ``g``).

The rows passed are only those still running, in their original order.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

# An iterate larger than this in any coordinate counts as diverged. No
# trajectory that converges comes near it, and it stays far below the float
# overflow at 1.8e308, so the loss functions never overflow on the way there.
BLOWUP = 1e100


class DivergenceWarning(RuntimeWarning):
    """Some trajectories diverged; they are NaN from then on."""


DivergenceWarning.__module__ = "igrlib"


class Iterated(NamedTuple):
    """The outcome of :func:`iterate`.

    Attributes
    ----------
    theta : ndarray, shape (k, d)
        Each row after its last step; NaN for a row that diverged.
    steps : ndarray of int, shape (k,)
        The steps each row took; for a diverged row, the step at which it blew up.
    path : ndarray, shape (k, max(steps) + 1, d), or None
        Every iterate (with ``path=True``): NaN from a row's blow-up on, and
        after a row's last step.
    """

    theta: np.ndarray
    steps: np.ndarray
    path: np.ndarray | None


def iterate(theta0, steps, evaluate, update, *, who, label, path=False, observe=None, observe_at=None):
    """Run ``update`` on the rows of ``theta0`` for ``steps`` steps, stopping rows that blow up.

    Parameters
    ----------
    theta0 : ndarray, shape (k, d)
        The start of each row (not modified).
    steps : int or ndarray of int, shape (k,)
        Steps per row, at least 0.
    evaluate : callable ``(active, theta, n) -> g``
        What the step needs at step ``n``, for the rows ``active`` (indices into
        the k rows) whose current values are ``theta``, shape (len(active), d).
        Called once at every ``n`` from which some row still steps or where
        ``observe`` is called.
    update : callable ``(active, theta, g, n) -> theta``
        The next iterate of those rows, shape (len(active), d).
    who : str
        The public function's name, for the warning.
    label : callable ``i -> str``
        Names row ``i``'s setting in the warning, e.g. ``"lr=0.1"``.
    path : bool
        Also return every iterate.
    observe : callable ``(n, active, theta, g)``, optional
        Called at every ``n`` where ``observe_at[n]`` is true (every ``n`` if
        ``observe_at`` is None), before the step from ``n``, with every row still
        running (rows whose last step is ``n`` included) and ``g`` from ``evaluate``.
    observe_at : ndarray of bool, shape (max(steps) + 1,), optional

    Returns
    -------
    Iterated
    """
    theta = np.array(theta0, dtype=float)
    k = theta.shape[0]
    steps = np.broadcast_to(np.asarray(steps, dtype=np.int64), (k,))
    last = int(steps.max(initial=0))
    final = np.full(theta.shape, np.nan)
    taken = steps.copy()
    out = np.full((k, last + 1, theta.shape[1]), np.nan) if path else None
    active = np.arange(k)
    stops = np.zeros(last + 1, dtype=bool)
    stops[steps] = True  # the steps after which some row stops
    diverged = []
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(last + 1):
            if path:
                out[active if active.size < k else slice(None), n] = theta
            watch = observe is not None and (observe_at is None or observe_at[n])
            done = steps[active] == n if stops[n] else None
            if done is not None and done.all() and not watch:
                final[active] = theta
                break
            g = evaluate(active, theta, n)
            if watch:
                observe(n, active, theta, g)
            if done is not None and done.any():
                final[active[done]] = theta[done]
                keep = ~done
                active, theta, g = active[keep], theta[keep], g[keep]
                if active.size == 0:
                    break
            theta = update(active, theta, g, n)
            if not np.abs(theta).max() < BLOWUP:  # also catches inf and NaN
                bad = ~np.all(np.abs(theta) < BLOWUP, axis=1)
                taken[active[bad]] = n + 1
                diverged.extend(active[bad].tolist())
                active, theta = active[~bad], theta[~bad]
                if active.size == 0:
                    break
    warn_diverged(who, [(label(i), taken[i]) for i in sorted(diverged)], stacklevel=4)
    return Iterated(final, taken, out)


def warn_diverged(who, diverged, stacklevel=3):
    """Warn once that ``who`` diverged for the (setting, step) pairs in ``diverged``, if any."""
    if len(diverged):
        which = ", ".join(f"{label} (step {step})" for label, step in diverged)
        message = f"{who} diverged for {which}; those trajectories are NaN from then on"
        warnings.warn(message, DivergenceWarning, stacklevel=stacklevel)
