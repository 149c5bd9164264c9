"""igrlib.mlp: backpropagation and the R-operator against finite differences, stacks, data, bad input."""

from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import igrlib as igr

SIZES = [(5, 4, 3), (5, 4, 3, 3), (2, 2)]  # one hidden layer, two, none (a linear softmax model)
KINDS = ["cross_entropy", "squared"]


def data(sizes, n=7, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], size=n)


def reference_value(sizes, theta, X, y, kind):
    """The loss written out for one network with plain loops, independent of the module's code."""
    a, start = X, 0
    pairs = list(zip(sizes[:-1], sizes[1:]))
    for l, (m, n) in enumerate(pairs):
        W = theta[start : start + m * n].reshape(m, n)
        b = theta[start + m * n : start + m * n + n]
        start += m * n + n
        a = a @ W + b if l == len(pairs) - 1 else np.tanh(a @ W + b)
    if kind == "squared":
        return 0.5 * np.sum((a - np.eye(sizes[-1])[y]) ** 2) / len(y)
    return np.mean([np.log(np.sum(np.exp(row))) - row[c] for row, c in zip(a, y)])


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_value_matches_a_plain_loop(sizes, kind, rng):
    net = igr.MLP(sizes)
    X, y = data(sizes)
    theta = net.init(rng, 3, scale=1.5)
    L = net.loss(X, y, kind=kind)
    want = [reference_value(net.sizes, th, X, y, kind) for th in theta]
    assert_allclose(L.value(theta), want, rtol=1e-13)
    assert_allclose(L.value(theta[1]), want[1], rtol=1e-13)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_and_hvp_match_finite_differences(sizes, kind, rng, fd):
    net = igr.MLP(sizes)
    X, y = data(sizes)
    L = net.loss(X, y, kind=kind)
    theta = net.init(rng, scale=1.5) + 0.1 * rng.normal(size=net.dim)  # nonzero biases too
    v = rng.normal(size=net.dim)
    assert_allclose(L.grad(theta), fd(L.value, theta), rtol=1e-7, atol=1e-9)
    assert_allclose(L.hvp(theta, v), fd(L.grad, theta) @ v, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_hessian_is_symmetric_and_sharpness_agrees_with_power_iteration(kind, rng):
    net = igr.MLP((4, 5, 3))
    X, y = data(net.sizes, n=20)
    L = net.loss(X, y, kind=kind)
    theta = net.init(rng)
    H = np.array([L.hvp(theta, e) for e in np.eye(net.dim)])
    assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)  # the R-operator gives an exactly symmetric product
    top = np.linalg.eigvalsh(H)[-1]
    assert igr.sharpness(L, theta) == pytest.approx(top, rel=1e-10)


def test_stacks_compute_each_network_independently(rng):
    net = igr.MLP((5, 4, 3))
    X, y = data(net.sizes)
    L = net.loss(X, y)
    theta = net.init(rng, 6).reshape(2, 3, net.dim)
    v = rng.normal(size=theta.shape)
    assert L.value(theta).shape == (2, 3)
    assert L.grad(theta).shape == theta.shape
    assert net.forward(theta, X).shape == (2, 3, 7, 3)
    for i in range(2):
        for j in range(3):
            assert_allclose(L.grad(theta)[i, j], L.grad(theta[i, j]), rtol=1e-13, atol=1e-15)
            assert_allclose(L.hvp(theta, v)[i, j], L.hvp(theta[i, j], v[i, j]), rtol=1e-13, atol=1e-15)
    # one point, many directions: broadcasting
    assert_allclose(L.hvp(theta[0, 0], v[0]), [L.hvp(theta[0, 0], w) for w in v[0]], rtol=1e-13, atol=1e-15)


