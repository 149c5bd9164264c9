r"""Self-checks of ``book/07_sgd_momentum.ipynb`` (*Stochastic gradients, momentum and explicit
penalties*): ``beyond-flood-pair`` and ``beyond-sgd-extra-penalty``.

Each check calls the student's function on inputs the chapter does not use and
compares the behaviour with the mathematics (gradient-descent iterates, the
definition of the penalty). Messages give hints, never the answer.
"""

from __future__ import annotations

import numpy as np

from ...losses import himmelblau, hvp, least_squares, two_param
from . import fresh_rng, real_array, real_number, register

__all__ = []


def _flood_losses():
    rng = fresh_rng()
    x, y = rng.uniform(0.6, 1.5), rng.uniform(0.5, 1.5)
    return [(two_param(x, y), np.array([1.3, 0.4])), (himmelblau(), np.array([1.0, 0.5]))]


@register(
    "beyond-flood-pair",
    without=(
        "igrlib.flooded",
        "igrlib.sam",
        "igrlib.sam_gradient",
    ),
    why="write the descent-ascent pair from gradients, not call igrlib's flooding or SAM",
)
def _flood_pair(answer):
    for loss, theta in _flood_losses():
        g = loss.grad(theta)
        Hg = hvp(loss, theta, g)
        lam = float(np.abs(np.linalg.eigvalsh(np.array([hvp(loss, theta, e) for e in np.eye(2)]))).max())
        hs = np.array([0.02, 0.01, 0.005]) / lam
        theta_in = theta.copy()
        got = [real_array(answer(loss, theta_in, h)) for h in hs]
        if not np.array_equal(theta_in, theta):
            return False, "your function changed theta in place; work on a copy"
        if any(x is None for x in got):
            return False, f"return the new point as real numbers (floats), shape {theta.shape}"
        if any(x.shape != theta.shape for x in got):
            return False, f"return the new point, shape {theta.shape}"
        for h, x in zip(hs, got, strict=True):
            down = theta - h * g
            want = down + h * loss.grad(down)
            if np.allclose(x, theta, rtol=1e-14, atol=1e-15):
                return False, (
                    "you returned theta itself: the ascent step must use the gradient at the point reached by the "
                    "descent step, not at theta"
                )
            if np.allclose(x, down - h * loss.grad(down), rtol=1e-12) or np.allclose(x, theta - 2 * h * g, rtol=1e-12):
                return False, "both steps went downhill; the second step climbs: theta + h grad L"
            if not np.allclose(x, want, rtol=1e-12, atol=1e-14):
                return False, "the pair should be one descent step, then one ascent step from the new point"
        errs = [np.linalg.norm(x - (theta - h**2 * Hg)) for h, x in zip(hs, got, strict=True)]
        slopes = np.diff(np.log(errs)) / np.diff(np.log(hs))
        if not np.all(slopes > 2.7):  # pragma: no cover - guaranteed once the pair is right
            return False, "the pair does not move by -(h^2/2) grad |g|^2 up to O(h^3)"
    return True, "one descent and one ascent step: the pair moves by -(h^2/2) grad |grad L|^2 + O(h^3)"


def _sgd_cases():
    rng = fresh_rng()
    cases = []
    for m, d in [(3, 2), (4, 3)]:
        X = rng.normal(size=(6 * m, d))
        y = rng.normal(size=6 * m)
        losses = [least_squares(X[k::m], y[k::m]) for k in range(m)]
        cases.append((losses, rng.normal(size=d), float(rng.uniform(0.05, 0.3))))
    return cases


def _extra_penalty(losses, theta, lr):
    gs = np.array([L.grad(theta) for L in losses])
    return lr / (4 * len(losses)) * float(np.sum((gs - gs.mean(axis=0)) ** 2))


@register(
    "beyond-sgd-extra-penalty",
    without=(
        "igrlib.sgd_modified_loss",
        "igrlib.modified_loss",
    ),
    why="compute the penalty from the minibatch gradients, not call igrlib's modified losses",
)
def _sgd_extra_penalty(answer):
    for losses, theta, lr in _sgd_cases():
        m = len(losses)
        theta_in = theta.copy()
        got = answer(losses, theta_in, lr)
        if not np.array_equal(theta_in, theta):
            return False, "your function changed theta in place; work on a copy"
        if np.ndim(got) != 0:
            return False, f"return one number, got shape {np.shape(got)}"
        got = real_number(got)
        if got is None:
            return False, "return one real number (a float)"
        want = _extra_penalty(losses, theta, lr)
        gs = np.array([L.grad(theta) for L in losses])
        if np.isclose(got, lr / (4 * m) * float(np.sum(gs**2)), rtol=1e-9):
            return False, "that is the whole SGD penalty; subtract the full-batch gradient from each minibatch's first"
        if np.isclose(got, want * m, rtol=1e-9):
            return False, "your value is m times too large: the penalty is an average over the m minibatches"
        if np.isclose(got, want / m, rtol=1e-9):
            return False, "your value is m times too small: sum the m squared differences, then divide by 4m once"
        if not np.isclose(got, want, rtol=1e-9, atol=0):
            return False, "your value differs from (h / 4m) sum_k |grad C_k - grad C|^2 at theta"
    return True, "the extra SGD penalty is right on fresh minibatches"
