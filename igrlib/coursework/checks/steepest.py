r"""Self-checks for chapter 1, *Steepest descent and the gradient flow* (``book/01_steepest_descent.ipynb``).

Each check calls the student's function on problems the chapter does not use
and compares the result with the numerical gradient flow,
:func:`igrlib.gradient_flow`. The messages give hints, never the answer.
"""

from __future__ import annotations

import math

import numpy as np

from ...flow import gradient_flow
from ...losses import Loss, quadratic
from . import fresh_rng, real_array, real_number, register

__all__ = []

# igr.gradient_flow solves to rtol 1e-10, atol 1e-12; an eigendecomposition is
# exact to about 1e-14. These tolerances leave room for either, and for nothing more.
FLOW_RTOL = 1e-7
FLOW_ATOL = 1e-9

# Simpson's rule on 2001 times integrates the check's problems to about 1e-8;
# a plain trapezoid rule on 2001 times to about 1e-5. Both pass; a dozen
# times or a rectangle rule do not.
DISSIPATION_RTOL = 1e-4


def _spd(rng, d, lo=0.2, hi=3.0):
    """A random symmetric positive definite matrix with eigenvalues in [lo, hi] and random eigenvectors."""
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (Q * rng.uniform(lo, hi, size=d)) @ Q.T


def _quadratic_cases():
    """Fresh (description, A, b, theta0, t) cases: diagonal and general A, with and without b."""
    rng = fresh_rng()
    cases = []
    for d, diagonal, with_b in [
        (1, True, True),
        (2, True, False),
        (2, False, False),
        (3, False, True),
        (5, False, True),
    ]:
        A = np.diag(rng.uniform(0.2, 3.0, size=d)) if diagonal else _spd(rng, d)
        A = (A + A.T) / 2
        b = rng.normal(size=d) if with_b else np.zeros(d)
        theta0 = rng.normal(scale=2.0, size=d)
        t = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 6.0, size=7))])
        what = f"a {'diagonal' if diagonal else 'general'} {d}x{d} A{' with b != 0' if with_b else ', b = 0'}"
        cases.append((what, A, b, theta0, t))
    return cases


@register(
    "steepest-quadratic-flow",
    without=(
        "igrlib.gradient_flow",
        "igrlib.modified_flow",
        "igrlib.principal_flow_quadratic",
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
    why="write the exact flow of a quadratic from the eigendecomposition of A, not solve the ODE numerically",
)
def _quadratic_flow(answer):
    for what, A, b, theta0, t in _quadratic_cases():
        inputs = [A.copy(), b.copy(), theta0.copy(), t.copy()]
        got = real_array(answer(*inputs))
        if any(not np.array_equal(x, y) for x, y in zip(inputs, (A, b, theta0, t))):
            return False, "your function changed one of its inputs; work on copies"
        if got is None:
            return False, f"for {what} return an array of real numbers (floats), one row per time"
        want_shape = (t.size, theta0.size)
        if got.shape != want_shape:
            return False, f"for {what} and {t.size} times, return shape {want_shape}, one row per time; got {got.shape}"
        if not np.all(np.isfinite(got)):
            return False, f"for {what} your flow contains NaN or infinity"
        if not np.allclose(got[0], theta0, rtol=FLOW_RTOL, atol=FLOW_ATOL):
            return False, f"for {what}, the first row (t = 0) must equal theta0"
        want = gradient_flow(quadratic(A, b), theta0, t)
        if not np.allclose(got, want, rtol=FLOW_RTOL, atol=FLOW_ATOL):
            worst = float(np.max(np.abs(got - want)))
            hint = "does your flow tend to the minimiser, where the gradient A theta - b vanishes?"
            if "diagonal" not in what:
                hint += " For a non-diagonal A, check the order in which V and V^T act."
            return False, f"for {what} your flow is off by up to {worst:.2e} from the gradient flow; {hint}"
    return True, "your exact flow matches the numerical gradient flow on five fresh quadratics (d = 1 to 5)"


def _wavy(rng, d, waves=8):
    """A fresh loss ``mu/2 |theta|^2 + sum_k a_k cos(w_k . theta + c_k)`` with random ``mu``,
    ``a_k``, ``w_k``, ``c_k`` (value and gradient, also on a stack of points). Unlike a quadratic,
    whose value follows from d + 1 gradients, its value cannot be rebuilt from a few gradients
    without fitting its 8 (d + 2) + 1 parameters."""
    mu = rng.uniform(0.5, 1.5)
    W = rng.normal(scale=1.25, size=(waves, d))
    c = rng.uniform(0.0, 2 * np.pi, size=waves)
    a = rng.uniform(0.2, 0.6, size=waves)

    def value(theta):
        theta = np.asarray(theta, dtype=float)
        return 0.5 * mu * np.sum(theta**2, axis=-1) + np.cos(theta @ W.T + c) @ a

    def grad(theta):
        theta = np.asarray(theta, dtype=float)
        return mu * theta - (a * np.sin(theta @ W.T + c)) @ W

    return Loss(value, grad)


def _dissipation_cases():
    """Three fresh ``(loss, theta0, T, drop)``, random losses of 2, 3 and 5 parameters (drawn again
    until the loss drops by at least 1, so that a relative error means something). Over 600
    cases (200 runs), a trapezoid rule on 2001 times was off by at most 1.8e-5 (relative), one on
    11 times by at least 2.8e-4."""
    rng = fresh_rng()
    cases = []
    for d in (2, 3, 5):
        drop = 0.0
        while drop < 1.0:
            loss, theta0, T = _wavy(rng, d), rng.normal(scale=2.0, size=d), rng.uniform(1.5, 2.5)
            drop = float(loss.value(theta0) - loss.value(gradient_flow(loss, theta0, [0.0, T])[-1]))
        cases.append((loss, theta0, T, drop))
    return cases


@register("steepest-dissipation")
def _dissipation(answer):
    def hidden_value(theta):  # handed to the answer, so not a module-level helper (those are blocked)
        raise ValueError("this check hides loss.value: compute the integral from loss.grad alone")

    for loss, theta0, T, drop in _dissipation_cases():
        what = f"a random loss of {theta0.size} parameters"
        got = answer(Loss(hidden_value, loss.grad), theta0.copy(), T)
        if np.ndim(got) != 0:
            return False, f"return one number, the integral; got an array of shape {np.shape(got)}"
        got = real_number(got)
        if got is None:
            return False, "return one real number (a float), the integral"
        if not math.isfinite(got):
            return False, f"on {what} your integral is {got}"
        if got < 0:
            return False, f"on {what} your integral is negative ({got:.4g}); it integrates a square"
        rel = abs(got - drop) / drop
        if rel > DISSIPATION_RTOL:
            return False, (
                f"on {what} your integral differs from the drop in the loss by {rel:.1e} (relative). "
                "Integrate the squared norm of the gradient over the whole interval [0, T], on a fine grid of times."
            )
    return True, "your integral of |g|^2 equals the drop in the loss on three fresh problems, to 1e-4"
