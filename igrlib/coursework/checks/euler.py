r"""Self-checks for chapter 2, *Gradient descent is Euler's method* (``book/02_euler.ipynb``).

Each check calls the student's function on cases the chapter does not use and compares
what it returns with the mathematics: the leading term of the global error of Euler's
method (derived in the check's comment, not stored), or a measurement made here with
:func:`igrlib.gd`. The messages give hints, never the answer.
"""

from __future__ import annotations

import math

import numpy as np

from ...descent import gd
from ...losses import quadratic
from . import fresh_rng, plain_real, register

__all__ = []


def _error_constant_cases(rng):
    """(lam, T) pairs: two fixed, four fresh on every call."""
    return [(1.0, 1.0), (0.3, 4.0)] + [(float(rng.uniform(0.2, 5.0)), float(rng.uniform(0.2, 5.0))) for _ in range(4)]


@register(
    "euler-error-constant",
    without=(
        "igrlib.gd",
        "igrlib.gradient_flow",
        "igrlib.heavy_ball",
        "igrlib.sgd",
        "igrlib.sam",
        "igrlib.train",
        "igrlib.modified_flow",
    ),
    why="derive the constant from the closed form of the iterates, not measure it by running GD or the flow",
)
def _error_constant(answer):
    for lam, T in _error_constant_cases(fresh_rng()):
        got = plain_real(answer(lam, T))
        if got is None:
            return False, "return one number, the constant C (a float)"
        # theta_n = (1 - h lam)^(T/h) theta_0 = exp(T log(1 - h lam) / h) theta_0, expanded in h
        want = -0.5 * lam**2 * T * math.exp(-lam * T)
        if not math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-300):
            if math.isclose(got, -want, rel_tol=1e-6):
                return False, f"for lam = {lam:.3g}, T = {T:.3g} the size is right, the sign not: is GD ahead?"
            return False, (
                f"for lam = {lam:.3g}, T = {T:.3g} your C is not the coefficient of h in theta_n - theta(T); "
                "write (1 - h lam)^(T/h) as exp((T/h) log(1 - h lam)) and expand the logarithm"
            )
    return True, "your constant matches the leading global error of Euler's method on fresh (lam, T)"


def _steps_cases():
    """Fresh (lam, lr, tol) cases covering monotone, one-step, oscillating and divergent regimes."""
    rng = fresh_rng()
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


@register(
    "euler-steps-to-tol",
    without=("igrlib.gd", "igrlib.heavy_ball", "igrlib.sgd", "igrlib.sam", "igrlib.train"),  # SGD on one batch is GD
    why="count the steps from the factor 1 - h lam of each step, not by running gradient descent",
)
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
