"""igrlib.momentum: heavy ball against its closed form, its modified flow and its orders."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr


def companion_closed_form(A, theta0, v0, h, beta, steps):
    """Iterate the linear two-step recursion as one matrix power on (theta_n, theta_{n-1})."""
    d = len(theta0)
    M = np.block([[(1 + beta) * np.eye(d) - h * A, -beta * np.eye(d)], [np.eye(d), np.zeros((d, d))]])
    state = np.concatenate([theta0, theta0 - v0])
    return np.array([(np.linalg.matrix_power(M, n) @ state)[:d] for n in range(steps + 1)])


def test_zero_momentum_is_gradient_descent(model, rng):
    theta0 = model.points(rng) * 0.3
    assert_allclose(
        igr.heavy_ball(model.loss, theta0, [0.01, 0.02], 0.0, 6),
        igr.gd(model.loss, theta0, [0.01, 0.02], 6),
        rtol=1e-13,
    )


def test_quadratic_closed_form(rng):
    S = rng.normal(size=(3, 3))
    A = S @ S.T
    theta0, v0 = rng.normal(size=3), rng.normal(size=3)
    for h, beta in [(0.05, 0.5), (0.2, 0.9), (0.01, 0.0)]:
        got = igr.heavy_ball(igr.quadratic(A), theta0, h, beta, 25, v0=v0)
        assert_allclose(got, companion_closed_form(A, theta0, v0, h, beta, 25), rtol=1e-10, atol=1e-12)


def test_broadcast_over_lr_and_beta(model, rng):
    theta0 = model.points(rng) * 0.3
    lr = np.array([[0.01], [0.02], [0.005]])
    beta = np.array([0.0, 0.7])
    path = igr.heavy_ball(model.loss, theta0, lr, beta, 5)
    assert path.shape == (3, 2, 6, model.d)
    for i in range(3):
        for j in range(2):
            assert_allclose(path[i, j], igr.heavy_ball(model.loss, theta0, lr[i, 0], beta[j], 5), rtol=1e-14)


def test_first_step_uses_the_initial_velocity(model, rng):
    theta0, v0 = model.points(rng) * 0.3, rng.normal(size=model.d)
    got = igr.heavy_ball(model.loss, theta0, 0.01, 0.6, 1, v0=v0)[1]
    assert_allclose(got, theta0 - 0.01 * model.loss.grad(theta0) + 0.6 * v0, rtol=1e-14)


def orders(loss, theta0, beta, T, hs, start):
    errs = []
    for h in hs:
        v0 = -h * loss.grad(theta0) / (1 - beta) if start == "matched" else None
        end = igr.heavy_ball(loss, theta0, h, beta, int(round(T / h)), v0=v0)[-1]
        errs.append(
            [np.linalg.norm(igr.heavy_ball_flow(loss, theta0, h, beta, [0, T], order=k)[-1] - end) for k in (0, 1)]
        )
    errs = np.array(errs)
    return np.diff(np.log(errs), axis=0) / np.diff(np.log(hs))[:, None]


@pytest.mark.parametrize("beta", [0.5, 0.8])
def test_modified_flow_gains_an_order_from_a_matched_start(model, rng, beta):
    theta0 = model.points(rng) * 0.3
    lam = max(1.0, np.abs(np.linalg.eigvalsh(igr.hessian(model.exact, theta0))).max())
    hs = np.array([0.01, 0.005, 0.0025]) * (1 - beta) / lam
    slopes = orders(model.exact, theta0, beta, 0.5 / lam, hs, "matched")
    assert np.all(np.abs(slopes[:, 0] - 1) < 0.15), slopes
    assert np.all(slopes[:, 1] > 1.8), slopes


def test_a_start_at_rest_costs_an_order_h_offset():
    # A slow direction keeps the start-up offset: the penalty term then gains nothing.
    L = igr.quadratic(np.diag([1.0, 0.2]))
    slopes = orders(L, np.array([1.0, 1.0]), 0.5, 2.0, np.array([0.02, 0.01, 0.005]), "rest")
    assert np.all(np.abs(slopes - 1) < 0.1), slopes


def test_penalty_lr_is_the_momentum_factor_times_the_effective_lr():
    h, beta = 0.03, np.array([0.0, 0.5, 0.9])
    assert_allclose(igr.heavy_ball_penalty_lr(h, beta) / (h / (1 - beta)), (1 + beta) / (1 - beta), rtol=1e-14)
    assert igr.heavy_ball_penalty_lr(h, 0.0) == pytest.approx(h, rel=1e-15)


def test_divergence_is_reported():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], [0.5, 5.0], 0.5, 400)
    assert any(issubclass(w.category, igr.DivergenceWarning) for w in caught)
    assert np.isfinite(path[0, -1, 0]) and np.isnan(path[1, -1, 0])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], 0.1, 1.0, 3), "beta"),
        (lambda: igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], 0.1, -0.1, 3), "beta"),
        (lambda: igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], 0.0, 0.5, 3), "lr"),
        (lambda: igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], 0.1, 0.5, 3, v0=[1.0, 2.0]), "v0"),
        (lambda: igr.heavy_ball(igr.quadratic([[1.0]]), [1.0], [0.1, 0.2], [0.5, 0.6, 0.7], 3), "shape"),
        (lambda: igr.heavy_ball_flow(igr.quadratic([[1.0]]), [1.0], 0.1, 0.5, [0.0, 1.0], order=2), "order"),
        (lambda: igr.heavy_ball_flow(igr.quadratic([[1.0]]), [1.0], [0.1], 0.5, [0.0, 1.0]), "single"),
        (lambda: igr.heavy_ball_penalty_lr(0.1, 1.0), "beta"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
