"""Diagonal linear networks: closed forms, finite differences, the exact balance identity."""

import warnings

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

import igrlib as igr
from igrlib.diagonal import train_diagonal


def problem(seed=0, n=6, d=10, s=2):
    return igr.sparse_problem(np.random.default_rng(seed), n, d, s)


def test_gradient_and_hvp_match_finite_differences():
    X, y, _ = problem()
    L = igr.diagonal_network(X, y)
    rng = np.random.default_rng(1)
    theta, direction = rng.standard_normal(20), rng.standard_normal(20)
    eps = 1e-6
    fd = np.array([(L.value(theta + eps * e) - L.value(theta - eps * e)) / (2 * eps) for e in np.eye(20)])
    np.testing.assert_allclose(L.grad(theta), fd, rtol=1e-6, atol=1e-8)
    fd_hvp = (L.grad(theta + eps * direction) - L.grad(theta - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(L.hvp(theta, direction), fd_hvp, rtol=1e-6, atol=1e-7)


def test_loss_is_least_squares_in_beta_and_maps_stacks():
    X, y, _ = problem()
    L, Lbeta = igr.diagonal_network(X, y), igr.least_squares(X, y)
    thetas = np.random.default_rng(2).standard_normal((3, 20))
    np.testing.assert_allclose(L.value(thetas), Lbeta.value(igr.product(thetas)), rtol=1e-12)
    np.testing.assert_allclose(L.grad(thetas)[1], L.grad(thetas[1]), rtol=1e-12)


def test_one_step_multiplies_balance_by_one_minus_h2_g2():
    X, y, _ = problem()
    theta0 = np.random.default_rng(3).standard_normal(20)
    g = igr.least_squares(X, y).grad(igr.product(theta0))
    lr = np.array([0.01, 0.1, 0.3])
    end = train_diagonal(X, y, theta0, lr, 1).theta[0]
    np.testing.assert_allclose(igr.balance(end), (1 - lr[:, None] ** 2 * g**2) * igr.balance(theta0), rtol=1e-12)
    # the same step as plain gradient descent on the loss
    np.testing.assert_allclose(end, igr.gd(igr.diagonal_network(X, y), theta0, lr, 1)[:, -1], rtol=1e-12)


def test_sgd_step_uses_the_minibatch_gradient():
    X, y, _ = problem(n=6)
    theta0 = np.random.default_rng(4).standard_normal(20)
    end = train_diagonal(X, y, theta0, 0.1, 1, batch=1, rng=np.random.default_rng(5)).theta[0, 0]
    ratios = igr.balance(end) / igr.balance(theta0)  # = 1 - h^2 g_B^2 for the one example used
    grads = [igr.least_squares(X[[i]], y[[i]]).grad(igr.product(theta0)) for i in range(6)]
    assert any(np.allclose(ratios, 1 - 0.01 * gi**2, rtol=1e-12) for gi in grads)


def test_flow_limit_is_the_entropy_interpolator():
    # a small step approximates the flow, whose balance is conserved: it ends at argmin psi_alpha
    X, y, _ = problem(seed=6)
    alpha = 0.3
    lr = np.array([0.04, 0.02, 0.01])
    run = train_diagonal(X, y, igr.diagonal_start(alpha, 10), lr, (800 / lr).astype(int))
    beta = igr.product(run.theta[0])
    assert np.all(igr.least_squares(X, y).value(beta) < 1e-20)
    errs = np.linalg.norm(beta - igr.entropy_interpolator(X, y, alpha), axis=1)
    np.testing.assert_allclose(np.diff(np.log2(errs)), -1.0, atol=0.02)  # distance O(h): slope 1


def test_trained_network_matches_interpolator_at_its_effective_alpha():
    X, y, _ = problem(seed=7)
    run = train_diagonal(X, y, igr.diagonal_start(0.05, 10), 0.15, 20000)
    theta = run.theta[0, 0]
    pred = igr.entropy_interpolator(X, y, igr.effective_alpha(theta))
    at_start = igr.entropy_interpolator(X, y, 0.05)
    assert np.linalg.norm(igr.product(theta) - pred) < 0.1 * np.linalg.norm(igr.product(theta) - at_start)


def test_entropy_interpolator_against_scipy_constrained_minimum():
    X, y, _ = problem(seed=8, n=3, d=5)
    alpha = np.array([0.2, 0.5, 1.0, 0.3, 0.7])
    beta = igr.entropy_interpolator(X, y, alpha)
    np.testing.assert_allclose(X @ beta, y, atol=1e-10)
    res = minimize(
        lambda b: igr.hyperbolic_entropy(b, alpha),
        np.linalg.lstsq(X, y, rcond=None)[0],
        jac=lambda b: np.arcsinh(b / alpha**2),
        constraints={"type": "eq", "fun": lambda b: X @ b - y},
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 500},
    )
    np.testing.assert_allclose(beta, res.x, atol=1e-5)


def test_entropy_limits_l1_and_l2():
    X, y, _ = problem(seed=9, n=4, d=8)
    l2 = np.linalg.pinv(X) @ y
    np.testing.assert_allclose(igr.entropy_interpolator(X, y, 30.0), l2, atol=1e-4)
    small = igr.entropy_interpolator(X, y, 1e-8)
    # the minimum-l1 interpolator by linear programming
    lp = linprog(np.ones(16), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None))
    l1 = lp.x[:8] - lp.x[8:]
    assert np.abs(l1).sum() <= np.abs(small).sum() <= np.abs(l1).sum() * 1.01


