"""The self-checks of chapter 4: solutions pass, plausible wrong answers fail."""

import numpy as np
import pytest

import igrlib as igr
from igrlib.coursework.checks import run_check

E = igr.two_param()


# ---- penalty-final-sharpness --------------------------------------------------------------


def final_sharpness(theta0, lr, steps):
    ends = igr.gd(E, theta0, lr, steps)[..., -1, :]
    return np.array([igr.sharpness(E, end) for end in ends.reshape(-1, 2)]).reshape(np.shape(lr))


def sharpness_at_start(theta0, lr, steps):
    return np.full(np.shape(lr), igr.sharpness(E, theta0))


def smallest_eigenvalue(theta0, lr, steps):
    ends = igr.gd(E, theta0, lr, steps)[..., -1, :]
    return np.array([np.linalg.eigvalsh(igr.hessian(E, end))[0] for end in ends])


def gradient_flow_endpoint(theta0, lr, steps):  # ignores lr: the h -> 0 limit
    end = igr.gradient_flow(E, theta0, [0.0, 30.0])[-1]
    return np.full(np.shape(lr), igr.sharpness(E, end))


def too_few_steps(theta0, lr, steps):
    return final_sharpness(theta0, lr, 5)


def one_number(theta0, lr, steps):
    return float(final_sharpness(theta0, lr, steps)[-1])


def modifies_input(theta0, lr, steps):
    out = final_sharpness(theta0, lr, steps)
    theta0 *= 2
    return out


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (sharpness_at_start, "where GD starts"),
        (smallest_eigenvalue, "along the valley"),
        (gradient_flow_endpoint, "do not change with the learning rate"),
        (too_few_steps, "largest Hessian eigenvalue"),
        (one_number, "shape"),
        (modifies_input, "in place"),
    ],
)
def test_final_sharpness_wrong_answers_fail(wrong, hint):
    passed, message = run_check("penalty-final-sharpness", wrong)
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
        (limit_one_over_h, "some minima are stable"),
        (never_none, "return None"),
        (whole_branch, "stability limit"),
        (lambda lr, x, y: 3.0, "pair"),
    ],
)
def test_stable_arc_wrong_answers_fail(wrong, hint):
    passed, message = run_check("penalty-stable-arc", wrong)
    assert not passed
    assert hint in message

