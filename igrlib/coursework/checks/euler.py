r"""Self-checks for chapter 2, *Gradient descent is Euler's method* (``book/02_euler.ipynb``).

Each check calls the student's function on problems the chapter does not use
and compares what it returns with a measurement made here with :func:`igrlib.gd`
and :func:`igrlib.gradient_flow`. The messages give hints, never the answer.
"""

from __future__ import annotations

import math

import numpy as np

from ...flow import gradient_flow
from ...gd import gd
from ...losses import quadratic, rosenbrock, two_param
from . import plain_real, register

__all__ = []

# How far a student's fitted order may be from the one measured here. The same
# procedure agrees to about 1e-10; the margin allows another vector norm for the error.
ORDER_TOL = 0.03


def _measured_order(loss, theta0, T, lrs):
    """Least-squares slope of log |theta_n - theta(T)| against log h, with n = T / h."""
    exact = gradient_flow(loss, theta0, [0.0, T])[-1]
    errors = [np.linalg.norm(gd(loss, theta0, h, round(T / h))[-1] - exact) for h in lrs]
    return float(np.polyfit(np.log(lrs), np.log(errors), 1)[0])


def _order_problems():
    """Fresh problems: (description, loss, theta0, T, lrs). T / h is an integer for every h."""
    return [
        # Far from the asymptotic regime (h * lambda up to 5/8): the measured slope is well below 1.
        ("the 1-D quadratic L = 5 theta^2 / 2 at large steps", quadratic([[5.0]]), np.array([1.0]), 1.0,
         1.0 / np.array([8.0, 16.0, 32.0])),
        ("Rosenbrock's function with b = 2", rosenbrock(1.0, 2.0), np.array([-1.0, 1.0]), 1.0,
         1.0 / np.array([32.0, 64.0, 128.0, 256.0])),
        ("the two-parameter model with x = 2, y = 1", two_param(2.0, 1.0), np.array([0.3, 1.2]), 0.5,
         0.5 / np.array([16.0, 32.0, 64.0])),
    ]


@register("euler-global-order")
def _global_order(answer):
    for what, loss, theta0, T, lrs in _order_problems():
        got = answer(loss, theta0.copy(), T, lrs.copy())
        if np.ndim(got) != 0:
            return False, f"return one number, the fitted slope; got an array of shape {np.shape(got)}"
        got = float(got)
        if not math.isfinite(got):
            return False, f"your slope is {got} on {what}; are some errors zero or NaN?"
        want = _measured_order(loss, theta0, T, lrs)
        if abs(got - want) > ORDER_TOL:
            return False, (
                f"on {what} your slope {got:.3f} does not match the order measured from GD and the exact flow. "
                "Run n = T / h steps for each h, take the distance to the flow at time T, "
                "and fit a line to log(error) against log(h)."
            )
    return True, "your function measures the global order of Euler's method on three fresh problems"


def _steps_cases():
    """Fresh (lam, lr, tol) cases covering monotone, one-step, oscillating and divergent regimes."""
    rng = np.random.default_rng(20240602)
    cases = [(4.0, 0.25, 1e-6), (4.0, 0.5, 1e-3), (2.0, 1.5, 1e-3)]  # h*lam = 1, 2 (exactly) and 3
    for lo, hi in [(0.05, 1.0), (1.0, 1.95), (2.05, 4.0)]:
        for _ in range(4):
            lam = float(rng.uniform(0.5, 20.0))
            x = float(rng.uniform(lo, hi))
            tol = float(10.0 ** rng.uniform(-8.0, -2.0))
            if x < 2.0:
                ratio = math.log(tol) / math.log(abs(1.0 - x))
                if abs(ratio - round(ratio)) < 1e-6:  # too close to a step boundary for rounding to be fair
                    continue
            cases.append((lam, x / lam, tol))
    return cases


def _first_step_below(lam, lr, tol):
    """The first n with |theta_n| <= tol |theta_0| for GD on lam theta^2 / 2, by running GD."""
    if abs(1.0 - lr * lam) >= 1.0:
        return math.inf  # |theta_n| never decreases; running GD would only confirm it
    n_max = int(math.log(tol) / math.log(max(abs(1.0 - lr * lam), 1e-300))) + 2
    path = np.abs(gd(quadratic([[lam]]), [1.0], lr, n_max)[:, 0])
    return int(np.flatnonzero(path <= tol)[0])


@register("euler-steps-to-tol", without=("igrlib.gd", "igrlib.heavy_ball", "igrlib.train"))
def _steps_to_tol(answer):
    for lam, lr, tol in _steps_cases():
        got = answer(lam, lr, tol)
        if plain_real(got) is None:
            return False, f"return a number of steps (an int, or math.inf); got {type(got).__name__}"
        got = plain_real(got)
        want = _first_step_below(lam, lr, tol)
        if math.isinf(want):
            if not (math.isinf(got) and got > 0):
                return False, (
                    f"for lam = {lam:.4g}, lr = {lr:.4g} GD never gets within the tolerance; "
                    "the exercise asks for math.inf in that case"
                )
        elif not got == want:
            return False, (
                f"wrong count for lam = {lam:.4g}, lr = {lr:.4g}, tol = {tol:.3g} (h lam = {lr * lam:.3f}). "
                "Use the exact factor per step (no approximation of the logarithm), mind its sign, "
                "and count the first step that reaches the tolerance."
            )
    return True, "your step counts agree with gradient descent in every regime of h lam"
