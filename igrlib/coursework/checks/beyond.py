r"""Self-checks for the chapters beyond plain gradient descent.

``book/06_beyond_gd.ipynb`` (*Large learning rates and the edge of stability*):
``beyond-principal-rate`` and ``beyond-terms-needed``.
``book/07_sgd_momentum.ipynb`` (*Stochastic gradients, momentum and explicit
penalties*): ``beyond-flood-pair`` and ``beyond-sgd-extra-penalty``.

Each check calls the student's function on inputs the chapters do not use and
compares the behaviour with the mathematics (gradient-descent iterates, the
series, a measured order, the definition of the penalty). Messages give hints,
never the answer.
"""

from __future__ import annotations

import numpy as np

from ...losses import himmelblau, hvp, least_squares, two_param
from ...principal import principal_factor, principal_series
from . import register

__all__ = []


# ---- chapter 6 ------------------------------------------------------------------------------


@register("beyond-principal-rate")
def _principal_rate(answer):
    rng = np.random.default_rng(606)
    lam = np.concatenate([rng.uniform(-3, -0.1, 2), rng.uniform(0.1, 3, 6), [0.0]])
    lr = 0.6
    x = lr * lam
    if np.any(np.isclose(x, 1.0)):  # pragma: no cover - the seed avoids it
        lam = lam * 0.97
    lam_in = lam.copy()
    with np.errstate(all="ignore"):
        got = np.asarray(answer(lam_in, lr))
    if not np.array_equal(lam_in, lam):
        return False, "your function changed lam in place; work on a copy"
    if got.shape != lam.shape:
        return False, f"return one rate per eigenvalue, shape {lam.shape}; got shape {got.shape}"
    if not np.all(np.isfinite(got)):
        return False, (
            "some rates are not finite: where 1 - h lambda < 0 the real logarithm is undefined; "
            "use the complex logarithm (cast to complex first)"
        )
    got = got.astype(complex)
    for n in range(1, 5):
        want = (1 - lr * lam) ** n
        gd_like = np.exp(n * lr * got)
        if np.allclose(np.abs(gd_like), np.abs(want), rtol=1e-9) and not np.allclose(gd_like, want, rtol=1e-9):
            return False, (
                "the size of exp(n h mu) is right but its sign is wrong where h lambda > 1: "
                "the imaginary part i pi / h carries the flip of sign at every step"
            )
        if not np.allclose(gd_like, want, rtol=1e-9, atol=1e-12):
            return False, (
                "exp(n h mu) must equal (1 - h lambda)^n, the gradient-descent factor after n steps; "
                "check the division by h and the sign of the logarithm"
            )
    return True, "exp(n h mu) reproduces every gradient-descent step, in every regime"


@register("beyond-terms-needed")
def _terms_needed(answer):
    rng = np.random.default_rng(6060)
    cases = [(float(x), tol) for x in rng.uniform(-0.95, 0.95, 4) for tol in (1e-4, 1e-8)] + [(0.97, 1e-6)]
    for x, tol in cases:
        got = answer(x, tol)
        if got is None:
            return False, f"for x = {x:.4f} (|x| < 1) the series converges, so some number of terms suffices"
        if isinstance(got, bool) or not float(got).is_integer():
            return False, f"return a whole number of terms, got {got!r}"
        n = int(got)
        target = principal_factor(x).real

        def err(k, x=x, target=target):
            return abs(principal_series(x, k) - target)

        if n < 1 or err(n) >= tol:
            if n >= 1 and abs(x) ** n / (n + 1) < tol:
                return False, (
                    f"for x = {x:.4f}, tol = {tol:g}: with {n} terms the last term is below tol but the error "
                    "(the whole tail of the series) is not; compare the partial sum with log(1 - x)/x itself"
                )
            return False, f"for x = {x:.4f}, tol = {tol:g}: {n} terms leave an error above tol"
        if n > 1 and err(n - 1) < tol:
            return (
                False,
                f"for x = {x:.4f}, tol = {tol:g}: {n - 1} terms are already enough; return the smallest number",
            )
    for x in (1.0, 1.3, -1.2, 2.5):
        got = answer(x, 1e-6)
        if got is not None:
            return False, f"for x = {x} the series does not converge (|x| >= 1): no number of terms works; return None"
    return True, "the number of terms is right for fresh x and tolerances, and None outside the unit disc"


# ---- chapter 7 ------------------------------------------------------------------------------


def _flood_losses():
    rng = np.random.default_rng(707)
    x, y = rng.uniform(0.6, 1.5), rng.uniform(0.5, 1.5)
    return [(two_param(x, y), np.array([1.3, 0.4])), (himmelblau(), np.array([1.0, 0.5]))]


@register("beyond-flood-pair")
def _flood_pair(answer):
    for loss, theta in _flood_losses():
        g = loss.grad(theta)
        Hg = hvp(loss, theta, g)
        lam = float(np.abs(np.linalg.eigvalsh(np.array([hvp(loss, theta, e) for e in np.eye(2)]))).max())
        hs = np.array([0.02, 0.01, 0.005]) / lam
        theta_in = theta.copy()
        got = [np.asarray(answer(loss, theta_in, h), dtype=float) for h in hs]
        if not np.array_equal(theta_in, theta):
            return False, "your function changed theta in place; work on a copy"
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
    rng = np.random.default_rng(7070)
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


@register("beyond-sgd-extra-penalty")
def _sgd_extra_penalty(answer):
    for losses, theta, lr in _sgd_cases():
        m = len(losses)
        theta_in = theta.copy()
        got = answer(losses, theta_in, lr)
        if not np.array_equal(theta_in, theta):
            return False, "your function changed theta in place; work on a copy"
        if np.ndim(got) != 0:
            return False, f"return one number, got shape {np.shape(got)}"
        got = float(got)
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
