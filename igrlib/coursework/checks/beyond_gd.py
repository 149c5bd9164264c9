r"""Self-checks of ``book/06_beyond_gd.ipynb`` (*Large learning rates and the edge of stability*):
``beyond-principal-rate`` and ``beyond-terms-needed``.

Each check calls the student's function on inputs the chapter does not use and
compares the behaviour with the mathematics (the principal logarithm, the
series and its error). Messages give hints, never the answer.
"""

from __future__ import annotations

import numbers

import numpy as np

from ...principal import principal_factor, principal_series
from . import fresh_rng, register

__all__ = []


@register(
    "beyond-principal-rate",
    without=(
        "igrlib.principal_factor",
        "igrlib.principal_series",
        "igrlib.principal_field",
        "igrlib.principal_flow_quadratic",
        "igrlib.exact_modified_matrix",
        "igrlib.series.log_rates",
    ),
    why="take the principal logarithm yourself, not call igrlib's principal flow",
)
def _principal_rate(answer):
    rng = fresh_rng()
    lr = 0.6
    # every regime each time: h lambda < 0, in (0, 1) (no flip) and in (1, 1.8) (a flip at every step)
    lam = np.concatenate([rng.uniform(-3, -0.1, 2), rng.uniform(0.1, 1.55, 3), rng.uniform(1.75, 3, 3), [0.0]])
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
    principal = np.log((1 - lr * lam).astype(complex)) / lr
    if not np.allclose(got, principal, rtol=1e-9, atol=1e-12):
        return False, (
            "exp(n h mu) is right, but mu is not the principal logarithm divided by h: "
            "its imaginary part must lie in (-pi/h, pi/h], not be shifted by a multiple of 2 pi i / h"
        )
    return True, "exp(n h mu) reproduces every gradient-descent step, in every regime"


@register(
    "beyond-terms-needed",
    without=(
        "igrlib.principal_factor",
        "igrlib.principal_series",
    ),
    why="bound the tail of the series yourself, not evaluate igrlib's partial sums",
)
def _terms_needed(answer):
    rng = fresh_rng()
    cases = [(float(x), tol) for x in rng.uniform(-0.95, 0.95, 4) for tol in (1e-4, 1e-8)] + [(0.97, 1e-6)]
    for x, tol in cases:
        got = answer(x, tol)
        if got is None:
            return False, f"for x = {x:.4f} (|x| < 1) the series converges, so some number of terms suffices"
        n = None
        try:
            if not isinstance(got, (bool, np.bool_, complex, np.complexfloating)):  # float() would read them
                n = int(got) if float(got).is_integer() else None
        except OverflowError:  # an int beyond any float: more terms than any case needs
            n = int(got) if isinstance(got, numbers.Integral) else None
        except (TypeError, ValueError):
            pass
        if n is None:
            return False, f"return a whole number of terms, got {got!r}"
        target = principal_factor(x).real

        def err(k, x=x, target=target):
            return abs(principal_series(x, k) - target)

        # the smallest number of terms, counted here: the cost of the check never depends on the
        # answer (summing 10**9 terms to judge an answer of 10**9 would take 30 GB)
        smallest = 1
        while err(smallest) >= tol:
            smallest += 1
        if n < smallest:
            if n >= 1 and abs(x) ** n / (n + 1) < tol:
                return False, (
                    f"for x = {x:.4f}, tol = {tol:g}: with {n} terms the last term is below tol but the error "
                    "(the whole tail of the series) is not; compare the partial sum with log(1 - x)/x itself"
                )
            return False, f"for x = {x:.4f}, tol = {tol:g}: {n} terms leave an error above tol"
        if n > smallest:
            fewer = f"{n - 1}" if n < 10**9 else "far fewer"  # an int of 5,000 digits cannot even be printed
            return (
                False,
                f"for x = {x:.4f}, tol = {tol:g}: {fewer} terms are already enough; return the smallest number",
            )
    for x in (1.0, 1.3, -1.2, 2.5):
        got = answer(x, 1e-6)
        if got is not None:
            return False, f"for x = {x} the series does not converge (|x| >= 1): no number of terms works; return None"
    return True, "the number of terms is right for fresh x and tolerances, and None outside the unit disc"
