"""igrlib.training (train): batched GD equals igr.gd, explicit penalty in closed form, records, the parts."""


import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr


def small_network(kind="cross_entropy", seed=0):
    rng = np.random.default_rng(seed)
    net = igr.MLP((4, 6, 3))
    X, y = rng.normal(size=(25, 4)), rng.integers(0, 3, size=25)
    return net, net.loss(X, y, kind=kind)


def test_plain_gd_matches_igr_gd_for_every_learning_rate_and_seed():
    net, L = small_network()
    theta0 = net.init(np.random.default_rng(1), 3)  # three seeds
    lr = np.array([0.05, 0.2, 0.8])
    run = igr.train(L, theta0, lr[:, None], 40)
    assert run.theta.shape == (3, 3, net.dim) and run.history["loss"].shape == (3, 3, 41)
    for i, h in enumerate(lr):
        for j in range(3):
            path = igr.gd(L, theta0[j], h, 40)
            assert_allclose(run.theta[i, j], path[-1], rtol=1e-12, atol=1e-14)
            assert_allclose(run.history["loss"][i, j], L.value(path), rtol=1e-12)
            assert_allclose(run.history["grad_norm_sq"][i, j], igr.grad_norm_sq(L, path), rtol=1e-10)
    assert np.all(run.steps == 40)


def test_sixteen_learning_rates_in_one_call_equal_sixteen_calls():
    # The benchmark's comparison (benchmarks/bench_mlp.py): the batched run must compute the
    # same networks as the runs one after another, here with a stack split into several chunks.
    rng = np.random.default_rng(7)
    net = igr.MLP((8, 32, 10))
    X, y = rng.normal(size=(200, 8)), rng.integers(0, 10, size=200)
    L = net.loss(X, y)
    assert 16 > net._chunk(200)  # more networks than one chunk holds
    theta0 = net.init(rng)
    lrs = np.geomspace(0.05, 2.0, 16)
    run = igr.train(L, theta0, lrs, 30, every=10)
    for i, h in enumerate(lrs):
        alone = igr.train(L, theta0, h, 30, every=10)
        assert np.linalg.norm(run.theta[i] - alone.theta) <= 1e-12 * np.linalg.norm(alone.theta)
        assert_allclose(run.history["loss"][i], alone.history["loss"], rtol=1e-12)
    assert np.all(run.history["loss"][:, -1] < run.history["loss"][:, 0])  # every network learns


@pytest.mark.parametrize("mu", [0.0, 0.05, 0.3])
def test_explicit_regularisation_on_a_quadratic_is_a_matrix_power(mu, rng):
    # L = theta^T A theta / 2: grad (L + mu |g|^2) = (A + 2 mu A^2) theta.
    S = rng.normal(size=(3, 3))
    A = S @ S.T / 3 + np.eye(3)
    theta0, h, n = rng.normal(size=3), 0.05, 30
    want = np.linalg.matrix_power(np.eye(3) - h * (A + 2 * mu * A @ A), n) @ theta0
    run = igr.train(igr.quadratic(A), theta0, h, n, mu=mu)
    assert_allclose(run.theta, want, rtol=1e-12, atol=1e-14)


def test_explicit_step_is_gd_on_the_penalised_loss(fd):
    # One step of train with mu is one GD step on L + mu |grad L|^2, whose gradient we difference.
    net, L = small_network("squared")
    theta0 = net.init(np.random.default_rng(2))
    h, mu = 0.1, 0.7
    penalised = lambda th: L.value(th) + mu * igr.grad_norm_sq(L, th)  # noqa: E731
    want = theta0 - h * fd(penalised, theta0)
    assert_allclose(igr.train(L, theta0, h, 1, mu=mu).theta, want, rtol=1e-7, atol=1e-9)


def test_each_network_stops_at_its_own_step_and_records_at_common_times():
    net, L = small_network()
    theta0 = net.init(np.random.default_rng(3))
    lr = np.array([0.4, 0.2, 0.1])
    steps, every = np.array([10, 20, 40]), np.array([2, 4, 8])  # T = 4 and a record every 0.8 in time
    run = igr.train(L, theta0, lr, steps, every=every)
    assert_allclose(run.history["time"], np.broadcast_to(0.8 * np.arange(6), (3, 6)), rtol=1e-14)
    for i in range(3):
        path = igr.gd(L, theta0, lr[i], int(steps[i]))
        assert_allclose(run.theta[i], path[-1], rtol=1e-12, atol=1e-14)
        assert_allclose(run.history["loss"][i], L.value(path[:: every[i]]), rtol=1e-12)
    # different record counts: the missing records are NaN
    run = igr.train(L, theta0, lr, 8, every=np.array([4, 2, 1]))
    assert np.isnan(run.history["loss"][0, 3:]).all() and not np.isnan(run.history["loss"][2]).any()


def test_record_functions_and_sharpness():
    net, L = small_network()
    theta0 = net.init(np.random.default_rng(4), 2)
    run = igr.train(L, theta0, 0.3, 12, every=6, record={"norm": lambda th: np.linalg.norm(th, axis=-1)},
                    sharpness_iters=400, rng=np.random.default_rng(0))
    path = [igr.gd(L, t0, 0.3, 12)[::6] for t0 in theta0]
    assert_allclose(run.history["norm"], np.linalg.norm(path, axis=-1), rtol=1e-12)
    exact = [[igr.sharpness(L, th) for th in p] for p in path]
    assert_allclose(run.history["sharpness"], exact, rtol=1e-6)  # 8000 cold, then 400 warm-started iterations


