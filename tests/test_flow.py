"""igrlib.flow: the gradient flow's closed form, the orders of the modified flows, failures and bad input."""

import re

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose

import igrlib as igr
from igrlib.flow import RTOL


def test_gradient_flow_of_a_quadratic_is_a_matrix_exponential(rng):
    S = rng.normal(size=(3, 3))
    A = S @ S.T + 0.5 * np.eye(3)
    b = rng.normal(size=3)
    star = np.linalg.solve(A, b)
    theta0 = rng.normal(size=3)
    t = np.array([0.0, 0.1, 0.5, 1.0, 2.0])
    expected = [star + scipy.linalg.expm(-s * A) @ (theta0 - star) for s in t]
    assert_allclose(igr.gradient_flow(igr.quadratic(A, b), theta0, t), expected, rtol=1e-8, atol=1e-10)


def cubic_loss():
    """L = -theta^3 / 3: the flow theta' = theta^2 from theta(0) = 1 is 1 / (1 - t), which blows up at t = 1."""
    return igr.Loss(
        value=lambda th: -np.sum(np.asarray(th) ** 3, axis=-1) / 3,
        grad=lambda th: -np.asarray(th, dtype=float) ** 2,
        hvp=lambda th, v: -2 * np.asarray(th, dtype=float) * v,
        d3=lambda th, u, v: -2 * np.asarray(u, dtype=float) * v,
    )


def test_gradient_flow_of_theta_squared_before_the_blowup():
    loss = cubic_loss()
    t = np.array([0.0, 0.5, 0.9, 0.99])
    assert_allclose(igr.gradient_flow(loss, [1.0], t)[:, 0], 1 / (1 - t), rtol=1e-7)


@pytest.mark.parametrize("flow", ["gradient", "modified"])
def test_finite_time_blowup_raises_flow_error(flow):
    loss = cubic_loss()
    with pytest.raises(igr.FlowError, match="blow up in finite time") as info:
        if flow == "gradient":
            igr.gradient_flow(loss, [1.0], [0.0, 2.0])
        else:
            igr.modified_flow(loss, [1.0], 0.0, [0.0, 2.0], order=1)
    reached = float(re.search(r"past t = (\S+)", str(info.value)).group(1))
    assert abs(reached - 1.0) < 1e-2  # the solver stops at the blow-up time


def test_modified_field_at_lr_zero_is_minus_the_gradient(model, rng):
    for theta in model.points(rng, 3):
        for order in (0, 1, 2):
            assert_allclose(igr.modified_field(model.loss, theta, 0.0, order=order), -model.loss.grad(theta), rtol=0)


def test_modified_flow_at_lr_zero_is_the_gradient_flow(model, rng):
    theta0, t = model.points(rng), [0.0, 0.02, 0.05]
    expected = igr.gradient_flow(model.loss, theta0, t)
    for order in (0, 1, 2):
        assert_allclose(igr.modified_flow(model.loss, theta0, 0.0, t, order=order), expected, rtol=1e-13, atol=1e-14)


def test_modified_field_on_a_stack_matches_row_by_row(model, rng):
    thetas = model.points(rng, 4)
    for order in (1, 2):
        rows = [igr.modified_field(model.loss, th, 0.01, order=order) for th in thetas]
        assert_allclose(igr.modified_field(model.loss, thetas, 0.01, order=order), rows, rtol=1e-12, atol=1e-12)


def test_modified_field_of_a_quadratic_truncates_the_log_series(rng):
    # Exact modified field (1/h) log(I - hA) theta = -(A + h A^2/2 + h^2 A^3/3 + ...) theta.
    S = rng.normal(size=(3, 3))
    A, theta, h = S + S.T, rng.normal(size=3), 0.07
    terms = [np.linalg.matrix_power(A, k + 1) @ theta * h**k / (k + 1) for k in range(3)]
    for order in (0, 1, 2):
        field = igr.modified_field(igr.quadratic(A), theta, h, order=order)
        assert_allclose(field, -sum(terms[: order + 1]), rtol=1e-13)


def test_second_order_field_matches_the_one_dimensional_series():
    # Euler on y' = y^2 (L = -y^3/3) has the modified field y^2 - h y^3 + (3/2) h^2 y^4 + O(h^3).
    for bare in (False, True):
        loss = igr.Loss(cubic_loss().value, cubic_loss().grad) if bare else cubic_loss()
        y, h = 0.8, 0.05
        expected = [y**2, y**2 - h * y**3, y**2 - h * y**3 + 1.5 * h**2 * y**4]
        got = [float(igr.modified_field(loss, [y], h, order=k)[0]) for k in (0, 1, 2)]
        assert_allclose(got, expected, rtol=1e-12 if not bare else 1e-8)


# Settings where the asymptotic regime holds and even the smallest error (order 2, smallest h)
# stays two or more orders of magnitude above the ODE tolerance: loss, theta0, fixed time T, lr values.
ORDER_CASES = {
    "two_param": (igr.two_param(), [1.5, 0.5], 1.0, [0.02, 0.01, 0.005]),
    "rosenbrock": (igr.rosenbrock(b=2.0), [-1.0, 1.5], 0.8, [0.01, 0.005, 0.0025]),
    "himmelblau": (igr.himmelblau(), [0.0, 0.0], 0.04, [0.002, 0.001, 0.0005]),
}


