"""The self-checks of chapter 4: solutions pass, plausible wrong answers fail."""

import re

import numpy as np
import pytest

import igrlib as igr
from igrlib.coursework.checks import run_check

E = igr.two_param()


# ---- penalty-flow-end ---------------------------------------------------------------------


def flow_end(theta0, x, y):
    a0, b0 = theta0
    delta, p = a0**2 - b0**2, y / x
    if delta > 0:
        a = np.sign(a0) * np.sqrt((delta + np.hypot(delta, 2 * p)) / 2)
        return np.array([a, p / a])
    b = np.sign(b0) * np.sqrt((-delta + np.hypot(delta, 2 * p)) / 2)
    return np.array([p / b, b])


def integrated(theta0, x, y):  # the exercise asks for the end point "without integrating": switched off
    return igr.gradient_flow(igr.two_param(x, y), theta0, [0.0, 400.0 / x**2])[-1]


def wrong_branch(theta0, x, y):  # takes a with a positive sign always
    end = flow_end(theta0, x, y)
    return np.abs(end[0]) * np.array([1.0, 0.0]) + np.array([0.0, y / (x * np.abs(end[0]))])


def ignores_x(theta0, x, y):
    return flow_end(theta0, 1.0, y)


def flattest_minimum(theta0, x, y):  # where GD with a large step tends, not the flow
    a = np.sqrt(abs(y / x))
    return np.array([np.sign(theta0[0]) * a, np.sign(theta0[0]) * np.sign(y / x) * a])


def one_number(theta0, x, y):
    return float(flow_end(theta0, x, y)[0])


def modifies_input(theta0, x, y):
    out = flow_end(theta0, x, y)
    theta0 *= 2
    return out


def test_flow_end_solution_passes():
    passed, message = run_check("penalty-flow-end", flow_end)
    assert passed, message


def test_flow_end_integrated_flow_is_switched_off():
    passed, message = run_check("penalty-flow-end", integrated)
    assert not passed and "igrlib.gradient_flow is switched off" in message, message


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (wrong_branch, "never change sign"),
        (ignores_x, "hyperbola ab = y / x"),
        (flattest_minimum, "imbalance"),
        (one_number, "shape"),
        (modifies_input, "in place"),
    ],
)
def test_flow_end_wrong_answers_fail(wrong, hint):
    passed, message = run_check("penalty-flow-end", wrong)
    assert not passed
    assert hint in message


# ---- penalty-stable-arc -------------------------------------------------------------------


def stable_arc(lr, x, y):
    # x^2 a^2 + y^2 / a^2 < 2 / h  <=>  x^2 u^2 - (2/h) u + y^2 < 0 with u = a^2.
    disc = 1 / lr**2 - (x * y) ** 2
    if disc <= 0:
        return None
    return np.sqrt((1 / lr - np.sqrt(disc)) / x**2), np.sqrt((1 / lr + np.sqrt(disc)) / x**2)


def forgets_x_squared(lr, x, y):  # right only when x = 1
    return stable_arc(lr, 1.0, y * x)


def limit_one_over_h(lr, x, y):  # uses sharpness < 1/h instead of 2/h
    return stable_arc(2 * lr, x, y)


def never_none(lr, x, y):
    return stable_arc(lr, x, y) or (1.0, 1.0)


def whole_branch(lr, x, y):
    return (1e-12, 1e12)


def test_stable_arc_solution_matches_sharpness_from_the_hessian():
    """The closed form used above agrees with igr.sharpness at the ends of the arc (x = 1.5, y = -0.7)."""
    lr, x, y = 0.4, 1.5, -0.7
    loss = igr.two_param(x, y)
    for a in stable_arc(lr, x, y):
        assert igr.sharpness(loss, [a, y / (a * x)]) == pytest.approx(2 / lr, rel=1e-10)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (forgets_x_squared, "stability limit"),
        (limit_one_over_h, "some minima are stable|stability limit"),
        (never_none, "return None"),
        (whole_branch, "stability limit"),
        (lambda lr, x, y: 3.0, "pair"),
    ],
)
def test_stable_arc_wrong_answers_fail(wrong, hint):
    passed, message = run_check("penalty-stable-arc", wrong)
    assert not passed
    assert re.search(hint, message), message
