"""igrlib.stochastic (sgd): shuffled SGD, the exact mean over orders, and the modified loss of Smith et al. (2021)."""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr


def tilted(loss, S, c):
    """loss + theta^T S theta / 2 + c^T theta, with exact derivatives (S symmetric)."""

    def value(theta):
        theta = np.asarray(theta, dtype=float)
        return loss.value(theta) + 0.5 * np.einsum("...i,ij,...j->...", theta, S, theta) + theta @ c

    def grad(theta):
        return loss.grad(theta) + np.asarray(theta, dtype=float) @ S + c

    def hvp(theta, v):
        return igr.hvp(loss, theta, v) + np.asarray(v, dtype=float) @ S

    def d3(theta, u, v):
        return igr.d3(loss, theta, u, v)

    return igr.Loss(value, grad, hvp, d3)


def minibatches(case, m, rng, scale=1.0):
    """m minibatch losses whose mean is the model: the model tilted by S_k, c_k summing to zero."""
    d = case.d
    S = scale * rng.normal(size=(m, d, d))
    S = (S + np.swapaxes(S, 1, 2)) / 2
    S -= S.mean(axis=0)
    c = scale * rng.normal(size=(m, d))
    c -= c.mean(axis=0)
    return [tilted(case.exact, S[k], c[k]) for k in range(m)]


def test_one_minibatch_is_gradient_descent(model, rng):
    theta0 = model.points(rng) * 0.3
    path = igr.sgd([model.loss], theta0, [0.01, 0.02], 5, rng=rng, runs=2)
    want = igr.gd(model.loss, theta0, [0.01, 0.02], 5)
    assert path.shape == (2, 2, 6, model.d)
    assert_allclose(path, np.broadcast_to(want[:, None], path.shape), rtol=1e-13, atol=1e-14)


def test_every_epoch_visits_each_minibatch_once(rng):
    # Linear minibatch losses have constant gradients -b_k: each step adds h b_k.
    b = rng.normal(size=(5, 3))
    losses = [igr.quadratic(np.zeros((3, 3)), bk) for bk in b]
    h = 0.1
    path = igr.sgd(losses, np.zeros(3), h, 4, rng=rng, runs=6)
    steps = np.diff(path, axis=1) / h  # (runs, 20, 3)
    for run in steps:
        for epoch in run.reshape(4, 5, 3):
            assert_allclose(epoch[np.lexsort(epoch.T)], b[np.lexsort(b.T)], rtol=1e-12)


def test_orders_are_uniform(rng):
    m, runs = 4, 4000
    b = np.eye(m)
    losses = [igr.quadratic(np.zeros((m, m)), bk) for bk in b]
    first = np.argmax(igr.sgd(losses, np.zeros(m), 1.0, 1, rng=rng, runs=runs)[:, 1], axis=-1)
    counts = np.bincount(first, minlength=m)
    sd = np.sqrt(runs * (1 / m) * (1 - 1 / m))
    assert np.all(np.abs(counts - runs / m) < 5 * sd), counts


def test_epoch_mean_is_the_average_over_all_orders(model, rng):
    losses = minibatches(model, 3, rng)
    theta0, h = model.points(rng) * 0.3, 0.02
    ends = []
    for order in itertools.permutations(range(3)):
        theta = theta0.copy()
        for k in order:
            theta = theta - h * losses[k].grad(theta)
        ends.append(theta)
    assert_allclose(igr.sgd_epoch_mean(losses, theta0, h), np.mean(ends, axis=0), rtol=1e-13, atol=1e-14)


def test_monte_carlo_mean_agrees_with_the_exact_mean(rng):
    X = rng.normal(size=(12, 2))
    y = rng.normal(size=12)
    losses = [igr.least_squares(X[k::4], y[k::4]) for k in range(4)]
    theta0, h = np.array([1.0, -1.0]), 0.2
    ends = igr.sgd(losses, theta0, h, 1, rng=rng, runs=20000)[:, -1]
    se = ends.std(axis=0) / np.sqrt(ends.shape[0])
    assert np.all(np.abs(ends.mean(axis=0) - igr.sgd_epoch_mean(losses, theta0, h)) < 4 * se)


def test_epoch_mean_second_order_expansion(model, rng):
    # E theta_m = theta0 - m h g + h^2/2 (m^2 H g - sum_k H_k g_k) + O(h^3)
    m = 3
    losses = minibatches(model, m, rng)
    theta0 = model.points(rng) * 0.3
    g = model.exact.grad(theta0)
    Hg = igr.hvp(model.exact, theta0, g)
    HkGk = sum(igr.hvp(L, theta0, L.grad(theta0)) for L in losses)
    hs = np.array([4e-3, 2e-3, 1e-3])
    errs = [
        np.linalg.norm(igr.sgd_epoch_mean(losses, theta0, h) - (theta0 - m * h * g + h**2 / 2 * (m**2 * Hg - HkGk)))
        for h in hs
    ]
    slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
    assert np.all(slopes > 2.8), slopes


