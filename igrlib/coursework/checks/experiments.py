r"""Self-checks for chapter 5, *Experiments* (``book/05_experiments.ipynb``).

``experiments-power-iteration``: the student's power iteration, given only a
Hessian-vector product, must find the largest eigenvalue of fresh positive
semidefinite matrices (compared with ``numpy.linalg.eigvalsh``).

``experiments-crossing-time``: the student's refinement of the "same training
loss" protocol must return the first time at which the piecewise-linear
interpolation of a recorded loss reaches a target, on fresh histories that go
down, bounce back up (as at the edge of stability), never arrive, or end in NaN.
The messages give hints, never the answer.
"""

from __future__ import annotations

import numpy as np

from . import fresh_rng, real_array, real_number, register

__all__ = []


def _psd_problems():
    """Fresh symmetric positive semidefinite matrices with a clear gap below the top eigenvalue."""
    rng = fresh_rng()
    problems = []
    for d, top, second in [(6, 5.0, 3.0), (40, 2.5, 1.9), (3, 0.01, 0.002)]:
        Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        lam = np.concatenate([[top, second], rng.uniform(0.0, second, size=d - 2)])
        problems.append((Q @ np.diag(lam) @ Q.T, rng.normal(size=d)))
    return problems


@register(
    "experiments-power-iteration",
    without=(
        "igrlib.power_iteration",
        "igrlib.sharpness",
        "numpy.linalg.eig",
        "numpy.linalg.eigh",
        "numpy.linalg.eigvals",
        "numpy.linalg.eigvalsh",
        "numpy.linalg.svd",
        "scipy.linalg.eig",
        "scipy.linalg.eigh",
        "scipy.linalg.eigvals",
        "scipy.linalg.eigvalsh",
        "scipy.linalg.schur",
        "scipy.linalg.svd",
        "scipy.linalg.svdvals",
        "scipy.sparse.linalg.eigs",
        "scipy.sparse.linalg.eigsh",
        "scipy.sparse.linalg.svds",
        "scipy.linalg.eig_banded",
        "scipy.linalg.eigh_tridiagonal",
        "scipy.linalg.qz",
        "scipy.linalg.lapack.dsyev",
        "scipy.linalg.lapack.dsyevd",
        "scipy.linalg.lapack.dsyevr",
        "scipy.linalg.lapack.dsyevx",
        "scipy.linalg.lapack.dgeev",
        "scipy.linalg.lapack.dgesdd",
        "scipy.linalg.lapack.dgesvd",
    ),
    why="find the largest eigenvalue from Hessian-vector products alone, not with an eigensolver",
)
def _power_iteration(answer):
    def product(A, calls):  # hvp takes v alone: no default argument the answer could pass instead
        def hvp(v):
            v = np.asarray(v, dtype=float)
            if v.shape != (A.shape[0],):
                raise ValueError(f"hvp takes a vector of shape ({A.shape[0]},), got {v.shape}")
            calls.append(1)
            return A @ v

        return hvp

    for A, v0 in _psd_problems():
        calls = []
        got = answer(product(A, calls), v0.copy(), 200)
        if np.ndim(got) != 0:
            return False, f"return one number, the eigenvalue estimate; got an array of shape {np.shape(got)}"
        got = real_number(got)
        if got is None:
            return False, "return one real number (a float), the eigenvalue estimate"
        want = float(np.linalg.eigvalsh(A)[-1])
        if not calls:
            return False, "your function never called hvp; the Hessian is only available through products H v"
        if not np.isfinite(got) or abs(got - want) > 1e-6 * want:
            return False, (
                f"on a {A.shape[0]} x {A.shape[0]} matrix your estimate {got:.6g} is not its largest eigenvalue. "
                "Multiply by H, rescale to unit length at every step, and return the Rayleigh quotient v^T H v "
                "of a unit vector v."
            )
        if len(calls) > 1000:
            return False, f"your function called hvp {len(calls)} times for iters = 200; use about one product a step"
    return True, "your power iteration finds the largest eigenvalue of three fresh matrices from products H v alone"