def test_a_stack_split_into_chunks_equals_each_network_alone(rng):
    # The chapter's use: many networks in one call, which the default chunk size splits into
    # several chunks. Every row of the batched result must be the one-network result, to rounding.
    net = igr.MLP((16, 32, 10))
    X, y = data(net.sizes, n=200)
    L = net.loss(X, y)
    k = 20
    assert k > 2 * net._chunk(200)  # more than two chunks' worth of networks
    theta = net.init(rng, k, scale=1.5) + 0.1 * rng.normal(size=(k, net.dim))
    v = rng.normal(size=theta.shape)
    G, Hv, values = L.grad(theta), L.hvp(theta, v), L.value(theta)
    for i in range(k):
        g, hv = L.grad(theta[i]), L.hvp(theta[i], v[i])
        assert np.linalg.norm(G[i] - g) <= 1e-12 * np.linalg.norm(g)
        assert np.linalg.norm(Hv[i] - hv) <= 1e-12 * np.linalg.norm(hv)
        assert values[i] == pytest.approx(L.value(theta[i]), rel=1e-12)


def test_cross_entropy_is_stable_for_outputs_far_apart():
    from scipy.special import logsumexp, softmax

    net = igr.MLP((2, 3))
    theta = np.array([400.0, 0.0, -400.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # f(x) = (400 x1, x2, -400 x1)
    X = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, 3.0]])  # outputs span 1600, beyond exp's range
    y = np.array([0, 1, 2])
    L = net.loss(X, y)
    z = net.forward(theta, X)
    assert_allclose(L.value(theta), np.mean(logsumexp(z, axis=1) - z[np.arange(3), y]), rtol=1e-14)
    r = (softmax(z, axis=1) - np.eye(3)[y]) / 3
    assert_allclose(L.grad(theta), np.concatenate([(X.T @ r).ravel(), r.sum(axis=0)]), rtol=1e-12, atol=1e-300)
    assert np.all(np.isfinite(L.hvp(theta, np.ones(net.dim))))


def test_large_stacks_are_computed_in_chunks_with_the_same_result(rng):
    net = igr.MLP((5, 4, 3))
    X, y = data(net.sizes)
    theta = net.init(rng, 7)
    v = rng.normal(size=theta.shape)
    whole = net.loss(X, y)
    small = igr.MLP((5, 4, 3), chunk_elements=100)  # chunks of 2 networks
    parts = small.loss(X, y)
    assert_allclose(parts.value(theta), whole.value(theta), rtol=1e-14)
    assert_allclose(parts.grad(theta), whole.grad(theta), rtol=1e-14, atol=1e-16)
    assert_allclose(parts.hvp(theta, v), whole.hvp(theta, v), rtol=1e-14, atol=1e-16)
    assert_allclose(small.forward(theta, X), np.stack([net.forward(th, X) for th in theta]), rtol=1e-14)


def test_gd_runs_a_network_and_reduces_the_loss(rng):
    net = igr.MLP((5, 8, 3))
    X, y = data(net.sizes, n=30)
    L = net.loss(X, y)
    path = igr.gd(L, net.init(rng), [0.1, 0.5], 200)
    values = L.value(path)
    assert np.all(np.diff(values[0]) < 0)  # a small step decreases a smooth loss at every step
    assert np.all(values[:, -1] < 0.6 * values[:, 0])


def test_linear_softmax_model_matches_the_closed_form_gradient(rng):
    # With no hidden layer, grad_W = X^T (softmax(XW + b) - Y) / n.
    net = igr.MLP((3, 4))
    X, y = data(net.sizes, n=9)
    theta = rng.normal(size=net.dim)
    (W, b), = net.unflatten(theta)
    z = X @ W + b
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    r = (p - np.eye(4)[y]) / len(y)
    assert_allclose(net.loss(X, y).grad(theta), np.concatenate([(X.T @ r).ravel(), r.sum(axis=0)]), rtol=1e-13)


def test_init_shapes_scale_and_seeds():
    net = igr.MLP((400, 300, 2))
    theta = net.init(np.random.default_rng(3))
    (W1, b1), (W2, b2) = net.unflatten(theta)
    assert theta.shape == (net.dim,) and net.dim == 401 * 300 + 301 * 2
    assert np.all(b1 == 0) and np.all(b2 == 0)
    assert W1.std() == pytest.approx(1 / np.sqrt(400), rel=0.01)
    assert W2.std() == pytest.approx(1 / np.sqrt(300), rel=0.05)
    assert_allclose(net.init(np.random.default_rng(3), scale=2.0), 2 * theta, rtol=0)
    assert_allclose(net.init(np.random.default_rng(3)), theta, rtol=0)  # same seed, same network
    four = net.init(np.random.default_rng(3), 4)
    assert four.shape == (4, net.dim)
    assert_allclose(four[:2], net.init(np.random.default_rng(3), 2), rtol=0)  # more seeds extend fewer
    assert_allclose(four[0], theta, rtol=0)


