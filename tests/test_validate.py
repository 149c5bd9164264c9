"""Bad input gets a clear error naming the argument, or the correct answer; never a silent wrong one.

The cases of issue 15, items 1-5: losses written for one point, strings and booleans
for numbers, NaN and empty data, errors from deep inside numpy, runs without end.
"""


import numpy as np
import pytest

import igrlib as igr

Q = igr.quadratic([[2.0, 0.0], [0.0, 1.0]])  # grad (2 t0, t1), H = diag(2, 1)


def one_point(fn):
    """``fn`` as a user writes it for one point: it refuses a stack."""

    def call(theta):
        theta = np.asarray(theta)
        assert theta.ndim == 1, "written for one point"
        return fn(theta)

    return call


# Written for one point but silently wrong on a stack: th[0] is the first row, not the first coordinate.
L1 = igr.Loss(lambda th: th[0] ** 2 + 0.5 * th[1] ** 2, lambda th: np.array([2 * th[0], th[1]]))
V1 = igr.Loss(lambda th: 0.5 * np.sum(th**2), lambda th: th)  # np.sum over the whole stack
Q1 = igr.Loss(None, lambda th: np.sum(th**2) * th)  # L = |th|^4 / 4
LR = np.array([0.1, 0.2])


def test_train_with_a_gradient_that_returns_its_input_is_not_changed_in_place():
    same = igr.Loss(lambda th: 0.5 * np.sum(th**2, axis=-1), lambda th: th)
    np.testing.assert_allclose(igr.train(same, [1.0, 1.0], LR, 2).theta, [[0.81, 0.81], [0.64, 0.64]], rtol=1e-14)


def test_train_with_a_one_point_loss_equals_each_network_alone():
    run = igr.train(L1, [1.0, 1.0], LR, 3)
    for i, h in enumerate(LR):
        expected = [1.0, 1.0]
        for _ in range(3):
            expected = expected - h * np.array([2 * expected[0], expected[1]])
        np.testing.assert_allclose(run.theta[i], expected, rtol=1e-15)
    loss = igr.train(V1, [1.0, 1.0], LR, 1).history["loss"]
    np.testing.assert_allclose(loss, [[1.0, 0.81], [1.0, 0.64]], rtol=1e-14)


def test_train_records_a_one_point_quantity_per_network():
    run = igr.train(Q, [1.0, 1.0], LR, 1, record={"a": lambda t: float(t.sum())})
    np.testing.assert_allclose(run.history["a"][:, 1], [0.8 + 0.9, 0.6 + 0.8], rtol=1e-14)


def test_train_refuses_a_record_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"record\['a'\] must return one number per network"):
        igr.train(Q, [1.0, 1.0], LR, 1, record={"a": lambda t: np.ones((t.shape[0] if t.ndim > 1 else 1, 3))})


def test_sgd_with_a_one_point_gradient_equals_the_stacked_one():
    grad = igr.Loss(None, lambda th: np.sum(th**2, axis=-1, keepdims=True) * th)
    a = igr.sgd([Q1, Q1], [1.0, 1.0], LR, 2, rng=np.random.default_rng(0))
    b = igr.sgd([grad, grad], [1.0, 1.0], LR, 2, rng=np.random.default_rng(0))
    np.testing.assert_allclose(a, b, rtol=1e-14)
    theta = np.array([1.0, 1.0])  # both minibatches equal: plain GD, 4 steps
    for _ in range(4):
        theta = theta - 0.2 * np.sum(theta**2) * theta
    np.testing.assert_allclose(a[1, 0, -1], theta, rtol=1e-14)


def test_sgd_epoch_mean_and_modified_loss_with_one_point_gradients():
    batches = [igr.quadratic([[1.0]], [1.0]), igr.quadratic([[1.0]], [-1.0])]
    alone = [igr.Loss(one_point(L.value), one_point(L.grad)) for L in batches]
    np.testing.assert_allclose(
        igr.sgd_epoch_mean(alone, [0.3], 0.5), igr.sgd_epoch_mean(batches, [0.3], 0.5), rtol=1e-14
    )
    stack = np.array([[0.0], [1.0], [2.0]])
    C, C1 = igr.sgd_modified_loss(batches, 0.4), igr.sgd_modified_loss([L1d(L) for L in batches], 0.4)
    np.testing.assert_allclose(C1.grad(stack), C.grad(stack), rtol=1e-9)
    np.testing.assert_allclose(C.grad(stack)[:, 0], 1.2 * stack[:, 0], rtol=1e-9, atol=1e-12)  # theta + 0.2 theta