def _first_crossing(t, loss, target):
    """The check's own crossing time of one history (linear interpolation before the first record at
    or below the target; NaN if none)."""
    below = np.flatnonzero(loss <= target)
    if below.size == 0:
        return np.nan
    k = below[0]
    if k == 0:
        return float(t[0])
    return float(t[k - 1] + (t[k] - t[k - 1]) * (loss[k - 1] - target) / (loss[k - 1] - loss[k]))


def _crossing_cases(rng=None):
    """(t, loss, targets, want): six hand-made histories (a bounce, a miss, a start below the target,
    a divergence, an exact hit) and six random ones drawn afresh at every call."""
    rng = fresh_rng() if rng is None else rng
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    rows = [
        ([1.0, 0.8, 0.6, 0.4, 0.2, 0.1], 0.5),
        ([1.0, 0.2, 0.9, 0.2, 0.1, 0.05], 0.6),
        ([1.0, 0.9, 0.8, 0.7, 0.6, 0.55], 0.5),
        ([0.3, 0.2, 0.1, 0.1, 0.1, 0.1], 0.5),
        ([1.0, 0.7, np.nan, np.nan, np.nan, np.nan], 0.5),
        ([2.0, 1.0, 0.25, 0.2, 0.1, 0.0], 0.25),
    ]
    for _ in range(6):
        history = np.cumprod(rng.uniform(0.3, 1.2, size=t.size)) * rng.uniform(0.5, 2.0)
        rows.append((history.tolist(), float(rng.uniform(0.05, 1.0))))
    loss = np.array([r[0] for r in rows])
    targets = np.array([r[1] for r in rows])
    want = np.array([_first_crossing(t, row, target) for row, target in zip(loss, targets)])
    return t, loss, targets, want


@register("experiments-crossing-time")
def _crossing_time(answer):
    t, loss, targets, want = _crossing_cases()
    for i in range(len(loss)):
        got = answer(t.copy(), loss[i].copy(), float(targets[i]))
        if np.ndim(got) != 0:
            return False, f"for one history of shape ({t.size},) return one number; got shape {np.shape(got)}"
        got = real_number(got)
        if got is None:
            return False, "return one real number (a float): the time, or NaN"
        if np.isnan(want[i]):
            if not np.isnan(got):
                return False, (
                    f"the history {loss[i].tolist()} never reaches {targets[i]}, but you returned {got:.4g}; "
                    "return NaN when the target is not reached"
                )
        elif not abs(got - want[i]) < 1e-9:
            return False, (
                f"the history {loss[i].tolist()} (recorded at t = {t.tolist()}) reaches {targets[i]} at another "
                f"time than {got:.4g}. Find the first record at or below the target and interpolate linearly "
                "from the record before it."
            )
    # A stack of histories: one time per row, with the shape of loss[..., 0].
    stack = loss[:6].reshape(2, 3, t.size)
    common = 0.5
    rows = [answer(t.copy(), row.copy(), common) for row in stack.reshape(-1, t.size)]
    for row in rows:  # before any comparison: arrays here would be broadcast against the stack's times
        if np.ndim(row) != 0:
            return False, f"for one history of shape ({t.size},) return one number; got shape {np.shape(row)}"
        if real_number(row) is None:
            return False, "return one real number (a float): the time, or NaN"
    got = answer(t.copy(), stack.copy(), common)
    got = real_array(got)
    if got is None or got.shape != (2, 3):
        return False, (
            f"for loss of shape (2, 3, {t.size}) return real numbers of shape (2, 3), one time per history; "
            f"got {'shape ' + str(got.shape) if got is not None else 'no real numbers'}"
        )
    if not np.allclose(got.ravel(), [real_number(r) for r in rows], rtol=0, atol=1e-12, equal_nan=True):
        return False, "a stack of histories must give, row by row, the same times as one history at a time"
    truth = [_first_crossing(t, row, common) for row in stack.reshape(-1, t.size)]
    if not np.allclose(got.ravel(), truth, rtol=0, atol=1e-9, equal_nan=True):
        return False, (
            f"a stack of histories of shape (2, 3, {t.size}) with target {common} gets wrong times; "
            "each row must be the first crossing of its own history"
        )
    return True, "your crossing times are right on twelve histories, six of them fresh random ones"
