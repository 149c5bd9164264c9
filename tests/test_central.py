"""The central flow: closed forms on a model whose edge is a plane, and hostile inputs."""

import numpy as np
import pytest

import igrlib as igr

V = np.array([1.0, 0.5])
X_STAR = np.array([17.0, 9.0])


def plane_model(curv=1.0):
    """L = curv/2 |x - x*|^2 + (1 + v.x) y^2 / 2: sharpness 1 + v.x at y = 0, with gradient (v, 0)."""

    def value(th):
        x, y = th[:2], th[2]
        return 0.5 * curv * np.sum((x - X_STAR) ** 2) + 0.5 * (1 + x @ V) * y**2

    def grad(th):
        x, y = th[:2], th[2]
        return np.concatenate([curv * (x - X_STAR) + 0.5 * y**2 * V, [(1 + x @ V) * y]])

    return igr.Loss(value, grad)  # Hessians and third derivatives by finite differences


def test_below_the_edge_it_is_the_gradient_flow():
    L = plane_model()
    out = igr.central_flow(L, [0.0, 24.0, 0.0], 1e-3, 2.0, dt=1e-3)
    exact = X_STAR + (np.array([0.0, 24.0]) - X_STAR) * np.exp(-out.t[:, None])
    assert np.all(out.sigma2 == 0)
    assert np.max(np.abs(out.theta[:, :2] - exact)) < 5e-3  # forward Euler, dt = 1e-3
    assert np.allclose(out.loss, [L.value(th) for th in out.theta])


@pytest.mark.parametrize("curv", [1.0, 0.3])
def test_on_the_edge_it_is_the_projection(curv):
    """Stationary point: the point of v.x = 2/h - 1 nearest x*, sigma^2 = 2 curv v.(x* - x)/|v|^2."""
    h = 0.1
    L = plane_model(curv)
    out = igr.central_flow(L, [0.0, 24.0, 0.0], h, 60.0, dt=0.02)
    target = X_STAR - (1 + X_STAR @ V - 2 / h) * V / (V @ V)
    assert np.allclose(out.theta[-1, :2], target, atol=1e-4)
    assert abs(out.sigma2[-1] - 2 * curv * V @ (X_STAR - target) / (V @ V)) < 1e-4
    assert np.max(out.sharpness) < 2 / h + 1e-6
    on_edge = out.sigma2 > 0
    assert np.allclose(out.sharpness[on_edge], 2 / h, atol=1e-6)
    assert np.allclose(out.loss[-1], L.value(out.theta[-1]) + out.sigma2[-1] * (2 / h) / 2)


def test_matches_gradient_descent_on_average():
    h = 0.1
    L = plane_model()
    path = igr.gd(L, [0.0, 24.0, 0.1], h, 300)
    out = igr.central_flow(L, [0.0, 24.0, 0.0], h, 30.0)
    tail = path[-100:]
    assert np.allclose(tail[:, :2].mean(axis=0), out.theta[-1, :2], atol=0.05)
    assert abs(np.mean(tail[:, 2] ** 2) - out.sigma2[-1]) < 0.1 * out.sigma2[-1]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": True}, "lr"),
        ({"t_end": 0.0}, "t_end"),
        ({"t_end": float("inf")}, "t_end"),
        ({"dt": -0.1}, "dt"),
        ({"theta0": [[0.0, 1.0, 0.0]]}, "theta0"),
        ({"theta0": [0.0, np.nan, 0.0]}, "theta0"),
        ({"theta0": ["a", "b", "c"]}, "theta0"),
        ({"theta0": [20.0, 20.0, 0.0]}, "theta0"),  # sharpness 31 above the edge 20
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    args = {"theta0": [0.0, 24.0, 0.0], "lr": 0.1, "t_end": 1.0} | kwargs
    with pytest.raises(ValueError, match=name):
        igr.central_flow(plane_model(), **args)
