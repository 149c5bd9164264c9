r"""The study behind the book's answer: does a too-small learning rate hurt a real network?

``python -m igrlib.study --help`` lists the studies; ``python -m igrlib.study run NAME``
trains every run of study ``NAME`` and writes one row per run to ``book/data/NAME.csv``
(finished runs are skipped, so an interrupted study resumes); ``python -m igrlib.study rerun
NAME RUN_ID`` recomputes one row and prints it as JSON. Every run trains one network alone,
with one BLAS thread, so a row's arithmetic does not depend on how runs are spread over
processes (``--jobs N``) or over a Dask cluster (``--dask ADDRESS``).

Each run trains a tanh MLP (:class:`igrlib.MLP`, cross-entropy) on a random split of a real
data set (:mod:`igrlib.data`) with one of four methods, all with learning rate :math:`h`:

* ``gd``: full-batch gradient descent, :math:`\theta \leftarrow \theta - h\nabla L`;
* ``sgd``: minibatch SGD with random reshuffling each epoch, batch size :math:`B`;
* ``gd_smith``: full-batch GD on Smith et al.'s modified loss of SGD,
  :math:`L + \frac{h}{4m}\sum_{k=1}^m \lvert\nabla C_k\rvert^2` over the :math:`m = n/B`
  minibatches of a fresh random partition each step (exact minibatch Hessian-vector products);
* ``gd_penalty``: full-batch GD on :math:`L + \frac h4 \lvert\nabla L\rvert^2` (the implicit
  penalty of GD added once more, explicitly).

Every run records the metrics at two points: ``eq``, a fixed time ``t_eq`` in the full-batch
study or a fixed number of epochs ``eq_epochs`` in the minibatch study; and ``end``, the first
check (once per unit of time :math:`t = h \cdot \text{steps}`, or once per epoch) at which the
training loss is at or below ``target``, or ``max_time`` if it never gets there. A run that
reaches the target before the ``eq`` point trains on until the ``eq`` point, but its ``end``
metrics are those at the target. The sharpness at ``end`` comes from Lanczos
(``scipy.sparse.linalg.eigsh`` on exact Hessian-vector products).

References
----------
D. G. T. Barrett, B. Dherin, Implicit gradient regularization, ICLR 2021.
S. L. Smith, B. Dherin, D. G. T. Barrett, S. De, On the origin of implicit regularization in
stochastic gradient descent, ICLR 2021.
Chapter *The study: does a too-small learning rate hurt a real network?*
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import pathlib
import sys
import time

import numpy as np
from scipy import stats

from . import data
from .curvature import sharpness
from .mlp import MLP

__all__ = ["STUDIES", "grid", "run", "rerun", "read", "paired", "reproduce"]

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "book" / "data"

# Random streams: numpy.random.default_rng([TAG, ...]) keeps splits, initialisations and
# minibatch orders independent of one another.
SPLIT_TAG, INIT_TAG, ORDER_TAG = 11, 22, 33

# Per data set: training/validation sizes, hidden width, equal time t_eq and the time cap.
# Fixed before any run was looked at (a pilot timed one seed on one split; see book/data/README.md).
DATA = {
    "digits": dict(n_train=256, n_val=300, width=32, t_eq=100.0, max_time=2000.0),
    "mnist1d": dict(n_train=512, n_val=500, width=32, t_eq=300.0, max_time=4000.0),
}
TARGET = 0.01  # training cross-entropy at which a run counts as converged
EQ_EPOCHS = 100  # the minibatch study's first comparison point: a fixed number of epochs


def _fullbatch():
    lrs = {"digits": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0], "mnist1d": [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]}
    for name, split, seed in itertools.product(DATA, range(3), range(8)):
        for lr in lrs[name]:
            yield dict(data=name, split=split, seed=seed, method="gd", lr=lr, batch=0)


def _minibatch():
    # per data set: batch sizes (the last is the full batch, plain GD) and the batch of the explicit regulariser
    batches = {"digits": ([4, 16, 64, 256], 16), "mnist1d": ([8, 32, 128, 512], 32)}
    for name, (sizes, smith) in batches.items():
        for split, seed in itertools.product(range(3), range(4)):
            for lr, batch in itertools.product([0.0625, 0.125, 0.25, 0.5, 1.0, 2.0], sizes):
                method = "gd" if batch == DATA[name]["n_train"] else "sgd"
                batch = batch if method == "sgd" else 0
                yield dict(data=name, split=split, seed=seed, method=method, lr=lr, batch=batch)
            for lr in [0.25, 1.0, 2.0]:
                yield dict(data=name, split=split, seed=seed, method="gd_smith", lr=lr, batch=smith)
                yield dict(data=name, split=split, seed=seed, method="gd_penalty", lr=lr, batch=0)


# -- the preregistered confirmatory study (protocol: book/data/confirm_protocol.md) -----------------
# Chapter 5's exploratory setting (squared loss, initial weights four times LeCun's, digits) on fresh
# splits, one split and one initialisation per replicate (no two replicates share either).
CONFIRM = dict(
    data="digits",
    n_train=200,
    n_val=300,
    width=32,
    loss="squared",
    init_scale=4.0,
    t_eq=40.0,
    target=0.12,
    max_time=120.0,
    eq_epochs=0,
    early_stop=True,
)
CONFIRM_H_MAX = 0.15  # 2 / the largest initial sharpness of the pilot's four starts (13.5), rounded
CONFIRM_REPLICATES = range(100, 120)  # split i and seed i for replicate i; 0..99 are never used here
CONFIRM_ARMS = [
    (0.025, 0.0),
    (0.05, 0.0),
    (0.075, 0.0),
    (0.1, 0.0),
    (0.135, 0.0),
    (0.025, 0.025),
    (0.025, 0.1),
    (0.025, 0.4),
]


def _confirm():
    for i in CONFIRM_REPLICATES:
        for lr, mu in CONFIRM_ARMS:
            method = "gd_explicit" if mu else "gd"
            yield dict(CONFIRM, split=i, seed=i, method=method, lr=lr, mu=mu, batch=0)


STUDIES = {
    "fullbatch": (_fullbatch, "full-batch GD on digits and MNIST-1D, 8 seeds x 3 splits, lr over 2+ decades"),
    "minibatch": (
        _minibatch,
        "SGD over (h, B) on digits and MNIST-1D, 4 seeds x 3 splits; Smith et al.'s and the full-batch penalty",
    ),
    "confirm": (_confirm, "preregistered: chapter 5's squared-loss large start, GD near the limit, explicit mu"),
}


def grid(name):
    """Every run of study ``name``: a list of settings dicts, each with a unique ``run_id``."""
    if name not in STUDIES:
        raise ValueError(f"no study named {name!r}; studies: {', '.join(STUDIES)}")
    runs = []
    for i, s in enumerate(STUDIES[name][0]()):
        fixed = dict(target=TARGET, init_scale=1.0, eq_epochs=EQ_EPOCHS if name == "minibatch" else 0)
        defaults = {k: v for k, v in {**DATA[s["data"]], **fixed}.items() if k not in s}  # a run's own settings win
        runs.append(dict(study=name, run_id=i, **s, **defaults))
    return runs


def _accuracy(net, theta, parts, key):
    return float(net.accuracy(theta, parts[f"X_{key}"], parts[f"y_{key}"]))


def _metrics(net, theta, parts, L, kind="cross_entropy"):
    out = dict(train_loss=float(L.value(theta)))
    for key in ("train", "val", "test"):
        out[f"{key}_acc"] = _accuracy(net, theta, parts, key)
    out["test_loss"] = float(net.loss(parts["X_test"], parts["y_test"], kind=kind).value(theta))
    return out


def _minibatches(rng, n, batch):
    """The index sets of one epoch of random reshuffling."""
    perm = rng.permutation(n)
    return [perm[i : i + batch] for i in range(0, n, batch)]


def run(settings):
    r"""Train the network of one run and return its row: the settings and the metrics.

    Parameters
    ----------
    settings : dict
        One entry of :func:`grid`.

    Returns
    -------
    dict
        The settings, then for each point ``eq_`` and ``end_`` the metrics ``step``, ``time``,
        ``train_loss``, ``train_acc``, ``val_acc``, ``test_acc`` and ``test_loss`` (for example
        ``end_test_acc``), ``converged`` (the target was reached), ``diverged`` and
        ``sharpness`` (Lanczos, at the end). ``seconds`` is the wall time (not part of the
        reproduced metrics).
    """
    from threadpoolctl import threadpool_limits

    s = dict(settings)
    start = time.perf_counter()
    with threadpool_limits(1):
        X, y = data.load(s["data"])
        parts = data.split(X, y, s["n_train"], s["n_val"], np.random.default_rng([SPLIT_TAG, s["split"]]))
        net = MLP((X.shape[1], s["width"], 10))
        theta = net.init(np.random.default_rng([INIT_TAG, s["seed"]]), scale=s["init_scale"])
        L = net.loss(parts["X_train"], parts["y_train"], kind=s.get("loss", "cross_entropy"))
        row = {**s, **_train(net, L, theta, parts, s)}
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _train(net, L, theta, parts, s):
    h, method, n = s["lr"], s["method"], s["n_train"]
    kind, early = s.get("loss", "cross_entropy"), s.get("early_stop", False)
    best = None  # early stopping: (validation accuracy, step, theta) of the best check so far
    out = {}
    if early:  # the studies with early stopping also record the sharpness at the start
        out["start_sharpness"] = sharpness(L, theta, rng=np.random.default_rng([INIT_TAG, s["seed"], 1]))
    order = np.random.default_rng([ORDER_TAG, s["seed"], s["split"]])
    Xtr, ytr = parts["X_train"], parts["y_train"]
    batch_losses = lambda idx: net.loss(Xtr[idx], ytr[idx])  # noqa: E731
    per_check = n // s["batch"] if method == "sgd" else max(1, round(1.0 / h))  # an epoch / a unit of time
    if s["eq_epochs"]:  # the eq point after a fixed number of epochs (a full-batch step is an epoch)
        eq_step = s["eq_epochs"] * (n // s["batch"] if method == "sgd" else 1)
    else:  # the eq point at a fixed time t = h * steps
        eq_step = round(s["t_eq"] / h)
    max_steps = max(math.ceil(s["max_time"] / h), eq_step)
    step, queue, end, diverged = 0, [], None, False
    while True:
        if method == "gd":
            theta = theta - h * L.grad(theta)
        elif method == "gd_penalty":
            g = L.grad(theta)
            theta = theta - h * (g + 0.5 * h * L.hvp(theta, g))
        elif method == "gd_explicit":  # GD on L + mu |grad L|^2, mu decoupled from h
            g = L.grad(theta)
            theta = theta - h * (g + 2 * s["mu"] * L.hvp(theta, g))
        elif method == "gd_smith":
            ks = _minibatches(order, n, s["batch"])
            g = L.grad(theta)
            for idx in ks:
                C = batch_losses(idx)
                g = g + (h / (2 * len(ks))) * C.hvp(theta, C.grad(theta))
            theta = theta - h * g
        else:  # sgd
            if not queue:
                queue = _minibatches(order, n, s["batch"])
            theta = theta - h * batch_losses(queue.pop(0)).grad(theta)
        step += 1
        if step == eq_step:
            out.update({f"eq_{k}": v for k, v in _metrics(net, theta, parts, L, kind).items()})
            out.update(eq_step=step, eq_time=step * h)
        if step % per_check == 0 or step >= max_steps:
            loss = float(L.value(theta))
            if not np.isfinite(loss) or loss > 1e6:
                diverged = True
                break
            if end is None and (loss <= s["target"] or step >= max_steps):
                end = (step, theta)  # the end point: the first check at the target (or the cap)
            if early:  # the check with the best validation accuracy (the first of equals)
                val = _accuracy(net, theta, parts, "val")
                if best is None or val > best[0]:
                    best = (val, step, theta)
            if end is not None and step >= eq_step and (not early or step >= max_steps):  # every point recorded
                break
    if early and best is not None and not diverged:  # with early stopping a run trains to the cap
        out.update({f"es_{k}": v for k, v in _metrics(net, best[2], parts, L, kind).items()})
        out.update(es_step=best[1], es_time=best[1] * h)
    if end is None:  # diverged before the end point
        out.update(diverged=True, converged=False, end_step=step, end_time=step * h, sharpness=float("nan"))
        return out
    step, theta = end
    out.update(
        {f"end_{k}": v for k, v in _metrics(net, theta, parts, L, kind).items()}, end_step=step, end_time=step * h
    )
    out["converged"] = bool(out["end_train_loss"] <= s["target"])
    out["diverged"] = diverged  # True only if it blew up after the end point, before the eq point
    out["sharpness"] = sharpness(L, theta, rng=np.random.default_rng([INIT_TAG, s["seed"], 1]))  # Lanczos
    return out


# -- results files -------------------------------------------------------------------------


def _path(name, data_dir=None):
    return pathlib.Path(data_dir or DATA_DIR) / f"{name}.csv"


def _parse(value):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"True": True, "False": False, "": None}.get(value, value)


def read(name, data_dir=None):
    """The stored rows of study ``name`` as a list of dicts (numbers parsed), sorted by run_id."""
    path = _path(name, data_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no results for study {name!r} at {path}; run: python -m igrlib.study run {name}")
    with open(path, newline="") as f:
        rows = [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return sorted(rows, key=lambda r: r["run_id"])


def _write(path, rows):
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, columns, lineterminator="\n")
        w.writeheader()
        for r in sorted(rows, key=lambda r: r["run_id"]):
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    os.replace(tmp, path)


def run_study(name, *, jobs=1, dask=None, data_dir=None, limit=None, progress=True):
    """Run every run of ``name`` not yet in its CSV and write the CSV; returns all rows."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    path = _path(name, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    todo = grid(name)[:limit]
    done = {r["run_id"]: r for r in read(name, data_dir)} if path.is_file() else {}
    todo = [s for s in todo if s["run_id"] not in done]
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc=name, unit="run", disable=not progress)
    rows = dict(done)
    for i, row in enumerate(_map(todo, jobs, dask)):
        rows[row["run_id"]] = row
        bar.update()
        if i % 20 == 19:
            _write(path, rows.values())
    bar.close()
    _write(path, rows.values())
    return read(name, data_dir)