def test_accuracy_counts_the_largest_output():
    net = igr.MLP((2, 2))
    theta = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # f(x) = x
    X = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [1.0, 4.0]])
    assert net.accuracy(theta, X, np.array([0, 1, 1, 1])) == 0.75
    assert_allclose(net.accuracy(np.stack([theta, -theta]), X, np.array([0, 1, 0, 1])), [1.0, 0.0])


def test_digits_split_is_fixed_a_partition_and_centred():
    from sklearn.datasets import load_digits

    X, y, Xt, yt = igr.digits(150, rng=np.random.default_rng(0))
    X2, y2, Xt2, yt2 = igr.digits(150, rng=np.random.default_rng(0))
    assert X.shape == (150, 64) and Xt.shape == (1797 - 150, 64) and y.shape == (150,)
    assert np.array_equal(X, X2) and np.array_equal(yt, yt2)  # the same split every time
    assert_allclose(X.mean(axis=0), 0, atol=1e-14)
    raw, yr, raw_t, yr_t = igr.digits(150, rng=np.random.default_rng(0), center=False)
    assert_allclose(raw - X, np.broadcast_to(raw[0] - X[0], raw.shape), atol=1e-15)  # centring is one shift
    # train and test together are exactly the whole data set, each image once
    every = np.column_stack([np.vstack([raw, raw_t]) * 16, np.concatenate([yr, yr_t])])
    full = load_digits()
    want = np.column_stack([full.data, full.target])
    assert np.array_equal(every[np.lexsort(every.T)], want[np.lexsort(want.T)])
    assert not np.array_equal(igr.digits(150, rng=np.random.default_rng(1))[1], y)


