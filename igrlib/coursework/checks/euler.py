r"""Self-checks for chapter 2, *Gradient descent is Euler's method* (``book/02_euler.ipynb``).

Each check calls the student's function on cases the chapter does not use and compares
what it returns with the mathematics: the closed form :math:`(I - hA)^n\theta_0` of gradient
descent on a quadratic, or a measurement made here with :func:`igrlib.gd`. The messages give
hints, never the answer.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ...descent import gd
from ...losses import quadratic
from . import fresh_rng, plain_real, real_array, register

__all__ = []


def _richardson_cases(rng):
    """(A, theta0, T, lr): one fixed case and four fresh ones, SPD A of size 2 or 3, T / lr an exact integer."""
    cases = [(np.diag([1.0, 10.0]), np.array([1.0, 1.0]), 1.0, 0.05)]
    for d in (2, 3, 3, 2):
        Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        lam = rng.uniform(0.3, 4.0, size=d)
        n = int(rng.integers(8, 40))
        # lr a multiple of 2^-10 and T = n lr, both exact, so that T / lr is exactly n: int(T / lr) and
        # round(T / lr) agree. T lies in about [0.5, 2], so h lam_max = T lam_max / n stays below 1.
        lr = round(float(rng.uniform(0.5, 2.0)) / n * 1024) / 1024
        cases.append(((Q * lam) @ Q.T, rng.normal(size=d), n * lr, lr))
    return cases


def _close(got, want, atol):
    return np.allclose(got, want, rtol=1e-8, atol=atol)


def _gd_quadratic_end(A, theta0, lr, steps):
    """theta_n = (I - h A)^n theta_0, the closed form of gradient descent on a quadratic."""
    return np.linalg.matrix_power(np.eye(len(A)) - lr * A, steps) @ theta0


@register(
    "euler-richardson",
    without=(
        "igrlib.gradient_flow",
        "igrlib.modified_flow",
        "igrlib.heavy_ball_flow",
        "igrlib.principal_flow_quadratic",
    ),
    why="estimate the flow from two gradient-descent runs; the exercise is not to solve the flow",
)
def _richardson(answer):
    for A, theta0, T, lr in _richardson_cases(fresh_rng()):
        got = real_array(answer(A.copy(), theta0.copy(), T, lr))
        if got is None or got.shape != theta0.shape:
            return False, f"return the extrapolated end point, a real array of shape {theta0.shape}"
        n = round(T / lr)
        coarse = _gd_quadratic_end(A, theta0, lr, n)
        fine = _gd_quadratic_end(A, theta0, lr / 2, 2 * n)
        want = 2 * fine - coarse
        close = functools.partial(_close, got, atol=1e-10 * np.linalg.norm(theta0))
        if close(want):
            continue
        # theta(T) = e^{-TA} theta_0, from the eigenvalues: what the extrapolation estimates, not what it returns
        lam, V = np.linalg.eigh(A)
        flow = V @ (np.exp(-T * lam) * (V.T @ theta0))
        where = f"for T = {T:.3g} and lr = {lr:.3g}"
        if close(fine) or close(coarse):
            return False, f"{where} you return one run; combine the two so that their O(h) errors cancel"
        if close(2 * coarse - fine) or close((coarse + fine) / 2):
            return False, f"{where} the weights are not the ones that cancel the error C h: solve for them"
        if close(flow):
            return False, f"{where} you return the flow itself; the exercise combines two gradient-descent runs"
        return False, (
            f"{where} your end point is not 2 theta^(h/2) - theta^(h): run T / lr steps of size lr "
            "and 2 T / lr steps of size lr / 2 from theta0"
        )
    return True, "your extrapolation of two gradient-descent runs is right on fresh quadratics"


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