def _map(todo, jobs, dask):
    if dask is not None:
        from distributed import Client, as_completed

        client = dask if hasattr(dask, "submit") else Client(dask)
        for future in as_completed(client.map(run, todo, pure=False)):
            yield future.result()
    elif jobs == 1:
        yield from map(run, todo)
    else:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            yield from pool.map(run, todo, chunksize=1)


METRICS = ("train_loss", "train_acc", "val_acc", "test_acc", "test_loss")


def rerun(name, run_id, data_dir=None):
    """Recompute row ``run_id`` of study ``name`` (the stored settings) and return it."""
    rows = {r["run_id"]: r for r in grid(name)}
    if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id not in rows:
        raise ValueError(f"run_id must be an integer in 0..{len(rows) - 1} for study {name!r}, got {run_id!r}")
    return run(rows[run_id])


def reproduce(name, run_ids, *, rtol=1e-6, data_dir=None):
    """Rerun ``run_ids`` and check every metric against the stored row to ``rtol``; returns the rows.

    Raises AssertionError naming the run and the metric that differs.
    """
    stored = {r["run_id"]: r for r in read(name, data_dir)}
    fresh = []
    for i in run_ids:
        new = rerun(name, i, data_dir)
        for key, old in stored[i].items():
            if key == "seconds" or not isinstance(old, float):
                continue
            same = math.isclose(new[key], old, rel_tol=rtol, abs_tol=1e-12)
            if not same and not (math.isnan(old) and math.isnan(new[key])):
                raise AssertionError(f"{name} run {i}: {key} = {new[key]!r} now, {old!r} stored")
        fresh.append(new)
    return fresh


