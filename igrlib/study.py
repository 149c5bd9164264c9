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
  penalty of GD added once more, explicitly);
* ``gd_explicit``: full-batch GD on :math:`L + \mu \lvert\nabla L\rvert^2` with a coefficient
  :math:`\mu` decoupled from :math:`h` (the confirmatory study).

Every run records the metrics at two points: ``eq``, a fixed time ``t_eq`` in the full-batch
study or a fixed number of epochs ``eq_epochs`` in the minibatch study; and ``end``, the first
check at which the training loss is at or below ``target``, or ``max_time`` if it never gets
there. Full-batch methods check every :math:`\max(1, \operatorname{round}(1/h))` steps (once per
unit of time :math:`t = h \cdot \text{steps}` for :math:`h \le 2/3`, every step, that is every
:math:`h` units, above), SGD once per epoch. With ``early_stop`` (the confirmatory study) a run
trains to ``max_time`` and also records ``es``, the check with the best validation accuracy. A run that
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
import importlib.resources
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


def _results_dir():
    """The committed results: ``book/data`` of the source tree, or, in an installed wheel (no
    source tree), the copy of it inside the package (``igrlib/results``)."""
    source = pathlib.Path(__file__).resolve().parent.parent / "book" / "data"
    if source.is_dir():
        return source
    return pathlib.Path(str(importlib.resources.files("igrlib") / "results"))


DATA_DIR = _results_dir()

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


# The protocol's primary comparisons (arm minus reference, test accuracy at equal time) and its margin.
CONFIRM_PRIMARY = {
    "P1": ((0.1, 0.0), (0.025, 0.0)),
    "P2": ((0.135, 0.0), (0.025, 0.0)),
    "P3": ((0.025, 0.4), (0.025, 0.0)),
}
CONFIRM_MARGIN = 0.3  # points of test accuracy
CONFIRM_LEVEL = 1 - 0.05 / len(CONFIRM_PRIMARY)  # Bonferroni over the primary comparisons


def arm_differences(rows, arm, ref, key="eq_test_acc", scale=100.0):
    """Paired differences ``arm - ref`` of column ``key`` (times ``scale``) over the replicates of the
    confirmatory study, in replicate order, and the number of replicates left out because a run of
    either arm diverged or has no value for ``key``."""
    runs = {}
    for r in rows:
        runs.setdefault((r["lr"], r["mu"]), {})[r["split"]] = r
    a, b = runs[arm], runs[ref]
    usable = [
        i for i in sorted(a) if i in b and all(not x["diverged"] and x.get(key) is not None for x in (a[i], b[i]))
    ]
    d = np.array([scale * (a[i][key] - b[i][key]) for i in usable])
    return d, len(set(a) | set(b)) - len(usable)


