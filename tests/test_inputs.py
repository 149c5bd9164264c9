"""Every public function of igrlib leaves its array inputs alone and returns arrays of its own.

One parametrised test over every function that igrlib exports (a test of completeness keeps
the list whole): the inputs are compared with copies after the call, and the output is
overwritten to show it shares no memory with them.
"""

import numpy as np
import pytest

import igrlib as igr

E = igr.two_param()
T2 = np.array([2.8, 3.5])
A2 = np.array([[2.0, 1.0], [1.0, 3.0]])
B2 = np.array([0.5, -1.0])
X3 = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]])
Y3 = np.array([1.0, 0.0, 2.0])
TIMES = np.array([0.0, 0.5, 1.0])
LRS = np.array([0.01, 0.02])
STACK = np.array([[2.8, 3.5], [1.0, -1.0]])
V = np.array([[0.3, -0.2], [1.0, 0.5]])
INPUTS = [T2, A2, B2, X3, Y3, TIMES, LRS, STACK, V]
QB = [igr.quadratic([[1.0]], [1.0]), igr.quadratic([[1.0]], [-1.0])]
NET = igr.MLP((2, 3, 2))
LABELS = np.array([0, 1, 1])

# name: a call whose result (an array) is checked; every input array comes from INPUTS
CALLS = {
    "quadratic": lambda: igr.quadratic(A2, B2).grad(STACK),
    "least_squares": lambda: igr.least_squares(X3, Y3).hvp(STACK, V),
    "two_param": lambda: igr.two_param().d3(T2, V[0], V[1]),
    "rosenbrock": lambda: igr.rosenbrock().hvp(STACK, V),
    "himmelblau": lambda: igr.himmelblau().grad(STACK),
    "hvp": lambda: igr.hvp(igr.Loss(E.value, E.grad), STACK, V),
    "d3": lambda: igr.d3(igr.Loss(E.value, E.grad), T2, V[0], V[1]),
    "hessian": lambda: igr.hessian(E, T2),
    "sharpness": lambda: np.array([igr.sharpness(E, T2)]),
    "power_iteration": lambda: igr.power_iteration(E, STACK, v0=V)[1],
    "central_flow": lambda: igr.central_flow(igr.quadratic(A2), T2, 0.5, 1.0).theta,
    "gd": lambda: igr.gd(E, T2, LRS, 5),
    "gradient_flow": lambda: igr.gradient_flow(E, T2, TIMES),
    "modified_field": lambda: igr.modified_field(E, T2, 0.01, order=2),
    "modified_flow": lambda: igr.modified_flow(E, T2, 0.01, TIMES, order=2),
    "grad_norm_sq": lambda: igr.grad_norm_sq(E, STACK),
    "modified_loss": lambda: igr.modified_loss(E, 0.1).hvp(STACK, V),
    "exact_modified_matrix": lambda: igr.exact_modified_matrix(A2, 0.1),
    "bernoulli_coefficients": lambda: np.array(igr.bernoulli_coefficients(4), dtype=float),
    "riccati_coefficients": lambda: np.array(igr.riccati_coefficients(4), dtype=float),
    "heavy_ball": lambda: igr.heavy_ball(E, T2, LRS, np.array([0.5, 0.6]), 5, v0=V[0]),
    "heavy_ball_flow": lambda: igr.heavy_ball_flow(E, T2, 0.01, 0.5, TIMES),
    "heavy_ball_penalty_lr": lambda: igr.heavy_ball_penalty_lr(LRS, LRS * 10),
    "flooded": lambda: igr.flooded(E, 0.1).hvp(STACK, V),
    "grad_norm_loss": lambda: igr.grad_norm_loss(E, 0.1).grad(STACK),
    "sam": lambda: igr.sam(E, T2, LRS, 0.05, 5),
    "sam_gradient": lambda: igr.sam_gradient(E, STACK, 0.05),
    "principal_factor": lambda: igr.principal_factor(LRS),
    "principal_series": lambda: igr.principal_series(LRS, 3),
    "principal_field": lambda: igr.principal_field(igr.quadratic(A2), T2, 0.1),
    "principal_flow_quadratic": lambda: igr.principal_flow_quadratic(A2, T2, 0.1, TIMES),
    "sgd": lambda: igr.sgd(QB, T2[:1], LRS, 2, rng=np.random.default_rng(0)),
    "sgd_epoch_mean": lambda: igr.sgd_epoch_mean(QB, T2[:1], 0.1),
    "sgd_modified_loss": lambda: igr.sgd_modified_loss([E, igr.quadratic(A2, B2)], 0.1).hvp(STACK, V),
    "train": lambda: igr.train(E, STACK, LRS[:, None], 3, mu=0.1, sharpness_iters=2, rng=np.random.default_rng(0))
    .theta,
    "diagonal_network": lambda: igr.diagonal_network(X3[:, :1], Y3).hvp(STACK, V),
    "diagonal_start": lambda: igr.diagonal_start(LRS, 2),
    "product": lambda: igr.product(STACK),
    "balance": lambda: igr.balance(STACK),
    "effective_alpha": lambda: igr.effective_alpha(STACK),
    "hyperbolic_entropy": lambda: igr.hyperbolic_entropy(STACK, LRS),
    "entropy_interpolator": lambda: igr.entropy_interpolator(X3[:1], Y3[:1], LRS),
    "train_diagonal": lambda: igr.train_diagonal(X3[:, :1], Y3, T2, LRS, 5).theta,
    "sparse_problem": lambda: igr.sparse_problem(np.random.default_rng(0), 3, 4, 2)[0],
    "MLP": lambda: NET.loss(X3, LABELS).hvp(np.tile(np.linspace(-1, 1, NET.dim), (2, 1)), np.ones(NET.dim)),
}
# exported, but with no array input to modify
NO_ARRAYS = {"Loss", "CentralFlow", "DivergenceWarning", "FlowError", "Run", "digits", "check", "plotting", "sliders"}
NO_ARRAYS |= {"DiagonalRun", "Table"}


def test_every_export_is_covered():
    assert set(CALLS) | NO_ARRAYS == set(igr.__all__)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_inputs_are_not_modified_and_outputs_share_no_memory_with_them(name):
    before = [x.copy() for x in INPUTS]
    out = np.asarray(CALLS[name]())
    assert out.size and all(not np.shares_memory(out, x) for x in INPUTS)
    out[...] = 0.0
    for x, b in zip(INPUTS, before, strict=True):
        np.testing.assert_array_equal(x, b)
