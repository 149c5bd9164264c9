r"""The sweep behind chapter 9: test error against the step size on sparse regression.

``python -m igrlib.diagonal_study run`` trains every run and writes one row per run to
``book/data/diagonal.csv`` (finished runs are skipped, so an interrupted sweep resumes);
``python -m igrlib.diagonal_study rerun RUN_ID`` recomputes one row and prints it as JSON.
The files, the reading and the paired intervals are those of :mod:`igrlib.study`.

Every run trains one diagonal linear network :math:`\beta = u \odot v` from
:math:`u = \sqrt2\,\alpha`, :math:`v = 0` on one problem of :func:`igrlib.sparse_problem`
(``N, D, S`` below; problem ``p`` drawn from ``default_rng([PROBLEM_TAG, p])``) with one
method and one learning rate :math:`h`:

* ``gd``: full-batch gradient descent for time :math:`T_{GD}` (``ceil(T / h)`` steps);
* ``sgd``: SGD with random reshuffling, batch :math:`B`, for :math:`T_{SGD}` epochs-times-h
  (``ceil(T n / (B h))`` steps);
* ``label_noise``: SGD with batch 1 and fresh label noise of standard deviation ``sigma`` for
  the same steps, then a noise-free final phase of full-batch gradient descent with
  :math:`h = 0.1` for time 400, so that it ends at the same training loss as the others.

Minibatch orders and label noise come from ``default_rng([ORDER_TAG, run_id])``, one stream per
run, so a row is recomputed exactly by itself.

Chapter *Where the step size decides the answer*.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
import warnings

import numpy as np

from . import study
from .diagonal import (
    diagonal_start,
    effective_alpha,
    entropy_interpolator,
    product,
    sparse_problem,
    train_diagonal,
)

__all__ = ["NAME", "grid", "problem", "run", "rerun", "run_study"]

NAME = "diagonal"
PROBLEM_TAG, ORDER_TAG = 91, 92
N, D, S, ALPHA = 30, 100, 3, 0.1  # examples, coordinates, non-zero coordinates, initial scale
PROBLEMS = 12
T_GD, T_SGD = 600.0, 40.0  # time h * steps * B / n of each run (fixed before the sweep)
FINAL_LR, FINAL_TIME = 0.1, 400.0  # the noise-free final phase of label-noise SGD
SIGMA = 0.1  # label noise
MIN_ALPHA = 1e-6  # below this effective scale the interpolator is not predicted

# (method, batch, learning rates); the last three lines extend the first grid up to divergence
# (appended, so that the run ids of the first grid did not change).
LRS = [
    ("gd", N, [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]),
    ("sgd", 5, [0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]),
    ("sgd", 1, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1]),
    ("label_noise", 1, [0.02, 0.04]),
    ("gd", N, [1.1, 1.2]),
    ("sgd", 5, [0.4, 0.5, 0.6]),
    ("sgd", 1, [0.12, 0.15, 0.2, 0.25]),
]


def grid():
    """Every run: a list of settings dicts, each with a unique ``run_id``."""
    runs = []
    for method, batch, lrs in LRS:
        for p, lr in itertools.product(range(PROBLEMS), lrs):
            runs.append(dict(study=NAME, run_id=len(runs), method=method, batch=batch, problem=p, lr=lr))
    return runs


def problem(p):
    """Problem ``p``: ``(X, y, beta_star)``."""
    return sparse_problem(np.random.default_rng([PROBLEM_TAG, p]), N, D, S)


def _steps(time_, lr, batch):
    return math.ceil(time_ * N / (batch * lr))


def run(settings):
    r"""Train one network and return its row: the settings and the metrics.

    Returns
    -------
    dict
        The settings, then ``steps``, ``diverged``, ``train_loss``, ``test_error``
        (:math:`\frac12\lVert\beta - \beta^*\rVert^2`), ``shrink_support`` and ``shrink_off``
        (the mean of :math:`\ln(\alpha^2/\alpha_{\infty,i}^2)` over the support of :math:`\beta^*`
        and over the other coordinates), ``pred_error`` (the test error of the interpolator of
        least :math:`\psi_{\alpha_\infty}`), ``pred_gap`` (:math:`\lVert\beta - \beta_{pred}\rVert`),
        ``flow_gap`` (:math:`\lVert\beta - \beta_{flow}\rVert`, the interpolator of least
        :math:`\psi_\alpha`), and ``seconds`` (wall time, not reproduced).
    """
    from threadpoolctl import threadpool_limits

    s = dict(settings)
    start = time.perf_counter()
    X, y, beta_star = problem(s["problem"])
    rng = np.random.default_rng([ORDER_TAG, s["run_id"]])
    theta0 = diagonal_start(ALPHA, D)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a diverged run is recorded as such
        if s["method"] == "gd":
            steps = _steps(T_GD, s["lr"], N)
            out = train_diagonal(X, y, theta0, s["lr"], steps)
        else:
            steps = _steps(T_SGD, s["lr"], s["batch"])
            sigma = SIGMA if s["method"] == "label_noise" else 0.0
            out = train_diagonal(X, y, theta0, s["lr"], steps, batch=s["batch"], label_noise=sigma, rng=rng)
            if sigma > 0 and np.all(np.isfinite(out.theta)):
                final = math.ceil(FINAL_TIME / FINAL_LR)
                out = train_diagonal(X, y, out.theta, FINAL_LR, final)
                steps += final
    theta = out.theta[0, 0]
    row = {**s, "steps": int(out.steps.sum()) if s["method"] != "label_noise" else steps}
    row["diverged"] = bool(not np.all(np.isfinite(theta)))
    nan = float("nan")
    if row["diverged"]:
        row.update(
            train_loss=nan,
            test_error=nan,
            shrink_support=nan,
            shrink_off=nan,
            pred_error=nan,
            pred_gap=nan,
            flow_gap=nan,
        )
    else:
        beta = product(theta)
        with np.errstate(divide="ignore"):
            shrink = np.log(ALPHA**2 / effective_alpha(theta) ** 2)
        alpha_inf = effective_alpha(theta)
        # a scale driven to (nearly) zero leaves no entropy to minimise: no prediction then
        try:
            pred = entropy_interpolator(X, y, alpha_inf) if alpha_inf.min() > MIN_ALPHA else np.full(D, nan)
        except ValueError:  # Newton did not converge for such extreme scales
            pred = np.full(D, nan)
        flow = entropy_interpolator(X, y, ALPHA)
        row.update(
            train_loss=float(0.5 * np.mean((X @ beta - y) ** 2)),
            test_error=float(0.5 * np.sum((beta - beta_star) ** 2)),
            shrink_support=float(shrink[:S].mean()),
            shrink_off=float(shrink[S:].mean()),
            pred_error=float(0.5 * np.sum((pred - beta_star) ** 2)),
            pred_gap=float(np.linalg.norm(beta - pred)),
            flow_gap=float(np.linalg.norm(beta - flow)),
        )
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def rerun(run_id):
    """Recompute row ``run_id`` (the stored settings) and return it."""
    rows = grid()
    if isinstance(run_id, bool) or not isinstance(run_id, int) or not 0 <= run_id < len(rows):
        raise ValueError(f"run_id must be an integer in 0..{len(rows) - 1}, got {run_id!r}")
    return run(rows[run_id])


def run_study(*, data_dir=None, limit=None, progress=True):
    """Run every run not yet in the CSV and write it; returns all rows (one process, one thread)."""
    from tqdm import tqdm

    path = study._path(NAME, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {r["run_id"]: r for r in study.read(NAME, data_dir)} if path.is_file() else {}
    todo = [s for s in grid()[:limit] if s["run_id"] not in done]
    rows = dict(done)
    for i, s in enumerate(tqdm(todo, desc=NAME, unit="run", disable=not progress)):
        rows[s["run_id"]] = run(s)
        if i % 20 == 19:
            study._write(path, rows.values())
    study._write(path, rows.values())
    return study.read(NAME, data_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m igrlib.diagonal_study", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the sweep (resumes: finished runs are skipped)")
    p.add_argument("--data-dir", default=None, help="where the CSV goes (default book/data)")
    p.add_argument("--limit", type=int, default=None, help="only the first LIMIT runs (a quick trial)")
    p = sub.add_parser("rerun", help="recompute one row and print it as JSON")
    p.add_argument("run_id", type=int)
    args = parser.parse_args(argv)
    if args.command == "run":
        rows = run_study(data_dir=args.data_dir, limit=args.limit)
        print(f"{len(rows)} rows in {study._path(NAME, args.data_dir)}")
    else:
        try:
            print(json.dumps(rerun(args.run_id)))
        except ValueError as exc:
            parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
