"""Divergence in the batched iterations: the blow-up test, the NaN rows and the one warning.

Every iteration of the library (:func:`igrlib.gd`, :func:`igrlib.heavy_ball`,
:func:`igrlib.sgd`, :func:`igrlib.train`) advances one row per setting; a row
whose iterate blows up is NaN from then on, the others are unaffected, and one
:class:`DivergenceWarning` names every diverged setting with its step.
"""

from __future__ import annotations

import warnings

import numpy as np

# An iterate larger than this in any coordinate counts as diverged. No
# trajectory that converges comes near it, and it stays far below the float
# overflow at 1.8e308, so the loss functions never overflow on the way there.
BLOWUP = 1e100


class DivergenceWarning(RuntimeWarning):
    """Some trajectories diverged; they are NaN from then on."""


DivergenceWarning.__module__ = "igrlib"


def blown_up(theta):
    """Rows of ``theta`` (shape (k, d)) not finite or beyond :data:`BLOWUP`, shape (k,)."""
    return ~np.all(np.abs(theta) < BLOWUP, axis=1)


class Rows:
    """The rows of a batched iteration still running, and the step at which each other one diverged."""

    def __init__(self, k):
        self.alive = np.ones(k, dtype=bool)
        self.step = np.zeros(k, dtype=int)

    def check(self, theta, n):
        """Set the rows of ``theta`` that blew up at step ``n`` to NaN and stop them."""
        bad = self.alive & blown_up(theta)
        if bad.any():
            theta[bad] = np.nan
            self.step[bad] = n
            self.alive &= ~bad

    def warn(self, who, label):
        """One warning naming, for each diverged row ``i``, ``label(i)`` and its step."""
        warn_diverged(who, [(label(i), self.step[i]) for i in np.flatnonzero(~self.alive)], stacklevel=4)


def warn_diverged(who, diverged, stacklevel=3):
    """Warn once that ``who`` diverged for the (setting, step) pairs in ``diverged``, if any."""
    if len(diverged):
        which = ", ".join(f"{label} (step {step})" for label, step in diverged)
        message = f"{who} diverged for {which}; those trajectories are NaN from then on"
        warnings.warn(message, DivergenceWarning, stacklevel=stacklevel)
