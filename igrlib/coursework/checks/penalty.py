r"""Self-checks for chapter 4, *The implicit gradient penalty* (``book/04_implicit_penalty.ipynb``).

Both code exercises live on Barrett and Dherin's two-parameter model
:math:`E(a, b) = \tfrac12 (y - abx)^2`, whose minimum :math:`(a, b)` on the
hyperbola :math:`ab = y/x` has sharpness :math:`x^2 (a^2 + b^2)`. Each check
calls the student's function on inputs the chapter does not use and compares the
behaviour with a measurement made here. The messages give hints, never the answer.
"""

from __future__ import annotations

import numpy as np

from ...flow import gradient_flow
from ...losses import two_param
from . import fresh_rng, real_array, real_number, register

__all__ = []


def _sharpness_at_minimum(a, b, x):
    """Largest Hessian eigenvalue of the two-parameter model at a point where E = 0."""
    return x**2 * (a**2 + b**2)


@register(
    "penalty-flow-end",
    without=(
        "igrlib.gradient_flow",
        "igrlib.modified_flow",
        "scipy.integrate.solve_ivp",
        "scipy.integrate.odeint",
        "scipy.integrate.DOP853",
        "scipy.integrate.RK45",
        "scipy.integrate.RK23",
        "scipy.integrate.Radau",
        "scipy.integrate.BDF",
        "scipy.integrate.LSODA",
        "scipy.integrate.ode",
    ),
    why="find the end point from the imbalance a^2 - b^2 that the flow keeps, not by integrating the flow",
)
def _flow_end(answer):
    rng = fresh_rng()
    for k in range(6):
        x = float(rng.uniform(0.5, 2.0)) * rng.choice([-1.0, 1.0])
        y = float(rng.uniform(0.3, 2.0)) * rng.choice([-1.0, 1.0])
        theta0 = rng.uniform(-2.5, 2.5, size=2)
        while abs(abs(theta0[0]) - abs(theta0[1])) < 0.3:  # a clear imbalance, the flow avoids the saddle
            theta0 = rng.uniform(-2.5, 2.5, size=2)
        if k < 4:  # a, then b, the larger at the start (it keeps its sign), positive, then negative
            small, large = np.sort(np.abs(theta0))
            theta0 = np.array([large, small]) if k < 2 else np.array([small, large])
            theta0[k // 2] *= (1.0, -1.0)[k % 2]
        theta_in = theta0.copy()
        got = real_array(answer(theta_in, x, y))
        if not np.array_equal(theta_in, theta0):
            return False, "your function changed its input theta0 in place; work on a copy"
        if got is None:
            return False, "return the end point (a, b) as real numbers (floats), shape (2,)"
        if got.shape != (2,):
            return False, f"return the end point (a, b), shape (2,); got shape {got.shape}"
        if not np.all(np.isfinite(got)):
            return False, "your end point is not finite"
        loss = two_param(x, y)
        want = gradient_flow(loss, theta0, [0.0, 200.0 / x**2])[-1]
        if abs(got[0] * got[1] * x - y) > 1e-8 * max(1.0, abs(y)):
            return False, "your point is not a minimum: the flow ends on the hyperbola ab = y / x (mind the x)"
        if not np.isclose(got[0] ** 2 - got[1] ** 2, theta0[0] ** 2 - theta0[1] ** 2, rtol=1e-8, atol=1e-10):
            return False, "your minimum does not have the imbalance a^2 - b^2 of the start, which the flow keeps"
        if not np.allclose(got, want, rtol=1e-6, atol=1e-6):
            return False, (
                f"from theta0 = ({theta0[0]:.4g}, {theta0[1]:.4g}) with x = {x:.4g}, y = {y:.4g} the flow ends on the "
                "other branch: which coordinate can never change sign along the flow?"
            )
    return True, "the gradient flow's end point is right for fresh starts and data points"


def _arc_cases():
    """Fresh (lr, x, y) with a stable arc, and some with none (lr * |x y| >= 1)."""
    rng = fresh_rng()
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
    why="solve the stability condition along the hyperbola, not find the arc by running gradient descent",
)
def _stable_arc(answer):
    with_arc, without = _arc_cases()
    for lr, x, y in with_arc:
        got = answer(lr, x, y)
        if got is None:
            return False, f"for lr = {lr:.4g}, x = {x:.4g}, y = {y:.4g} some minima are stable, but you returned None"
        try:
            a_lo, a_hi = (real_number(v) for v in got)
        except (TypeError, ValueError):  # not a pair
            a_lo = a_hi = None
        if a_lo is None or a_hi is None:
            return False, f"return a pair (a_lo, a_hi) of real numbers, or None; got {got!r}"
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
