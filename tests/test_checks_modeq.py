"""Self-checks of chapter 3 (igrlib/checks/modeq.py): solutions pass, plausible mistakes fail."""

import numpy as np
import pytest

import igrlib as igr
from igrlib.coursework.checks import run_check

# ---- modeq-riccati: the modified equation of Euler's method for y' = y^2, up to h^2


def riccati_solution(y, lr):
    return y**2 - lr * y**3 + 1.5 * lr**2 * y**4


RICCATI_WRONG = {
    "first order only": lambda y, lr: y**2 - lr * y**3,
    "missing the f''(f, f) part (4/3 instead of 3/2)": lambda y, lr: y**2 - lr * y**3 + 4 / 3 * lr**2 * y**4,
    "sign of the h term": lambda y, lr: y**2 + lr * y**3 + 1.5 * lr**2 * y**4,
    "plain right-hand side": lambda y, lr: y**2,
    "wrong at lr = 0": lambda y, lr: y**2 + y**3,
    "not a number": lambda y, lr: y**2 if lr == 0 else float("nan"),
}


def test_riccati_higher_order_terms_are_allowed():
    # A field that is also right at order h^3 is still a correct second-order modified equation.
    passed, message = run_check("modeq-riccati", lambda y, lr: riccati_solution(y, lr) - 8 / 3 * lr**3 * y**5)
    assert passed, message


@pytest.mark.parametrize("name", RICCATI_WRONG)
def test_riccati_wrong_answers_fail(name):
    passed, message = run_check("modeq-riccati", RICCATI_WRONG[name])
    assert not passed, f"{name!r} passed: {message}"
    assert "3/2" not in message and "1.5" not in message  # the hint never gives the answer away


def test_riccati_hints_point_at_the_wrong_order():
    assert "h^2 term" in run_check("modeq-riccati", RICCATI_WRONG["first order only"])[1]
    assert "coefficient of h" in run_check("modeq-riccati", RICCATI_WRONG["sign of the h term"])[1]


# ---- modeq-hhg-curl: the curl of H H g for a loss of two parameters


def hhg_curl_solution(loss, theta):
    g = loss.grad(theta)
    H = igr.hessian(loss, theta)
    Tg = np.column_stack([igr.d3(loss, theta, g, e) for e in np.eye(2)])
    return float((H @ Tg - Tg @ H)[1, 0])


def hhg_curl_by_differences(loss, theta, eps=1e-5):
    def field(p):
        return igr.hvp(loss, p, igr.hvp(loss, p, loss.grad(p)))

    step = eps * (1 + np.linalg.norm(theta))
    e1, e2 = np.eye(2)
    d1 = (field(theta + step * e1) - field(theta - step * e1)) / (2 * step)
    d2 = (field(theta + step * e2) - field(theta - step * e2)) / (2 * step)
    return d1[1] - d2[0]


def hhg_curl_symmetric(loss, theta):
    """A plausible slip: the symmetric combination H T_g + T_g H, whose off-diagonal entries cancel nothing."""
    g = loss.grad(theta)
    H = igr.hessian(loss, theta)
    Tg = np.column_stack([igr.d3(loss, theta, g, e) for e in np.eye(2)])
    return float((H @ Tg + Tg @ H)[1, 0])


HHG_WRONG = {
    "sign flipped": lambda loss, theta: -hhg_curl_solution(loss, theta),
    "always zero": lambda loss, theta: 0.0,
    "symmetric instead of antisymmetric": hhg_curl_symmetric,
    "off by a factor 1/2": lambda loss, theta: hhg_curl_solution(loss, theta) / 2,
    "returns a vector": lambda loss, theta: np.array([hhg_curl_solution(loss, theta), 0.0]),
}


def test_hhg_curl_by_finite_differences_is_refused():
    # The exercise asks for the curl from the formula (H and T_g at theta); the check hands the answer
    # a loss that gives its derivatives at theta only, so differences of H H g cannot be taken.
    passed, message = run_check("modeq-hhg-curl", hhg_curl_by_differences)
    assert not passed and "at theta only" in message, message


def test_hhg_curl_commutator_formula_matches_differences():
    # The mathematics behind the check: curl(H H g) = (H T_g - T_g H)[1, 0], nonzero for a nonquadratic loss.
    rng = np.random.default_rng(1)
    for loss in (igr.himmelblau(), igr.rosenbrock(1.0, 5.0), igr.two_param(1.3, 0.7)):
        for theta in rng.uniform(-1.5, 1.5, size=(3, 2)):
            exact = hhg_curl_solution(loss, theta)
            np.testing.assert_allclose(exact, hhg_curl_by_differences(loss, theta), rtol=1e-6, atol=1e-6)
    assert abs(hhg_curl_solution(igr.himmelblau(), np.array([1.0, -2.0]))) > 1.0


@pytest.mark.parametrize("name", HHG_WRONG)
def test_hhg_curl_wrong_answers_fail(name):
    passed, message = run_check("modeq-hhg-curl", HHG_WRONG[name])
    assert not passed, f"{name!r} passed: {message}"


def test_hhg_curl_sign_hint():
    assert "wrong sign" in run_check("modeq-hhg-curl", HHG_WRONG["sign flipped"])[1]

