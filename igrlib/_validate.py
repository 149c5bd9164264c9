"""Argument checks shared by the public functions: clear errors, no silent fixes."""

from __future__ import annotations

import numbers

import numpy as np


def _floats(x, name):
    """Return ``x`` as a new float array (a copy: callers never see their input changed), or raise."""
    try:
        return np.array(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be real numbers, got {x!r}") from None


def as_theta(theta, name="theta0"):
    """Return ``theta`` as a new finite float array of shape (d,), or raise."""
    arr = _floats(theta, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of shape (d,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def as_lr(lr, *, allow_zero=False):
    """Return the learning rate(s) as a float array, or raise."""
    arr = _floats(lr, "lr")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"lr must be finite, got {lr!r}")
    if allow_zero:
        if np.any(arr < 0):
            raise ValueError(f"lr must be non-negative, got {lr!r}")
    elif np.any(arr <= 0):
        raise ValueError(f"lr must be positive, got {lr!r}")
    return arr


def as_steps(steps, name="steps"):
    """Return ``steps`` as a non-negative int, or raise."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise ValueError(f"{name} must be a non-negative integer, got {steps!r}")
    if steps < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {steps}")
    return int(steps)


def as_times(t):
    """Return ``t`` as a 1-D float array starting at 0 and strictly increasing."""
    arr = _floats(t, "t")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"t must be a non-empty 1-D array of times, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("t must be finite")
    if arr[0] != 0:
        raise ValueError(f"t must start at 0 (the time of theta0), got t[0] = {arr[0]}")
    if np.any(np.diff(arr) <= 0):
        raise ValueError("t must be strictly increasing")
    return arr


def as_order(order):
    """Return the modified-equation order, 0, 1 or 2, or raise."""
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    return int(order)


def checked_grad(loss, theta):
    """Evaluate ``loss.grad`` at a single point and check the shape it returns."""
    g = np.asarray(loss.grad(theta), dtype=float)
    if g.shape != theta.shape:
        raise ValueError(
            f"loss.grad returned shape {g.shape} for theta of shape {theta.shape}; it must return the gradient, "
            f"shape {theta.shape}"
        )
    return g
