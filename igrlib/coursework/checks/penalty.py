r"""Self-checks for chapter 4, *The implicit gradient penalty* (``book/04_implicit_penalty.ipynb``).

Both exercises live on Barrett and Dherin's two-parameter model
:math:`E(a, b) = \tfrac12 (y - abx)^2`, whose minimum :math:`(a, b)` on the
hyperbola :math:`ab = y/x` has sharpness :math:`x^2 (a^2 + b^2)`. Each check
calls the student's function on inputs the chapter does not use and compares the
behaviour with a measurement made here. The messages give hints, never the answer.
"""

from __future__ import annotations

import numpy as np

from ...curvature import sharpness
from ...gd import gd
from ...losses import two_param
from . import register

__all__ = []


def _sharpness_at_minimum(a, b, x):
    """Largest Hessian eigenvalue of the two-parameter model at a point where E = 0."""
    return x**2 * (a**2 + b**2)


@register("penalty-final-sharpness")
def _final_sharpness(answer):
    rng = np.random.default_rng(404)
    loss = two_param()  # x = y = 1, as in the exercise
    for _ in range(2):
        theta0 = np.array([2.0, 2.6]) + rng.uniform(-0.2, 0.2, size=2)
        lr = np.sort(rng.uniform(0.003, 0.07, size=4))
        steps = 3000
        theta_in, lr_in = theta0.copy(), lr.copy()
        got = np.asarray(answer(theta_in, lr_in, steps), dtype=float)
        if not (np.array_equal(theta_in, theta0) and np.array_equal(lr_in, lr)):
            return False, "your function changed its inputs theta0 or lr in place; work on copies"
        if got.shape != lr.shape:
            return False, f"return one sharpness per learning rate, shape {lr.shape}; got shape {got.shape}"
        if not np.all(np.isfinite(got)):
            return False, "some of your sharpness values are not finite; did gradient descent diverge?"
        ends = gd(loss, theta0, lr, steps)[:, -1]
        want = _sharpness_at_minimum(ends[:, 0], ends[:, 1], 1.0)
        if np.allclose(got, sharpness(loss, theta0), rtol=1e-6):
            return False, "that is the sharpness where GD starts; measure it at the final iterate"
        if np.all(np.abs(got) < 1e-6):
            return False, (
                "your values are about zero, the curvature along the valley of minima; "
                "the sharpness is the largest eigenvalue"
            )
        if np.allclose(got, got[0], rtol=1e-9) and not np.allclose(want, want[0], rtol=1e-9):
            return False, "your values do not change with the learning rate; run GD once per lr (or as one sweep)"
        if not np.allclose(got, want, rtol=1e-6, atol=0):
            return False, (
                "your values differ from the largest Hessian eigenvalue at GD's final iterate; "
                "run all the steps and use the eigenvalue, not a diagonal entry or the smallest one"
            )
    return True, "the sharpness of GD's endpoint is right for fresh starting points and learning rates"


def _arc_cases():
    """Fresh (lr, x, y) with a stable arc, and some with none (lr * |x y| >= 1)."""
    rng = np.random.default_rng(4040)
    with_arc = []
    for _ in range(6):
        x = float(rng.uniform(0.5, 2.0)) * rng.choice([-1.0, 1.0])
        y = float(rng.uniform(0.3, 2.0)) * rng.choice([-1.0, 1.0])
        lr = float(rng.uniform(0.05, 0.95)) / abs(x * y)
        with_arc.append((lr, x, y))
    without = [(1.3 / abs(x * y), x, y) for _, x, y in with_arc[:3]]
    return with_arc, without


@register(
    "penalty-stable-arc",
    without=(
        "igrlib.gd",
        "igrlib.modified_loss",
    ),
)
def _stable_arc(answer):
    with_arc, without = _arc_cases()
    for lr, x, y in with_arc:
        got = answer(lr, x, y)
        if got is None:
            return False, f"for lr = {lr:.4g}, x = {x:.4g}, y = {y:.4g} some minima are stable, but you returned None"
        try:
            a_lo, a_hi = (float(v) for v in got)
        except (TypeError, ValueError):
            return False, f"return a pair (a_lo, a_hi) of numbers, or None; got {got!r}"
        if not (0 < a_lo < a_hi < np.inf):
            return False, f"expected 0 < a_lo < a_hi (finite); got ({a_lo:.6g}, {a_hi:.6g})"
        b_lo, b_hi = y / (a_lo * x), y / (a_hi * x)
        limit = 2.0 / lr
        ends = _sharpness_at_minimum(np.array([a_lo, a_hi]), np.array([b_lo, b_hi]), x)
        if not np.allclose(ends, limit, rtol=1e-8):
            return False, (
                f"for lr = {lr:.4g}, x = {x:.4g}, y = {y:.4g} the minima at your ends of the arc are not exactly "
                "at the stability limit; solve sharpness = 2 / lr along the hyperbola (mind the factor x**2)"
            )
        a_flat = np.sqrt(abs(y / x))  # the flattest minimum must lie on a stable arc
        if not a_lo < a_flat < a_hi:
            return False, "your arc does not contain the flattest minimum, which is the most stable one"
    for lr, x, y in without:
        got = answer(lr, x, y)
        if got is not None:
            return False, (
                f"for lr = {lr:.4g}, x = {x:.4g}, y = {y:.4g} even the flattest minimum is unstable; return None then"
            )
    return True, "the stable arc of minima is right for fresh learning rates and data points"