def test_hyperbolic_entropy_gradient_is_arsinh():
    alpha = np.array([0.1, 1.0, 3.0])
    beta = np.array([0.4, -2.0, 5.0])
    eps = 1e-6
    fd = [
        (igr.hyperbolic_entropy(beta + eps * e, alpha) - igr.hyperbolic_entropy(beta - eps * e, alpha)) / (2 * eps)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(fd, np.arcsinh(beta / alpha**2), rtol=1e-6)


def test_vectorised_over_problems_equals_one_at_a_time():
    X, y, _ = igr.sparse_problem(np.random.default_rng(10), 4, 6, 2, problems=3)
    theta0 = igr.diagonal_start(0.1, 6)
    together = train_diagonal(X, y, theta0, [0.05, 0.1], 50).theta
    for i in range(3):
        np.testing.assert_allclose(
            together[i], train_diagonal(X[i], y[i], theta0, [0.05, 0.1], 50).theta[0], rtol=1e-12
        )


def test_label_noise_fresh_and_sgd_reproducible():
    X, y, _ = problem()
    theta0 = igr.diagonal_start(0.1, 10)
    a = train_diagonal(X, y, theta0, 0.01, 30, batch=2, label_noise=0.5, rng=np.random.default_rng(0)).theta
    b = train_diagonal(X, y, theta0, 0.01, 30, batch=2, label_noise=0.5, rng=np.random.default_rng(0)).theta
    c = train_diagonal(X, y, theta0, 0.01, 30, batch=2, label_noise=0.0, rng=np.random.default_rng(0)).theta
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_divergence_is_nan_with_one_warning():
    X, y, _ = problem()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train_diagonal(X, y, igr.diagonal_start(1.0, 10), [0.01, 50.0], 200)
    assert np.all(np.isfinite(run.theta[0, 0])) and np.all(np.isnan(run.theta[0, 1]))
    assert run.steps[0, 0] == 200 and run.steps[0, 1] < 200
    assert sum(issubclass(w.category, igr.DivergenceWarning) for w in caught) == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr=-0.1), "lr"),
        (dict(steps=-1), "steps"),
        (dict(batch=4), "batch"),
        (dict(batch=2), "rng"),
        (dict(label_noise=-1.0), "label_noise"),
        (dict(theta0=np.zeros(7)), "theta0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    X, y, _ = problem(n=6)
    args = dict(theta0=igr.diagonal_start(0.1, 10), lr=0.1, steps=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_diagonal(X, y, args.pop("theta0"), args.pop("lr"), args.pop("steps"), **args)


def test_bad_alpha_and_shapes_are_named():
    with pytest.raises(ValueError, match="alpha"):
        igr.diagonal_start(-1.0, 3)
    with pytest.raises(ValueError, match="alpha"):
        igr.entropy_interpolator([[1.0, 1.0]], [1.0], [0.1, 0.0])
    with pytest.raises(ValueError, match="theta"):
        igr.balance([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="y"):
        igr.diagonal_network([[1.0, 2.0]], [1.0, 2.0])


# ---- the sweep of chapter 9 (igrlib.diagonal_study) ----------------------------------------


def test_sweep_grid_ids_and_reproduced_rows():
    from igrlib import diagonal_study as ds
    from igrlib import study

    grid = ds.grid()
    assert [s["run_id"] for s in grid] == list(range(len(grid)))
    stored = {r["run_id"]: r for r in study.read(ds.NAME)}
    cheap = [s["run_id"] for s in grid if s["method"] == "gd" and s["lr"] == 1.0][:2]
    cheap += [next(s["run_id"] for s in grid if s["method"] == "sgd" and s["batch"] == 5 and s["lr"] == 0.3)]
    for i in cheap:
        new = ds.rerun(i)
        for key in ("train_loss", "test_error", "shrink_support", "shrink_off", "pred_error"):
            assert np.isclose(new[key], stored[i][key], rtol=1e-6, atol=1e-12), (i, key)
    with pytest.raises(ValueError, match="run_id"):
        ds.rerun(len(grid))


def test_sweep_row_measures_what_it_says():
    from igrlib import diagonal_study as ds

    row = ds.run(dict(study=ds.NAME, run_id=0, method="gd", batch=ds.N, problem=3, lr=0.5))
    X, y, beta_star = ds.problem(3)
    theta = train_diagonal(X, y, igr.diagonal_start(ds.ALPHA, ds.D), 0.5, 1200).theta[0, 0]
    assert row["steps"] == 1200 and not row["diverged"]
    assert np.isclose(row["test_error"], 0.5 * np.sum((igr.product(theta) - beta_star) ** 2), rtol=1e-12)
    shrink = np.log(ds.ALPHA**2 / igr.effective_alpha(theta) ** 2)
    assert np.isclose(row["shrink_support"], shrink[: ds.S].mean(), rtol=1e-12)