def test_recorded_sharpness_is_the_largest_eigenvalue_as_igr_sharpness():
    # diag(1, -3): power iteration alone finds -3, the eigenvalue of largest modulus; the sharpness is 1.
    L = igr.quadratic(np.diag([1.0, -3.0]))
    run = igr.train(L, [1.0, 1.0], 0.01, 4, every=2, sharpness_iters=30, rng=np.random.default_rng(0))
    assert_allclose(run.history["sharpness"], igr.sharpness(L, [1.0, 1.0]), rtol=1e-12)


def test_divergence_warns_and_leaves_nan_while_others_finish():
    L = igr.quadratic(np.diag([1.0, 4.0]))
    with pytest.warns(igr.DivergenceWarning, match="lr=0.9"):
        run = igr.train(L, [1.0, 1.0], [0.1, 0.9], 800)
    assert np.isnan(run.theta[1]).all() and run.steps[1] < 800
    assert_allclose(run.theta[0], 0.0, atol=1e-30) and run.steps[0] == 800


def test_zero_steps_broadcast_the_start_over_the_batch():
    net, L = small_network()
    theta0 = net.init(np.random.default_rng(6), 2)
    run = igr.train(L, theta0, [[0.1], [0.2]], 0)  # lr (2, 1) against two seeds: batch (2, 2)
    assert_allclose(run.theta, np.broadcast_to(theta0, (2, 2, net.dim)), rtol=0)
    assert run.history["loss"].shape == (2, 2, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=0.0), "lr"),
        (dict(lr=np.nan), "lr"),
        (dict(steps=2.5), "steps"),
        (dict(steps=-1), "steps"),
        (dict(mu=-0.1), "mu"),
        (dict(every=0), "every"),
        (dict(lr=[0.1, 0.2], steps=[1, 2, 3]), "broadcast"),
        (dict(record={"x": 3}), "record"),
        (dict(sharpness_iters=-2), "sharpness_iters"),
        (dict(theta0=[np.inf, 0.0]), "theta0"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, match):
    args = dict(loss=igr.quadratic(np.eye(2)), theta0=[1.0, 0.0], lr=0.1, steps=3) | kwargs
    with pytest.raises(ValueError, match=match):
        igr.train(**args)


def test_the_sharpness_start_comes_from_rng_and_without_it_is_the_old_one_with_a_warning():
    net, L = small_network()
    theta0 = net.init(np.random.default_rng(4), 2)
    with pytest.warns(DeprecationWarning, match="rng=np.random.default_rng"):
        old = igr.train(L, theta0, 0.3, 6, every=3, sharpness_iters=2).history["sharpness"]
    new = igr.train(L, theta0, 0.3, 6, every=3, sharpness_iters=2, rng=np.random.default_rng(0)).history["sharpness"]
    np.testing.assert_array_equal(new, old)


# -- the parts of train, one by one ------------------------------------------------------------

from igrlib.training import History, penalised_step, record_or_stop  # noqa: E402


def test_record_or_stop_marks_every_record_and_every_last_step():
    steps, every = np.array([5, 7, 0]), np.array([2, 3, 1])
    want = np.zeros(8, dtype=bool)
    want[[0, 2, 4, 5]] = True  # network 0 records at 0, 2, 4 and stops at 5
    want[[3, 6, 7]] = True  # network 1 records at 0, 3, 6 and stops at 7; network 2 stops at 0
    np.testing.assert_array_equal(record_or_stop(steps, every), want)


def test_penalised_step_is_the_matrix_step_and_leaves_other_rows_alone(rng):
    # On L = theta^T A theta / 2 the update is theta - h (A + 2 mu A^2) theta, row by row.
    S = rng.normal(size=(3, 3))
    A = S @ S.T / 3 + np.eye(3)
    lr, mu = np.array([0.1, 0.05, 0.2]), np.array([0.0, 0.3, 0.1])
    evaluate, update = penalised_step(igr.quadratic(A), lr, mu)
    active = np.array([0, 2])  # row 1 has stopped
    theta = rng.normal(size=(2, 3))
    g = evaluate(active, theta, 0)
    assert_allclose(g, theta @ A, rtol=1e-14)
    want = [(np.eye(3) - lr[i] * (A + 2 * mu[i] * A @ A)) @ t for i, t in zip(active, theta)]
    assert_allclose(update(active, theta.copy(), g, 0), want, rtol=1e-12)


def test_history_writes_each_network_into_its_own_column():
    L = igr.quadratic([[2.0]])
    lr, every = np.array([0.1, 0.2, 0.3]), np.array([1, 2, 3])
    hist = History(L, lr, every, 3, {"twice": lambda t: 2 * t[:, 0]})
    for n in range(7):  # network i stops after step 2 (i + 1), as the driver would stop it
        active = np.flatnonzero(n <= 2 * np.arange(1, 4))
        theta = np.full((active.size, 1), float(n))
        hist.observe(n, active, theta, 2 * theta)
    cols = hist.columns
    np.testing.assert_array_equal(cols["step"], [[0, 1, 2], [0, 2, 4], [0, 3, 6]])
    assert_allclose(cols["time"], cols["step"] * lr[:, None], rtol=1e-15)
    assert_allclose(cols["loss"], cols["step"] ** 2, rtol=1e-15)  # L = theta^2 at theta = n
    assert_allclose(cols["grad_norm_sq"], 4 * cols["step"] ** 2, rtol=1e-15)
    assert_allclose(cols["twice"], 2 * cols["step"], rtol=1e-15)