def confirm_primary(rows):
    """The protocol's analysis: per primary comparison the interval at :data:`CONFIRM_LEVEL`, the
    verdict against :data:`CONFIRM_MARGIN` (:func:`verdict`) and the replicates left out."""
    out = {}
    for name, (arm, ref) in CONFIRM_PRIMARY.items():
        d, left_out = arm_differences(rows, arm, ref)
        ci = paired(d, level=CONFIRM_LEVEL)
        out[name] = dict(ci, arm=arm, ref=ref, verdict=verdict(ci, CONFIRM_MARGIN), left_out=left_out)
    return out


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
        ``se``, ``df = k - 1``, ``p`` (two-sided, against a zero mean), ``k`` and ``level``.
    """
    d = np.asarray(diffs, dtype=float)
    if d.ndim != 1 or d.size < 2 or not np.all(np.isfinite(d)):
        raise ValueError(f"diffs must be a 1-D array of at least 2 finite numbers, got shape {d.shape}")
    k, mean = d.size, float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(k))
    t = float(stats.t.ppf(0.5 + level / 2, k - 1))
    p = float(2 * stats.t.sf(abs(mean) / se, k - 1)) if se > 0 else (0.0 if mean else 1.0)
    return dict(mean=mean, low=mean - t * se, high=mean + t * se, se=se, df=k - 1, p=p, k=k, level=level)


# -- analysis: tables of paired gains, the crossed design, verdicts ----------------------------
# Analysis functions of the study chapter (crossed, gains, ...); not in __all__, so not in the API pages.


def table(rows, key, *, by="lr", **where):
    """``{setting: values}`` of column ``key`` for the rows that match ``where``, one entry per value
    of column ``by``; the values come in (split, seed) order, so entry ``i`` of every array is the
    same replicate.

    Examples
    --------
    >>> rows = [dict(lr=lr, split=s, seed=0, acc=lr + s) for lr in (1, 2) for s in (1, 0)]
    >>> {lr: v.tolist() for lr, v in table(rows, "acc").items()}
    {1: [1.0, 2.0], 2: [2.0, 3.0]}
    """
    out = {}
    for r in sorted(rows, key=lambda r: (r["split"], r["seed"])):
        if all(r[k] == v for k, v in where.items()):
            out.setdefault(r[by], []).append(r[key])
    return {k: np.array(v, dtype=float) for k, v in sorted(out.items())}


def replicates(rows):
    """The design of ``rows``: ``(splits, seeds)``, the sorted distinct values of each."""
    return sorted({r["split"] for r in rows}), sorted({r["seed"] for r in rows})


def gains(rows, key, ref, *, by="lr", scale=100.0, level=0.95, **where):
    """Paired gains in ``key`` (times ``scale``: points for accuracies) of every setting of ``by``
    over the setting ``ref``, replicate by replicate, each analysed by :func:`crossed`.

    In a crossed design (every seed on every split) the differences are arranged as a
    (splits x seeds) matrix; with one seed per split, they are plain pairs (:func:`paired`).
    """
    t = table(rows, key, by=by, **where)
    splits, seeds = replicates([r for r in rows if all(r[k] == v for k, v in where.items())])
    shape = (len(splits), len(seeds)) if len(splits) * len(seeds) == t[ref].size else (t[ref].size,)
    return {k: crossed(scale * (v - t[ref]).reshape(shape), level=level) for k, v in t.items() if k != ref}


def _interval(mean, se, df, level):
    if se == 0:
        return dict(mean=mean, low=mean, high=mean, se=0.0, df=df, p=0.0 if mean else 1.0)
    t = float(stats.t.ppf(0.5 + level / 2, df))
    p = float(2 * stats.t.sf(abs(mean) / se, df))
    return dict(mean=mean, low=mean - t * se, high=mean + t * se, se=se, df=df, p=p)


def crossed(d, *, level=0.95):
    r"""The mean of paired differences from a crossed design, with its intervals.

    Parameters
    ----------
    d : array_like, shape (J, I) or (k,)
        One difference per replicate: rows are splits, columns initialisation seeds (every seed
        on every split). A 1-D array holds independent replicates.
    level : float

    Returns
    -------
    dict
        The interval of the two-way random-effects model (``mean``, ``low``, ``high``, ``se``,
        ``df``, ``p``, ``k``), and, for a matrix, ``seeds`` (the column means as ``I``
        replicates, ``I - 1`` d.f.), ``splits`` (the row means, ``J - 1`` d.f.) and ``pairs``
        (all ``IJ`` differences as if independent, the naive interval), each a dict of the same
        keys. For a 1-D array all four are :func:`paired`'s interval.

    Notes
    -----
    Model: :math:`d_{ji} = \mu + a_j + b_i + e_{ji}`, with independent split effects
    :math:`a_j` (variance :math:`\sigma_a^2`), seed effects :math:`b_i` and residuals. With
    the mean squares :math:`M_a = I\sum_j(\bar d_{j\cdot}-\bar d)^2/(J-1)`,
    :math:`M_b = J\sum_i(\bar d_{\cdot i}-\bar d)^2/(I-1)` and the residual :math:`M_e`,
    :math:`\operatorname{Var}\bar d = \sigma_a^2/J + \sigma_b^2/I + \sigma_e^2/(IJ)` is
    estimated by :math:`(\max(M_a - M_e, 0) + \max(M_b - M_e, 0) + M_e)/(IJ)` (variance
    components below zero set to zero), with Satterthwaite's degrees of freedom. With
    :math:`\sigma_e = 0` it equals the interval of neither margin alone: it adds both.
    """
    d = np.asarray(d, dtype=float)
    if d.ndim not in (1, 2) or d.size < 2 or not np.all(np.isfinite(d)):
        raise ValueError(f"d must be a 1-D or 2-D array of at least 2 finite numbers, got shape {d.shape}")
    if d.ndim == 1 or 1 in d.shape:
        ci = paired(d.ravel(), level=level)
        return dict(ci, seeds=ci, splits=ci, pairs=ci)
    J, I = d.shape
    if J < 2 or I < 2:
        raise ValueError(f"d must have at least 2 splits and 2 seeds, got shape {d.shape}")
    mean = float(d.mean())
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    ms_a = I * float(np.sum((rows - mean) ** 2)) / (J - 1)
    ms_b = J * float(np.sum((cols - mean) ** 2)) / (I - 1)
    resid = d - rows[:, None] - cols[None, :] + mean
    df_e = (J - 1) * (I - 1)
    ms_e = float(np.sum(resid**2)) / df_e
    use_a, use_b = float(ms_a > ms_e), float(ms_b > ms_e)  # components estimated above zero
    coef = np.array([use_a, use_b, 1.0 - use_a - use_b])
    ms = np.array([ms_a, ms_b, ms_e])
    dfs = np.array([J - 1, I - 1, df_e], dtype=float)
    var = float(coef @ ms) / (I * J)
    denom = float(np.sum((coef * ms) ** 2 / dfs))
    df = float((coef @ ms) ** 2 / denom) if denom > 0 else float(I * J - 1)
    out = dict(_interval(mean, math.sqrt(max(var, 0.0)), df, level), k=d.size, level=level)
    out["seeds"] = paired(cols, level=level)
    out["splits"] = paired(rows, level=level)
    out["pairs"] = paired(d.ravel(), level=level)
    return out


def detectable(ci, *, power=0.8, level=None):
    r"""The smallest true mean difference that the interval's test detects with probability ``power``.

    For a two-sided test at ``1 - level`` with standard error ``se`` and ``df`` degrees of
    freedom: :math:`(t_{(1+\text{level})/2,\,df} + t_{\text{power},\,df})\, se`, the usual
    approximation (it ignores the chance of a significant result of the wrong sign).

    Parameters
    ----------
    ci : dict
        An interval from :func:`paired` or :func:`crossed` (its ``se`` and ``df``).
    power : float
        In (0, 1).
    level : float, optional
        The confidence level; by default the one the interval was built with (0.95 if unknown).
    """
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power!r}")
    level = ci.get("level", 0.95) if level is None else level
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    df = ci["df"]
    return float((stats.t.ppf(0.5 + level / 2, df) + stats.t.ppf(power, df)) * ci["se"])


def verdict(ci, margin):
    """What an interval says about a difference, against an equivalence margin.

    ``"higher"`` (the interval lies above 0), ``"lower"`` (below 0), ``"within +-margin"`` (it
    contains 0 and lies inside ``[-margin, margin]``), else ``"inconclusive"``.
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    if ci["low"] > 0:
        return "higher"
    if ci["high"] < 0:
        return "lower"
    if -margin <= ci["low"] and ci["high"] <= margin:
        return f"within +-{margin:g}"
    return "inconclusive"


def validation_choice(rows, key="end_val_acc", *, by="lr"):
    """The setting of ``by`` with the highest mean ``key`` (the validation accuracy at the end
    point), among settings whose runs all converged; a tie goes to the smaller setting.

    Returns ``(best, runner_up, margin)``, the margin in points of mean ``key``.

    Examples
    --------
    >>> rows = [dict(lr=lr, split=0, seed=s, converged=True, end_val_acc=v)
    ...         for lr, v in [(0.1, 0.9), (0.2, 0.92), (0.5, 0.92)] for s in (0, 1)]
    >>> validation_choice(rows)
    (0.2, 0.5, 0.0)
    """
    ok = {r[by] for r in rows} - {r[by] for r in rows if not r["converged"]}
    val = {k: float(v.mean()) for k, v in table([r for r in rows if r[by] in ok], key, by=by).items()}
    best, runner = sorted(val, key=lambda k: (-val[k], k))[:2]
    return best, runner, 100 * (val[best] - val[runner])


def fmt(ci, digits=2):
    """``"+0.09 [+0.02, +0.16]"``: an interval's mean and bounds with a sign."""
    return f"{ci['mean']:+.{digits}f} [{ci['low']:+.{digits}f}, {ci['high']:+.{digits}f}]"


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
