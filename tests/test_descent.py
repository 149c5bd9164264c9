"""igrlib.descent (gd): closed forms on quadratics, learning-rate sweeps, divergence, bad input."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr
from igrlib.descent import BLOWUP


def gd_closed_form(A, b, theta0, h, steps):
    """theta_n = theta* + (I - hA)^n (theta0 - theta*), theta* = A^-1 b."""
    star = np.linalg.solve(A, b)
    step = np.eye(len(theta0)) - h * A
    return np.array([star + np.linalg.matrix_power(step, n) @ (theta0 - star) for n in range(steps + 1)])


@pytest.mark.parametrize("with_b", [False, True])
def test_quadratic_matches_matrix_power(rng, with_b):
    S = rng.normal(size=(4, 4))
    A = S + S.T  # symmetric and indefinite: some directions grow
    b = rng.normal(size=4) if with_b else np.zeros(4)
    theta0 = rng.normal(size=4)
    lr = np.array([0.01, 0.05, 0.1, 0.2])
    path = igr.gd(igr.quadratic(A, b), theta0, lr, 30)
    for h, got in zip(lr, path):
        assert_allclose(got, gd_closed_form(A, b, theta0, h, 30), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("lr_shape", [(), (3,), (2, 3)])
def test_output_shape(model, rng, lr_shape):
    theta0 = model.points(rng)
    lr = rng.uniform(0.001, 0.01, size=lr_shape)
    path = igr.gd(model.loss, theta0, lr, 7)
    assert path.shape == (*lr_shape, 8, model.d)
    flat = igr.gd(model.loss, theta0, lr.ravel(), 7)  # the same runs, one row per learning rate
    assert_allclose(path.reshape(flat.shape), flat, rtol=1e-14, atol=1e-15)
    for i, h in enumerate(lr.ravel()):  # each row is plain gradient descent
        assert_allclose(flat[i, 1:], flat[i, :-1] - h * model.loss.grad(flat[i, :-1]), rtol=1e-13, atol=1e-14)
    assert_allclose(path[..., 0, :], np.broadcast_to(theta0, (*lr_shape, model.d)), rtol=0, atol=0)


def _quartic_step_loss():
    # grad = theta^5 overflows to inf inside the loss before the iterate passes BLOWUP.
    return igr.Loss(lambda th: np.sum(np.asarray(th) ** 6, axis=-1) / 6, lambda th: np.asarray(th, dtype=float) ** 5)


@pytest.mark.parametrize(
    "loss, theta0, good, bad, steps",
    [
        (igr.quadratic(np.diag([1.0, 4.0])), [1.0, 1.0], [0.1, 0.3], [0.6, 0.9], 800),  # |1 - 4h| = 1.4, 2.6
        (igr.two_param(), [2.8, 3.5], [0.01, 0.05], [1.0], 100),
        (_quartic_step_loss(), [1.0], [0.1, 0.5], [3.0], 20),
    ],
)
def test_divergence_is_nan_from_the_blowup_and_warned_once(loss, theta0, good, bad, steps):
    lr = np.array([good[0], *bad, *good[1:]])  # diverging rates in the middle of the sweep
    is_bad = np.isin(lr, bad)
    with pytest.warns(igr.DivergenceWarning) as record:
        path = igr.gd(loss, theta0, lr, steps)
    assert len(record) == 1, [str(w.message) for w in record]  # no other warning, RuntimeWarning included
    message = str(record[0].message)

    for h, traj in zip(lr[is_bad], path[is_bad]):
        nan_rows = np.isnan(traj).any(axis=1)
        blowup = int(np.argmax(nan_rows))
        assert blowup > 0 and np.all(nan_rows[blowup:]) and np.all(np.isnan(traj[blowup:]))
        assert np.all(np.abs(traj[:blowup]) < BLOWUP)
        assert f"lr={h:g} (step {blowup})" in message
    for h in lr[~is_bad]:
        assert f"lr={h:g} " not in message

    alone = igr.gd(loss, theta0, lr[~is_bad], steps)  # no warning: only good rates
    assert np.all(np.isfinite(alone))
    assert_allclose(path[~is_bad], alone, rtol=1e-14, atol=0)


def test_divergence_step_matches_the_closed_form():
    # On L = 2 theta^2, |theta_n| = |1 - 4h|^n: the first n with |theta_n| >= BLOWUP.
    lr = np.array([0.6, 0.9])
    with pytest.warns(igr.DivergenceWarning, match=r"lr=0.6 \(step 685\), lr=0.9 \(step 241\)"):
        path = igr.gd(igr.quadratic([[4.0]]), [1.0], lr, 700)
    for h, traj in zip(lr, path[..., 0]):
        n_star = int(np.ceil(np.log(BLOWUP) / np.log(abs(1 - 4 * h))))
        assert np.all(np.isfinite(traj[:n_star])) and np.all(np.isnan(traj[n_star:]))
        assert_allclose(traj[:n_star], (1 - 4 * h) ** np.arange(n_star), rtol=1e-12)


def test_divergence_raises_no_floating_point_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning or overflow would raise here
        warnings.simplefilter("ignore", igr.DivergenceWarning)
        with np.errstate(all="raise"):  # FloatingPointError unless gd guards its arithmetic itself
            path = igr.gd(_quartic_step_loss(), [1.0], [0.1, 3.0], 20)
    assert np.all(np.isfinite(path[0])) and np.isnan(path[1, -1, 0])


def _single_point_losses(x=1.5, y=-0.7):
    """The two-parameter model written for one point only, in two ways that break on stacks."""

    def value(theta):
        return 0.5 * (y - theta[0] * theta[1] * x) ** 2

    def grad_by_index(theta):  # on a stack theta[0] is a row: the wrong numbers, no error
        r = y - theta[0] * theta[1] * x
        return np.array([-r * theta[1] * x, -r * theta[0] * x])

    def grad_by_float(theta):  # on a stack float() raises
        a, b = float(theta[0]), float(theta[1])
        r = y - a * b * x
        return np.array([-r * b * x, -r * a * x])

    return [igr.Loss(value, grad_by_index), igr.Loss(value, grad_by_float)]


@pytest.mark.parametrize("loss", _single_point_losses())
def test_single_point_loss_gives_the_same_sweep(loss):
    lr = np.array([0.01, 0.1, 0.3])
    expected = igr.gd(igr.two_param(1.5, -0.7), [1.2, -0.4], lr, 40)
    assert_allclose(igr.gd(loss, [1.2, -0.4], lr, 40), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "lr", [np.nan, np.inf, -np.inf, 0.0, -0.1, [0.1, np.nan], [0.1, 0.0], [[0.1, -1.0]], "fast", 1j, None]
)
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="lr must be"):
        igr.gd(igr.himmelblau(), [1.0, 1.0], lr, 3)


@pytest.mark.parametrize("steps", [-1, 2.5, 3.0, True, False, "3", None])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        igr.gd(igr.himmelblau(), [1.0, 1.0], 0.01, steps)


@pytest.mark.parametrize(
    "theta0", [1.0, [], [[1.0, 1.0]], [np.nan, 1.0], [1.0, np.inf], [1.0, "a"], [[1.0], [1.0, 2.0]], None]
)
def test_bad_theta0(theta0):
    with pytest.raises(ValueError, match="theta0 must be"):
        igr.gd(igr.quadratic(np.eye(2)), theta0, 0.01, 3)


@pytest.mark.parametrize("wrong", [lambda th: th[..., :1], lambda th: np.append(th, 0.0), lambda th: float(th @ th)])
def test_grad_of_the_wrong_shape(wrong):
    with pytest.raises(ValueError, match=r"loss.grad returned shape"):
        igr.gd(igr.Loss(lambda th: 0.0, wrong), [1.0, 2.0], 0.1, 3)