@pytest.mark.parametrize("derivatives", ["exact", "finite differences"])
@pytest.mark.parametrize("name", sorted(ORDER_CASES))
def test_modified_flow_orders(name, derivatives):
    loss, theta0, T, lrs = ORDER_CASES[name]
    if derivatives == "finite differences":
        loss = igr.Loss(loss.value, loss.grad)  # hvp and d3 from differences of grad
    errors = np.zeros((3, len(lrs)))
    for j, h in enumerate(lrs):
        n = round(T / h)
        end = igr.gd(loss, theta0, h, n)[-1]
        for k in (0, 1, 2):
            errors[k, j] = np.linalg.norm(igr.modified_flow(loss, theta0, h, [0.0, n * h], order=k)[-1] - end)
    assert errors.min() > 100 * RTOL
    for k in (0, 1, 2):
        slope = np.polyfit(np.log(lrs), np.log(errors[k]), 1)[0]
        assert abs(slope - (k + 1)) < 0.15, f"order {k}: slope {slope:.3f}, errors {errors[k]}"


def test_modified_flow_on_a_quadratic_follows_gd_to_the_next_order():
    # Order k leaves an O(h^(k+1)) gap, so each order shrinks the gap at a small lr.
    A, theta0, h, n = np.diag([1.0, 3.0]), np.array([1.0, -1.0]), 0.01, 100
    end = igr.gd(igr.quadratic(A), theta0, h, n)[-1]
    flows = [igr.modified_flow(igr.quadratic(A), theta0, h, [0.0, n * h], order=k)[-1] for k in range(3)]
    gaps = [np.linalg.norm(flow - end) for flow in flows]
    assert gaps[0] > 30 * gaps[1] > 900 * gaps[2] > 0


@pytest.mark.parametrize(
    "t, match",
    [
        ([0.0, 1.0, 1.0], "be strictly increasing"),
        ([0.0, 2.0, 1.0], "be strictly increasing"),
        ([0.5, 1.0], "start at 0"),
        ([[0.0, 1.0]], "be a non-empty 1-D array"),
        ([], "be a non-empty 1-D array"),
        (1.0, "be a non-empty 1-D array"),
        ([0.0, np.nan], "be finite"),
        (["0", "one"], "be real numbers"),
    ],
)
def test_bad_times(t, match):
    for call in (
        lambda: igr.gradient_flow(igr.himmelblau(), [1.0, 1.0], t),
        lambda: igr.modified_flow(igr.himmelblau(), [1.0, 1.0], 0.01, t),
    ):
        with pytest.raises(ValueError, match=f"t must {match}"):
            call()


@pytest.mark.parametrize("order", [3, -1, 1.0, 1.5, True, "1", None])
def test_bad_order(order):
    with pytest.raises(ValueError, match="order must be 0, 1 or 2"):
        igr.modified_field(igr.himmelblau(), [1.0, 1.0], 0.01, order=order)
    with pytest.raises(ValueError, match="order must be 0, 1 or 2"):
        igr.modified_flow(igr.himmelblau(), [1.0, 1.0], 0.01, [0.0, 1.0], order=order)


@pytest.mark.parametrize("lr", [-0.1, np.nan, np.inf, [0.1, 0.2]])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="lr must be"):
        igr.modified_field(igr.himmelblau(), [1.0, 1.0], lr)
    with pytest.raises(ValueError, match="lr must be"):
        igr.modified_flow(igr.himmelblau(), [1.0, 1.0], lr, [0.0, 1.0])


@pytest.mark.parametrize("theta0", [1.0, [], [[1.0, 1.0]], [np.nan, 1.0]])
def test_bad_theta0(theta0):
    with pytest.raises(ValueError, match="theta0 must be"):
        igr.gradient_flow(igr.quadratic(np.eye(2)), theta0, [0.0, 1.0])
    with pytest.raises(ValueError, match="theta0 must be"):
        igr.modified_flow(igr.quadratic(np.eye(2)), theta0, 0.1, [0.0, 1.0])


def test_bad_theta_for_the_field():
    for theta in (1.0, [], [np.inf, 1.0]):
        with pytest.raises(ValueError, match="theta must be"):
            igr.modified_field(igr.quadratic(np.eye(2)), theta, 0.1)


def test_grad_of_the_wrong_shape():
    loss = igr.Loss(lambda th: 0.0, lambda th: np.append(th, 0.0))
    for call in (
        lambda: igr.gradient_flow(loss, [1.0, 2.0], [0.0, 1.0]),
        lambda: igr.modified_flow(loss, [1.0, 2.0], 0.1, [0.0, 1.0]),
        lambda: igr.modified_field(loss, [1.0, 2.0], 0.1),
    ):
        with pytest.raises(ValueError, match="loss.grad returned shape"):
            call()


def test_a_single_time_returns_the_start():
    assert_allclose(igr.gradient_flow(igr.himmelblau(), [1.0, 2.0], [0.0]), [[1.0, 2.0]], rtol=0)
