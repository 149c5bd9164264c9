"""Argument checks shared by the public functions: clear errors, no silent fixes."""

from __future__ import annotations

import numbers
import warnings

import numpy as np

# The most floats a function will allocate for its output (8 GB); more is refused
# up front with a clear error instead of a MemoryError from deep inside numpy.
MAX_OUTPUT = 10**9


def _floats(x, name):
    """Return ``x`` as a new float array (a copy: callers never see their input changed), or raise.

    Only numbers are accepted: strings (``'0.1'``) and booleans (``True``) are
    mistakes, not numbers, even though numpy would convert them.
    """
    try:
        kind = np.asarray(x).dtype.kind
    except (TypeError, ValueError):
        kind = "O"
    if kind not in "iuf":
        raise ValueError(f"{name} must be real numbers, got {x!r}")
    return np.array(x, dtype=float)


def regression_data(X, y):
    """``X`` (n, d) and ``y`` (n,) of a regression as finite float arrays, or raise."""
    X = as_floats(X, "X")
    y = as_floats(y, "y")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be 2-D (n >= 1 examples, d >= 1 features), got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite")
    return X, y


def as_floats(x, name):
    """Return ``x`` as a new float array of real numbers (strings, booleans refused), or raise."""
    return _floats(x, name)


def as_scalar(x, name):
    """Return ``x`` as one finite float, or raise."""
    arr = _floats(x, name)
    if arr.ndim != 0 or not np.isfinite(arr):
        raise ValueError(f"{name} must be a single finite number, got {x!r}")
    return float(arr)


def check_output_size(n, name):
    """Refuse an output of ``n`` floats larger than :data:`MAX_OUTPUT` before allocating it."""
    if n > MAX_OUTPUT:
        raise ValueError(
            f"{name} asks for an output of {n:.3g} numbers ({8 * n / 1e9:.3g} GB); at most {MAX_OUTPUT:.0e} are allowed"
        )


def as_loss(loss, name="loss", *, need_value=False):
    """Check that ``loss`` has a callable ``grad`` (and ``value`` if needed), or raise."""
    if not callable(getattr(loss, "grad", None)):
        raise ValueError(f"{name} must be an igrlib Loss with a callable grad, got {type(loss).__name__}")
    if need_value and not callable(getattr(loss, "value", None)):
        raise ValueError(f"{name} must have a callable value")
    return loss


def stacked(fn, theta0):
    """Return a function that evaluates ``fn`` on a stack of points, shape (k, d).

    This is the one vectorisation contract of the library: ``fn`` is used
    directly when it maps a stack row by row (as every built-in model does),
    which is checked on two distinct points near ``theta0``; otherwise it is
    called once per row. The output keeps the row structure: shape (k,) for a
    value, (k, d) for a gradient.
    """

    def one_by_one(theta):
        return np.array([np.asarray(fn(row), dtype=float) for row in theta])

    probe = np.stack([theta0, theta0 + 1e-3 * (1.0 + np.abs(theta0))])
    with np.errstate(all="ignore"):
        try:
            together = np.asarray(fn(probe), dtype=float)
        except Exception:  # a function written for one point may fail on a stack in any way
            return one_by_one
        try:
            reference = one_by_one(probe)
        except Exception:  # written for stacks only: the documented form
            return fn if together.shape[:1] == (2,) else one_by_one
    same = together.shape == reference.shape and np.allclose(together, reference, rtol=1e-9, atol=1e-12, equal_nan=True)
    return fn if same else one_by_one


def as_theta(theta, name="theta0"):
    """Return ``theta`` as a new finite float array of shape (d,), or raise."""
    arr = _floats(theta, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of shape (d,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def as_lr(lr, *, allow_zero=False, scalar=False):
    """Return the learning rate(s) as a float array (one number if ``scalar``), or raise."""
    arr = _floats(lr, "lr")
    if scalar and arr.ndim != 0:
        raise ValueError(f"lr must be a single number, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"lr must be finite, got {lr!r}")
    if allow_zero:
        if np.any(arr < 0):
            raise ValueError(f"lr must be non-negative, got {lr!r}")
    elif np.any(arr <= 0):
        raise ValueError(f"lr must be positive, got {lr!r}")
    return arr


def as_beta(beta):
    """Return the momentum(s) as a float array with 0 <= beta < 1, or raise."""
    arr = _floats(beta, "beta")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr >= 1):
        raise ValueError(f"beta must satisfy 0 <= beta < 1, got {beta!r}")
    return arr


def as_int(n, name, *, minimum=0):
    """Return ``n`` as an int at least ``minimum`` (0 or 1), or raise; booleans are refused."""
    kind = "a non-negative integer" if minimum == 0 else "a positive integer"
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name} must be {kind}, got {n!r}")
    return int(n)


def start_rng(rng, who):
    """Return the Generator ``rng``; ``None`` gives the old start, ``default_rng(0)``, and a DeprecationWarning."""
    if rng is None:
        # stacklevel 1: hidden by Python's default filters in notebooks, shown by pytest
        message = f"{who} without rng is deprecated; pass rng=np.random.default_rng(0) for the same random start"
        warnings.warn(message, DeprecationWarning, stacklevel=1)
        return np.random.default_rng(0)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, e.g. np.random.default_rng(0), got {rng!r}")
    return rng


def as_steps(steps, name="steps"):
    """Return ``steps`` as a non-negative int, or raise."""
    return as_int(steps, name)


def as_positive(value, name):
    """Return ``value`` as one finite positive float, or raise."""
    x = as_scalar(value, name)
    if x <= 0:
        raise ValueError(f"{name} must be a single finite positive number, got {value!r}")
    return x


def as_batch(name, value, *, integer=False, positive=True, allow_zero=False):
    """Return an array of per-network settings (real numbers or integers), checked, or raise."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be {'integers' if integer else 'real numbers'}, got {value!r}")
    if integer:
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be an integer or an array of integers, got {value!r}")
        arr = arr.astype(np.int64)
    else:
        arr = arr.astype(float)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got {value!r}")
    low_ok = arr >= 0 if allow_zero else arr > 0
    if positive and not np.all(low_ok):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {value!r}")
    return arr


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
    as_loss(loss)
    try:
        g = np.asarray(loss.grad(theta), dtype=float)
    except Exception as err:
        raise ValueError(
            f"loss.grad fails at theta0 of shape {theta.shape} (does theta0 have the loss's dimension?): "
            f"{type(err).__name__}: {err}"
        ) from err
    if g.shape != theta.shape:
        raise ValueError(
            f"loss.grad returned shape {g.shape} for theta of shape {theta.shape}; it must return the gradient, "
            f"shape {theta.shape}"
        )
    return g


def rowwise(fn):
    """Like :func:`stacked`, for a function met before any starting point is known.

    One point, shape (d,), goes to ``fn`` directly; the first stack, shape
    (k, d), decides once (by :func:`stacked` at its first row) whether ``fn``
    maps stacks row by row or must be called once per row. Stacks of more
    dimensions are flattened to (k, d) and back.
    """
    chosen = []

    def call(theta):
        theta = np.asarray(theta, dtype=float)
        if theta.ndim <= 1:
            return fn(theta)
        if not chosen:
            chosen.append(stacked(fn, theta.reshape(-1, theta.shape[-1])[0]))
        flat = np.asarray(chosen[0](theta.reshape(-1, theta.shape[-1])), dtype=float)
        return flat.reshape(*theta.shape[:-1], *flat.shape[1:])

    return call
