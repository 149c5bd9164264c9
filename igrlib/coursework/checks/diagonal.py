r"""Self-checks for chapter 9, *Where the step size decides the answer* (``book/09_diagonal.ipynb``).

Both code exercises live on the diagonal linear network :math:`\beta = u \odot v` with the
square loss :math:`\frac1{2n}\lVert X\beta - y\rVert^2`. Each check calls the student's
function with plain arrays and numbers on fresh problems and compares what it returns with the
truth computed here, after the answer has run. The messages give hints, never the answer.
"""

from __future__ import annotations

import numpy as np

from ...diagonal import diagonal_start, effective_alpha, entropy_interpolator, sparse_problem, train_diagonal
from . import fresh_rng, real_array, register

__all__ = []


def _gd_cases():
    """Fresh (X, y, alpha, lr, steps): small sparse problems, steps large and small."""
    rng = fresh_rng()
    cases = []
    for n, d, s in [(4, 7, 2), (6, 12, 1), (3, 5, 3)]:
        X, y, _ = sparse_problem(rng, n, d, s)
        alpha = float(rng.uniform(0.05, 0.5))
        lr = float(rng.uniform(0.05, 0.25)) / max(1.0, float(np.mean(X**2)) * d / n)
        cases.append((X, y, alpha, lr, int(rng.integers(20, 400))))
    return cases


@register(
    "diagonal-effective-alpha",
    without=(
        "igrlib.train_diagonal",
        "igrlib.gd",
        "igrlib.effective_alpha",
        "igrlib.balance",
        "igrlib.diagonal_network",
    ),
    why="run the steps on u and v yourself and read the scale off the balance u^2 - v^2",
)
def _effective_alpha(answer):
    for X, y, alpha, lr, steps in _gd_cases():
        d = X.shape[1]
        X_in, y_in = X.copy(), y.copy()
        got = real_array(answer(X_in, y_in, alpha, lr, steps))
        if not (np.array_equal(X_in, X) and np.array_equal(y_in, y)):
            return False, "your function changed its inputs X or y in place; work on copies"
        if got is None:
            return False, f"return the effective scale of every coordinate as real numbers, shape ({d},)"
        if got.shape != (d,):
            return False, f"return one scale per coordinate, shape ({d},); got shape {got.shape}"
        if not np.all(np.isfinite(got)):
            return False, "your scales are not finite"
        end = train_diagonal(X, y, diagonal_start(alpha, d), lr, steps).theta[0, 0]
        want = effective_alpha(end)
        if np.allclose(got, alpha, rtol=1e-12):
            return False, "your scales did not change at all: a step of size h is not the gradient flow"
        if np.allclose(got, want**2, rtol=1e-8):
            return False, "these look like alpha_inf squared; the scale is the square root of |u^2 - v^2| / 2"
        if np.allclose(got, np.sqrt(2) * want, rtol=1e-8):
            return False, "mind the factor: the start u = sqrt(2) alpha, v = 0 has balance 2 alpha^2"
        if not np.allclose(got, want, rtol=1e-9, atol=1e-14):
            return False, (
                f"for a problem with n = {X.shape[0]}, d = {d}, alpha = {alpha:.3g}, h = {lr:.3g} and {steps} steps "
                "the scales differ from a careful run; update u and v from the same (old) values in each step"
            )
    return True, "your effective scales are right on fresh problems"


@register(
    "diagonal-entropy-interpolator",
    without=("igrlib.entropy_interpolator", "igrlib.diagonal_study.run"),
    why="find the interpolator of least hyperbolic entropy yourself",
)
def _interpolator(answer):
    rng = fresh_rng()
    for n, d, uniform in [(2, 4, True), (3, 6, False), (4, 9, False)]:
        X, y, _ = sparse_problem(rng, n, d, min(2, d))
        alpha = float(rng.uniform(0.1, 1.0)) if uniform else rng.uniform(0.1, 1.0, size=d)
        X_in, y_in = X.copy(), y.copy()
        alpha_in = alpha if uniform else alpha.copy()
        got = real_array(answer(X_in, y_in, alpha_in))
        if got is None:
            return False, f"return the interpolator beta as real numbers, shape ({d},)"
        if got.shape != (d,):
            return False, f"return one number per coordinate, shape ({d},); got shape {got.shape}"
        if not np.all(np.isfinite(got)):
            return False, "your interpolator is not finite"
        if not np.allclose(X @ got, y, atol=1e-6 * max(1.0, float(np.linalg.norm(y)))):
            return False, "your beta does not interpolate: X beta must equal y"
        want = entropy_interpolator(X, y, alpha)
        l2 = np.linalg.pinv(X) @ y
        if np.allclose(got, l2, atol=1e-5) and not np.allclose(want, l2, atol=1e-5):
            return False, "this is the minimum-norm interpolator; the entropy weighs coordinates differently"
        if not np.allclose(got, want, atol=1e-5):
            kind = "one scale" if uniform else "one scale per coordinate"
            return False, f"for n = {n}, d = {d} and {kind} your interpolator is not the one of least entropy"
    return True, "right, with one scale and with one per coordinate"