def test_digits_seed_is_deprecated_and_equals_the_generator_it_names():
    with pytest.warns(DeprecationWarning, match="rng=np.random.default_rng"):
        old = igr.digits(200, seed=0)
    new = igr.digits(200, rng=np.random.default_rng(0))
    for a, b in zip(old, new):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: igr.MLP((3,)), "sizes"),
        (lambda: igr.MLP((3, 0, 2)), "sizes"),
        (lambda: igr.MLP((3, 2.5)), "sizes"),
        (lambda: igr.MLP((3, 2)).loss(np.zeros((4, 2)), np.zeros(4, int)), "X"),
        (lambda: igr.MLP((3, 2)).loss(np.zeros((4, 3)), np.zeros(5, int)), "y"),
        (lambda: igr.MLP((3, 2)).loss(np.zeros((4, 3)), np.array([0, 1, 2, 0])), "y"),
        (lambda: igr.MLP((3, 2)).loss(np.zeros((4, 3)), np.zeros(4)), "y"),
        (lambda: igr.MLP((3, 2)).loss(np.zeros((4, 3)), np.zeros(4, int), kind="hinge"), "kind"),
        (lambda: igr.MLP((3, 2)).loss(np.zeros((4, 3)), np.zeros(4, int)).grad(np.zeros(7)), "theta"),
        (lambda: igr.MLP((3, 2)).init(0), "rng"),
        (lambda: igr.MLP((3, 2)).init(np.random.default_rng(), 0), "k"),
        (lambda: igr.MLP((3, 2)).init(np.random.default_rng(), scale=-1.0), "scale"),
        (lambda: igr.digits(0, rng=np.random.default_rng(0)), "n_train"),
        (lambda: igr.digits(1797, rng=np.random.default_rng(0)), "n_train"),
        (lambda: igr.digits(200), "rng must be a numpy.random.Generator"),
        (lambda: igr.digits(200, rng=0), "rng must be a numpy.random.Generator"),
        (lambda: igr.digits(200, rng=np.random.default_rng(0), seed=0), "give rng only"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_numbers_are_bitwise_those_of_the_stored_reference():
    """init, forward, accuracy, loss (value, grad, hvp) and train give exactly the stored numbers.

    ``tests/data/mlp_reference.npz`` was computed before the library's refactor (issue 15);
    studies computed with that code must reproduce.
    """
    ref = np.load(Path(__file__).parent / "data" / "mlp_reference.npz")
    X, y, Xt, yt = igr.digits(200, rng=np.random.default_rng(0))
    net = igr.MLP((64, 32, 10))
    th = net.init(np.random.default_rng(0), 3)
    got = {
        "init": th,
        "init_scaled": net.init(np.random.default_rng(1), scale=4.0),
        "forward": net.forward(th, Xt[:20]),
        "accuracy": np.asarray(net.accuracy(th, Xt, yt)),
    }
    for kind in ("cross_entropy", "squared"):
        L = net.loss(X, y, kind=kind)
        v = np.random.default_rng(5).standard_normal(th.shape)
        got[f"{kind}_value"] = np.asarray(L.value(th))
        got[f"{kind}_grad"] = L.grad(th)
        got[f"{kind}_hvp"] = L.hvp(th, v)
        run = igr.train(
            L, th[0], np.array([0.05, 0.3]), 20, mu=np.array([0.0, 0.01])[:, None], every=5, sharpness_iters=3,
            rng=np.random.default_rng(0),
            record={"test_acc": lambda t: net.accuracy(t, Xt, yt)},
        )
        got[f"{kind}_train_theta"] = run.theta
        got[f"{kind}_train_steps"] = run.steps
        for k, val in run.history.items():
            got[f"{kind}_train_{k}"] = val
    assert sorted(got) == sorted(ref.files)
    for k in ref.files:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


# -- the parts of MLP.loss, one by one -------------------------------------------------------

from igrlib.mlp import _chunked, _Objective, _softmax  # noqa: E402


def test_chunked_equals_one_call_on_the_whole_stack():
    def kernel(a, b):
        return a * b.sum(axis=-1, keepdims=True)  # row by row

    a, b = np.arange(21.0).reshape(7, 3), np.arange(14.0).reshape(7, 2)
    for chunk in (1, 2, 3, 7, 100):
        np.testing.assert_array_equal(_chunked(kernel, chunk, a, b), kernel(a, b))
    sizes = []
    _chunked(lambda t: sizes.append(len(t)) or t, 3, a)
    assert sizes == [3, 3, 1]  # ceil(7 / 3) = 3 chunks of at most 3 networks


def test_softmax_is_scipys_and_survives_outputs_far_apart():
    from scipy.special import logsumexp, softmax

    z = np.array([[[1.0, 2.0, 3.0], [800.0, 0.0, -800.0]]])
    p, lse = _softmax(z, np.ones(3))
    assert_allclose(p, softmax(z, axis=-1), rtol=1e-14, atol=1e-300)
    assert_allclose(lse, logsumexp(z, axis=-1), rtol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_r_forward_and_r_delta_are_directional_derivatives(kind, rng):
    net = igr.MLP((5, 4, 4, 3))
    X, y = data(net.sizes, n=9)
    obj = _Objective(net, X, y, kind)
    th, v = net.init(rng, 2), rng.normal(size=(2, net.dim))
    acts, racts, slopes, z, rz = obj.forward_r(net._blocks(th), net._blocks(v))
    _, z_plain = net._forward(net._blocks(th), obj.X1)
    np.testing.assert_array_equal(z, z_plain)  # the same forward pass

    def at(eps):
        w = th + eps * v
        _, zw = net._forward(net._blocks(w), obj.X1)
        return zw, obj.out_delta(zw)[0]

    (zp, dp), (zm, dm) = at(1e-5), at(-1e-5)
    assert_allclose(rz, (zp - zm) / 2e-5, rtol=1e-7, atol=1e-9)
    delta, p = obj.out_delta(z)
    assert_allclose(obj.r_out_delta(p, rz.copy()), (dp - dm) / 2e-5, rtol=1e-6, atol=1e-10)
    assert len(acts) == len(racts) == len(slopes) == 3