def L1d(L):
    """A 1-D minibatch loss whose gradient indexes theta[0]: right for one point, wrong on a stack."""
    return igr.Loss(L.value, lambda th: np.array([L.grad(np.array([th[0]]))[0]]), L.hvp)


BAD = [
    # item 3: strings and booleans are not numbers; NaN and empty data
    (lambda: igr.gd(Q, [1.0, 1.0], "0.1", 3), "lr must be real numbers"),
    (lambda: igr.gd(Q, [1.0, 1.0], True, 3), "lr must be real numbers"),
    (lambda: igr.gd(Q, ["1", "1"], 0.1, 3), "theta0 must be real numbers"),
    (lambda: igr.train(Q, [1.0, 1.0], "0.1", 3), "lr must be real numbers"),
    (lambda: igr.train(Q, [1.0, 1.0], True, 3), "lr must be real numbers"),
    (lambda: igr.train(Q, [1.0, 1.0], 0.1, 3, mu="0"), "mu must be real numbers"),
    (lambda: igr.heavy_ball(Q, [1.0, 1.0], 0.1, "0.5", 3), "beta must be real numbers"),
    (lambda: igr.heavy_ball(Q, [1.0, 1.0], 0.1, True, 3), "beta must be real numbers"),
    (lambda: igr.heavy_ball(Q, [1.0, 1.0], [0.1, 0.2], [0.1, 0.2, 0.3], 3), "do not broadcast"),
    (lambda: igr.sgd_epoch_mean([Q, Q], [1.0, 1.0], "0.1"), "lr must be real numbers"),
    (lambda: igr.sgd_modified_loss([Q], [0.1, 0.2]), "lr must be a single number"),
    (lambda: igr.quadratic([[1.0, 0.0], [0.0, 1.0]], b=[np.nan, 1.0]), "b must be finite"),
    (lambda: igr.quadratic(np.zeros((0, 0))), "A must be a non-empty square matrix"),
    (lambda: igr.quadratic([["1"]]), "A must be real numbers"),
    (lambda: igr.least_squares(np.zeros((0, 2)), np.zeros(0)), r"X must be 2-D \(n >= 1"),
    (lambda: igr.power_iteration(Q, [np.nan, 1.0], rng=np.random.default_rng(0)), "theta must be finite"),
    # item 4: errors that came from deep inside numpy or Python
    (lambda: igr.gd(Q, [1.0, 1.0, 1.0], 0.1, 3), r"loss.grad fails at theta0 of shape \(3,\)"),
    (lambda: igr.gd(lambda t: t, [1.0], 0.1, 3), "loss must be an igrlib Loss"),
    (lambda: igr.train(lambda t: t, [1.0], 0.1, 3), "loss must be an igrlib Loss"),
    (lambda: igr.gradient_flow(lambda t: t, [1.0], [0.0, 1.0]), "loss must be an igrlib Loss"),
    (lambda: igr.gd(Q, [1.0, 1.0], 0.1, 10**12), "gd asks for an output of 2e"),
    (lambda: igr.heavy_ball(Q, [1.0, 1.0], 0.1, 0.5, 10**12), "heavy_ball asks for an output"),
    (lambda: igr.train(Q, [1.0, 1.0], 0.1, 10**12), "train asks for an output"),
    (lambda: igr.sgd([Q], [1.0, 1.0], 0.1, 10**12, rng=np.random.default_rng(0)), "sgd asks for an output"),
    (lambda: igr.flooded(Q, "a"), "flood must be real numbers"),
    (lambda: igr.flooded(Q, [0.1, 0.2]), "flood must be a single finite number"),
    # item 5: no end
    (lambda: igr.bernoulli_coefficients(10**6), "n must be at most 500"),
    (lambda: igr.MLP((2, 2), chunk_elements=0), "chunk_elements must be a positive integer"),
]


@pytest.mark.parametrize("call, match", BAD)
def test_bad_input_gets_a_clear_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_a_flow_without_end_is_refused():
    with pytest.raises(igr.FlowError, match="more than 200000 evaluations"):
        igr.gradient_flow(Q, [1.0, 1.0], [0.0, 1e300])