# -- statistics ------------------------------------------------------------------------------


def paired(diffs, *, level=0.95):
    r"""Mean of paired differences with a t-based confidence interval.

    Parameters
    ----------
    diffs : array_like, shape (k,)
        One difference per pair (for example per seed x split), ``k >= 2``.
    level : float

    Returns
    -------
    dict
        ``mean``, ``low``, ``high`` (the interval, :math:`\bar d \pm t_{k-1} s/\sqrt k`),
        ``df = k - 1``, ``p`` (two-sided, against a zero mean) and ``k``.
    """
    d = np.asarray(diffs, dtype=float)
    if d.ndim != 1 or d.size < 2 or not np.all(np.isfinite(d)):
        raise ValueError(f"diffs must be a 1-D array of at least 2 finite numbers, got shape {d.shape}")
    k, mean = d.size, float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(k))
    t = float(stats.t.ppf(0.5 + level / 2, k - 1))
    p = float(2 * stats.t.sf(abs(mean) / se, k - 1)) if se > 0 else (0.0 if mean else 1.0)
    return dict(mean=mean, low=mean - t * se, high=mean + t * se, df=k - 1, p=p, k=k)


def main(argv=None):
    lines = "\n".join(f"  {n:10s} {doc}" for n, (_, doc) in STUDIES.items())
    parser = argparse.ArgumentParser(
        prog="python -m igrlib.study",
        description=__doc__.splitlines()[0],
        epilog="studies:\n" + lines,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a study (resumes: finished runs are skipped)")
    p.add_argument("name", choices=list(STUDIES))
    p.add_argument("--jobs", type=int, default=1, help="processes on this machine (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", help="send the runs to a Dask distributed scheduler")
    p.add_argument("--data-dir", default=None, help="where the CSV goes (default book/data)")
    p.add_argument("--limit", type=int, default=None, help="only the first LIMIT runs (a quick trial)")
    p = sub.add_parser("rerun", help="recompute one row and print it as JSON")
    p.add_argument("name", choices=list(STUDIES))
    p.add_argument("run_id", type=int)
    args = parser.parse_args(argv)
    if args.command == "run":
        rows = run_study(args.name, jobs=args.jobs, dask=args.dask, data_dir=args.data_dir, limit=args.limit)
        print(f"{len(rows)} rows in {_path(args.name, args.data_dir)}")
    else:
        try:
            print(json.dumps(rerun(args.name, args.run_id)))
        except ValueError as exc:
            parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
