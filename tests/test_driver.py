"""The one iteration driver (igrlib/_driver.py): every batched method crossed with several problems.

Each method (gd, heavy_ball, sgd, sam, train) is a step handed to the same driver, so they
share one contract, asserted here for every pair (method, problem): the output has one row per
learning rate, zero steps return the start, inputs are not changed, a row that blows up is NaN
from its step on with exactly one DivergenceWarning naming its lr and that step, and a loss
written for one point gives the numbers of the same loss evaluated on a stack.
"""

import warnings

import numpy as np
import pytest

import igrlib as igr
from igrlib._driver import BLOWUP, iterate


def _train_path(L, theta0, lr, n):
    # the path of train, read back through its records: one record per coordinate
    record = {f"c{i}": (lambda t, i=i: t[:, i]) for i in range(len(theta0))}
    hist = igr.train(L, theta0, lr, n, record=record).history
    return np.stack([hist[f"c{i}"] for i in range(len(theta0))], axis=-1)


# method(loss, theta0, lr, steps) -> every iterate, shape (len(lr), steps + 1, d)
METHODS = {
    "gd": lambda L, th, lr, n: igr.gd(L, th, lr, n),
    "heavy_ball": lambda L, th, lr, n: igr.heavy_ball(L, th, lr, 0.3, n),
    "sgd": lambda L, th, lr, n: igr.sgd([L, L], th, lr, n // 2, rng=np.random.default_rng(0))[:, 0],
    "sam": lambda L, th, lr, n: igr.sam(L, th, lr, 0.01, n),
    "train": _train_path,
}

_net = igr.MLP((3, 4, 2))
_rng = np.random.default_rng(0)
_X, _y = _rng.normal(size=(6, 3)), _rng.integers(0, 2, size=6)
# name: (loss, theta0, a stable lr, an lr that blows up or None)
PROBLEMS = {
    "quadratic": (igr.quadratic([[1.0, 0.5], [0.5, 4.0]], [1.0, -1.0]), np.array([1.0, 2.0]), 0.1, 1.0),
    "rosenbrock": (igr.rosenbrock(), np.array([-1.0, 1.0]), 1e-3, 0.1),
    "least_squares": (
        igr.least_squares([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]], [1.0, 0.0, 2.0]),
        np.array([0.5, 0.5]),
        0.05,
        1.0,
    ),
    "network": (_net.loss(_X, _y), _net.init(np.random.default_rng(1)), 0.5, None),
}
CASES = [(m, p) for m in METHODS for p in PROBLEMS]
STEPS = 12


def one_point(fn):
    """``fn`` as a user writes it for one point: it refuses a stack."""

    def call(theta, *more):
        assert np.ndim(theta) == 1, "written for one point"
        return fn(theta, *more)

    return call


@pytest.mark.parametrize("method, problem", CASES)
def test_one_row_per_lr_inputs_unchanged_and_zero_steps_return_the_start(method, problem):
    L, theta0, lr, _ = PROBLEMS[problem]
    lrs = np.array([lr, lr / 2, lr / 4])
    before = theta0.copy(), lrs.copy()
    out = METHODS[method](L, theta0, lrs, STEPS)
    assert out.shape == (3, STEPS + 1, theta0.size) and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 0], np.tile(theta0, (3, 1)))
    np.testing.assert_array_equal(theta0, before[0])
    np.testing.assert_array_equal(lrs, before[1])
    assert not np.shares_memory(out, theta0)
    assert np.all(np.linalg.norm(out[:, -1] - theta0, axis=-1) > 0)  # every row moved
    zero = METHODS[method](L, theta0, lrs, 0)
    np.testing.assert_array_equal(zero, np.tile(theta0, (3, 1, 1)))


@pytest.mark.parametrize("method, problem", CASES)
def test_a_one_point_loss_gives_the_numbers_of_the_stacked_loss(method, problem):
    L, theta0, lr, _ = PROBLEMS[problem]
    alone = igr.Loss(one_point(L.value), one_point(L.grad), one_point(L.hvp) if L.hvp else None)
    lrs = np.array([lr, lr / 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(
            METHODS[method](alone, theta0, lrs, STEPS), METHODS[method](L, theta0, lrs, STEPS), rtol=1e-12, atol=1e-15
        )


@pytest.mark.parametrize("method, problem", [(m, p) for m, p in CASES if PROBLEMS[p][3] is not None])
def test_a_blown_up_row_is_nan_from_its_step_with_one_warning_naming_lr_and_step(method, problem):
    L, theta0, lr, bad = PROBLEMS[problem]
    lrs = np.array([lr, bad])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = METHODS[method](L, theta0, lrs, 400)
    assert len(caught) == 1 and issubclass(caught[0].category, igr.DivergenceWarning)
    finite = np.all(np.isfinite(out[1]), axis=-1)
    step = int(np.argmin(finite))  # the first NaN iterate: the blow-up
    assert step > 0 and np.all(finite[:step]) and not np.any(finite[step:])
    assert np.all(np.abs(out[1, :step]) < BLOWUP)
    message = str(caught[0].message)
    assert f"lr={bad:.6g}" in message and f"(step {step})" in message
    assert f"lr={lr:.6g}" not in message and np.all(np.isfinite(out[0]))


def test_the_driver_stops_each_row_after_its_own_steps_and_observes_where_asked():
    seen = []

    def evaluate(active, theta, n):
        return np.ones_like(theta)

    def update(active, theta, g, n):
        return theta + g * (active[:, None] + 1)  # row i moves by i + 1 per step

    def observe(n, active, theta, g):
        seen.append((n, active.tolist()))

    at = np.array([True, False, True, True])
    run = iterate(
        np.zeros((3, 1)),
        np.array([1, 3, 2]),
        evaluate,
        update,
        who="t",
        label=str,
        path=True,
        observe=observe,
        observe_at=at,
    )
    np.testing.assert_array_equal(run.theta[:, 0], [1.0, 6.0, 6.0])
    np.testing.assert_array_equal(run.steps, [1, 3, 2])
    assert seen == [(0, [0, 1, 2]), (2, [1, 2]), (3, [1])]
    np.testing.assert_array_equal(run.path[2, :, 0], [0.0, 3.0, 6.0, np.nan])
