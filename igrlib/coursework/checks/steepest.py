r"""Self-checks for chapter 1, *Steepest descent and the gradient flow* (``book/01_steepest_descent.ipynb``).

Each check calls the student's function on problems the chapter does not use
and compares the result with the numerical gradient flow,
:func:`igrlib.gradient_flow`. The messages give hints, never the answer.
"""

from __future__ import annotations

import math

import numpy as np

from ...flow import gradient_flow
from ...losses import Loss, himmelblau, quadratic, rosenbrock
from . import fresh_rng, real_array, real_number, register

__all__ = []

# igr.gradient_flow solves to rtol 1e-10, atol 1e-12; an eigendecomposition is
# exact to about 1e-14. These tolerances leave room for either, and for nothing more.
FLOW_RTOL = 1e-7
FLOW_ATOL = 1e-9

# Simpson's rule on 2001 times integrates the check's problems to about 1e-8;
# a plain trapezoid rule on 2001 times to about 1e-5. Both pass; a few dozen
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


def _dissipation_cases():
    """Fresh (description, loss, theta0, T) cases, none of them from the chapter."""
    rng = fresh_rng()
    return [
        ("a 3-D quadratic", quadratic(_spd(rng, 3, 0.3, 4.0), rng.normal(size=3)), rng.normal(size=3), 2.0),
        ("Rosenbrock's function with b = 5", rosenbrock(1.0, 5.0), np.array([-1.2, 1.5]), 1.5),
        ("Himmelblau's function", himmelblau(), np.array([0.5, -0.5]), 0.3),
    ]


@register("steepest-dissipation")
def _dissipation(answer):
    def hidden_value(theta):  # handed to the answer, so not a module-level helper (those are blocked)
        raise ValueError("this check hides loss.value: compute the integral from loss.grad alone")

    for what, loss, theta0, T in _dissipation_cases():
        hidden = Loss(hidden_value, loss.grad, loss.hvp, loss.d3)
        got = answer(hidden, theta0.copy(), T)
        if np.ndim(got) != 0:
            return False, f"return one number, the integral; got an array of shape {np.shape(got)}"
        got = real_number(got)
        if got is None:
            return False, "return one real number (a float), the integral"
        if not math.isfinite(got):
            return False, f"on {what} your integral is {got}"
        if got < 0:
            return False, f"on {what} your integral is negative ({got:.4g}); it integrates a square"
        drop = float(loss.value(theta0) - loss.value(gradient_flow(loss, theta0, [0.0, T])[-1]))
        rel = abs(got - drop) / drop
        if rel > DISSIPATION_RTOL:
            return False, (
                f"on {what} (T = {T}) your integral differs from the drop in the loss by {rel:.1e} (relative). "
                "Integrate the squared norm of the gradient over the whole interval [0, T], on a fine grid of times."
            )
    return True, "your integral of |g|^2 equals the drop in the loss on three fresh problems, to 1e-4"
