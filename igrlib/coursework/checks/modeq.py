r"""Self-checks for the exercises of chapter *The operator series and the modified equation*.

- ``modeq-riccati``: the second-order modified equation of Euler's method for
  :math:`y' = y^2`. Checked by what defines it: the exact flow of the field over
  one step of length :math:`h` must land on the Euler step :math:`y + h y^2` up
  to :math:`O(h^4)`.
- ``modeq-hhg-curl``: the curl of the field :math:`H H g` of a two-parameter loss.
  Checked against central differences of :math:`HHg` on fresh losses and points.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ...losses import Loss, himmelblau, hvp, quadratic, rosenbrock, two_param
from . import fresh_rng, real_number, register

# Step sizes for the one-step (local) error of the modified flow. The local error of a
# correct second-order field is about (8/3) y^5 h^4 (the next term of the series), between
# about 1e-10 and 1e-5 here: far above the solver's error (rtol 1e-13) and far below 1.
_RICCATI_LRS = np.array([0.04, 0.02, 0.01])


class _NotFinite(Exception):
    """The answer returned NaN, infinity or something else than a real number somewhere along the flow."""


def _flow_one_step(field, y0, lr):
    """y(lr) for y' = field(y), y(0) = y0, integrated with DOP853 at tight tolerances."""

    def rhs(_, y):
        value = real_number(field(float(y[0])))
        if value is None or not np.isfinite(value):
            raise _NotFinite(float(y[0]))
        return [value]

    sol = solve_ivp(rhs, (0.0, lr), [y0], method="DOP853", rtol=1e-13, atol=1e-15)
    if not sol.success:
        raise RuntimeError(f"the flow of your field could not be integrated over one step: {sol.message}")
    return float(sol.y[0, -1])


@register(
    "modeq-riccati",
    without=(
        "igrlib.modified_field",
        "igrlib.modified_flow",
        "igrlib.modified_loss",
        "igrlib.bernoulli_coefficients",
        "igrlib.principal_field",
    ),
    why="derive the modified equation of y' = y^2 by hand, not evaluate igrlib's series",
)
def _(answer):
    """``answer(y, lr)``: the modified right-hand side of Euler's method for y' = y^2, up to lr^2."""
    rng = fresh_rng()
    ys = rng.uniform(0.4, 0.9, size=3)
    for y in ys:
        got = real_number(answer(float(y), 0.0))
        if got is None:
            return False, "modified_rhs(y, lr) should return one real number (a float)"
        if not np.isclose(got, y**2, rtol=1e-12, atol=0):
            return False, f"at lr = 0 the modified field must be the original right-hand side y^2 (y = {y:.4f})"
    slopes = []
    for y in ys:
        try:
            err = [abs(_flow_one_step(lambda v, h=h: answer(v, h), y, h) - (y + h * y**2)) for h in _RICCATI_LRS]
        except _NotFinite as exc:
            return False, (
                f"modified_rhs returned NaN, infinity or no real number at y = {exc.args[0]:.4f}; "
                "it must be a finite real number there"
            )
        err = np.maximum(err, 1e-300)  # an error of exactly zero would break the logarithm
        slopes.append(np.polyfit(np.log(_RICCATI_LRS), np.log(err), 1)[0])
    slope = min(slopes)
    if slope < 2.5:
        return False, (
            f"one step of your flow misses the Euler step by O(h^{slope:.1f}); a correct O(h) term gives O(h^3). "
            "Check the coefficient of h (the term f2 = -(1/2) f' f)"
        )
    if slope < 3.5:
        return False, (
            f"the O(h) term is right, but one step of your flow misses the Euler step by O(h^{slope:.1f}), "
            "not O(h^4): check the h^2 term (both f' f' f and f''(f, f) contribute)"
        )
    # the field itself, at fresh points asked twice in shuffled order: a function of (y, lr) alone
    # that flows onto Euler's step is, to O(lr^2), y^2 - lr y^3 + (3/2) lr^2 y^4
    points = [(float(y), float(h)) for y in rng.uniform(0.4, 0.9, size=4) for h in _RICCATI_LRS] * 2
    order = rng.permutation(len(points))
    values = {}
    for k in order:
        y, h = points[k]
        got = real_number(answer(y, h))
        if got is None or not np.isfinite(got):
            return False, "modified_rhs(y, lr) should return one finite real number (a float)"
        if values.setdefault((y, h), got) != got:
            return False, f"modified_rhs({y:.4f}, {h}) returned two different values: it must depend on (y, lr) alone"
        if not abs(got - (y**2 - h * y**3 + 1.5 * h**2 * y**4)) <= 10 * h**3:
            return False, (
                f"at y = {y:.4f}, lr = {h} your field is not the modified field of Euler's method to O(lr^2), "
                "although a flow of it was close to Euler's step from other starting points"
            )
    return True, f"one step of your modified flow matches Euler's step to O(h^{slope:.1f}) on fresh starting points"