def test_modified_loss_local_error_order(model, rng):
    # The flow of C_SGD over time m h misses the mean epoch end by O(h^3).
    m = 3
    losses = minibatches(model, m, rng)
    theta0 = model.points(rng) * 0.3
    hs = np.array([4e-3, 2e-3, 1e-3])
    errs = []
    for h in hs:
        mean = igr.sgd_epoch_mean(losses, theta0, h)
        errs.append(np.linalg.norm(igr.gradient_flow(igr.sgd_modified_loss(losses, h), theta0, [0, m * h])[-1] - mean))
    slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
    assert np.all(slopes > 2.7), slopes  # 3 asymptotically (2.79, 2.89 on Rosenbrock)


def test_gradient_descents_modified_loss_misses_the_minibatch_term(rng):
    # GD's modified flow misses the mean epoch end by (h^2/2) sum_k (H_k - H)(g_k - g) + O(h^3).
    m = 4
    X, y = rng.normal(size=(16, 3)), rng.normal(size=16)
    losses = [igr.least_squares(X[k::m], y[k::m]) for k in range(m)]
    full = igr.least_squares(X, y)
    theta0 = rng.normal(size=3)
    g, Hg = full.grad(theta0), full.hvp(theta0, full.grad(theta0))
    term = sum(L.hvp(theta0, L.grad(theta0)) for L in losses) / 2 - m * Hg / 2
    for h in (0.01, 0.005):
        mean = igr.sgd_epoch_mean(losses, theta0, h)
        miss = igr.modified_flow(full, theta0, h, [0, m * h])[-1] - mean
        assert_allclose(miss / h**2, term, rtol=0.05 * h / 0.01)
    assert np.linalg.norm(term) > 0.1 * np.linalg.norm(g)


def test_modified_loss_derivatives(model, rng, fd):
    losses = minibatches(model, 2, rng)
    C = igr.sgd_modified_loss(losses, 0.05)
    theta, v = model.points(rng) * 0.5, rng.normal(size=model.d)
    assert_allclose(C.grad(theta), fd(C.value, theta), rtol=1e-7, atol=1e-7)
    assert_allclose(C.hvp(theta, v), fd(C.grad, theta) @ v, rtol=1e-6, atol=1e-6)
    pen = sum(np.sum(L.grad(theta) ** 2) for L in losses) * 0.05 / 8
    assert_allclose(C.value(theta), sum(L.value(theta) for L in losses) / 2 + pen, rtol=1e-13)


def test_modified_loss_with_one_minibatch_is_gradient_descents(model, rng):
    theta = model.points(rng)
    C, Lt = igr.sgd_modified_loss([model.exact], 0.1), igr.modified_loss(model.exact, 0.1)
    assert_allclose(C.value(theta), Lt.value(theta), rtol=1e-13)
    assert_allclose(C.grad(theta), Lt.grad(theta), rtol=1e-12, atol=1e-12)


def test_stacks_and_divergence(rng):
    losses = [igr.quadratic([[1.0]], [1.0]), igr.quadratic([[1.0]], [-1.0])]
    path = igr.sgd(losses, [0.5], np.array([[0.1, 0.2, 0.3]]), 2, rng=rng, runs=5)
    assert path.shape == (1, 3, 5, 5, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bad = igr.sgd(losses, [0.5], [0.1, 50.0], 200, rng=rng, runs=2)
    assert any(issubclass(w.category, igr.DivergenceWarning) for w in caught)
    assert np.all(np.isfinite(bad[0])) and np.all(np.isnan(bad[1, :, -1]))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r: igr.sgd([], [0.0], 0.1, 1, rng=r), "losses"),
        (lambda r: igr.sgd([lambda t: t], [0.0], 0.1, 1, rng=r), "losses"),
        (lambda r: igr.sgd([igr.quadratic([[1.0]])], [0.0], -0.1, 1, rng=r), "lr"),
        (lambda r: igr.sgd([igr.quadratic([[1.0]])], [0.0], 0.1, 1.5, rng=r), "epochs"),
        (lambda r: igr.sgd([igr.quadratic([[1.0]])], [0.0], 0.1, 1, rng=r, runs=0), "runs"),
        (lambda r: igr.sgd([igr.quadratic([[1.0]])], [0.0], 0.1, 1, rng=0), "rng"),
        (lambda r: igr.sgd_epoch_mean([igr.quadratic([[1.0]])] * 9, [0.0], 0.1), "at most 8"),
        (lambda r: igr.sgd_epoch_mean([igr.quadratic([[1.0]])], [0.0], [0.1, 0.2]), "lr"),
        (lambda r: igr.sgd_modified_loss([igr.quadratic([[1.0]])], -1.0), "lr"),
    ],
)
def test_bad_input(call, match, rng):
    with pytest.raises(ValueError, match=match):
        call(rng)