def _hhg(loss):
    """The field theta -> H(theta) H(theta) g(theta), through igrlib's Hessian-vector products."""

    def field(theta):
        return hvp(loss, theta, hvp(loss, theta, loss.grad(theta)))

    return field


def _fd_curl(field, theta, eps=1e-5):
    """dF_2/dtheta_1 - dF_1/dtheta_2 by central differences, and the size of the Jacobian."""
    step = eps * (1 + np.linalg.norm(theta))
    e1, e2 = np.eye(2)
    d1 = (field(theta + step * e1) - field(theta - step * e1)) / (2 * step)
    d2 = (field(theta + step * e2) - field(theta - step * e2)) / (2 * step)
    return d1[1] - d2[0], np.linalg.norm([d1, d2])


def _at_theta_only(loss, theta):
    """``loss`` whose value and derivatives are given at ``theta`` only (also as a stack of copies of
    it): the formula needs nothing else, central differences of H H g need them elsewhere."""

    def only(fn, name):
        if fn is None:
            return None

        def method(point, *args):
            point = np.asarray(point, dtype=float)
            if point.shape[-1:] != theta.shape or not np.all(point == theta):
                raise ValueError(
                    f"this check gives the loss's derivatives at theta only (loss.{name} was asked elsewhere): "
                    "compute the curl from the formula, with H and T_g at theta, not by finite differences"
                )
            return fn(point, *args)

        return method

    return Loss(*(only(getattr(loss, name), name) for name in Loss._fields))


@register("modeq-hhg-curl")
def _(answer):
    """``answer(loss, theta)``: the curl of H H g at theta for a loss of two parameters."""
    rng = fresh_rng()
    S = rng.normal(size=(2, 2))
    losses = [
        ("a quadratic", quadratic(S @ S.T + np.eye(2))),
        ("two_param", two_param(*rng.uniform(0.5, 1.5, size=2))),
        ("rosenbrock", rosenbrock(rng.uniform(0.5, 1.5), rng.uniform(2.0, 10.0))),
        ("himmelblau", himmelblau()),
    ]
    for name, loss in losses:
        for theta in rng.uniform(-1.5, 1.5, size=(3, 2)):
            want, scale = _fd_curl(_hhg(loss), theta)
            got = answer(_at_theta_only(loss, theta), theta.copy())
            if np.ndim(got) != 0:
                shape = np.shape(got)
                return False, f"hhg_curl should return one number (the curl in two dimensions), got shape {shape}"
            got = real_number(got)
            if got is None:
                return False, "hhg_curl should return one real number (a float)"
            if name == "a quadratic" and not abs(got) <= 1e-8 * (1 + scale):
                return False, "for a quadratic loss H H g is a gradient, so its curl must vanish; yours does not"
            if not abs(got - want) <= 1e-6 * (1 + scale):
                if abs(got + want) <= 1e-6 * (1 + scale):
                    return False, f"{name}: right size, wrong sign; the curl is dF_2/dtheta_1 - dF_1/dtheta_2"
                where = theta.round(3)
                return False, f"{name}: your curl of H H g disagrees with finite differences at theta = {where}"
    return True, "your curl of H H g agrees with finite differences on fresh losses and points"
