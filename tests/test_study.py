"""igrlib.study and igrlib.data: the study's runs, its files, its command line, its statistics."""

import json
import math
import random

import numpy as np
import pytest
from scipy import stats

from igrlib import data, study


def tiny(monkeypatch):
    """A study of four quick runs (one of each method) registered as 'tiny'."""

    def runs():
        for method, batch in [("gd", 0), ("sgd", 64), ("gd_smith", 64), ("gd_penalty", 0)]:
            yield dict(data="digits", split=1, seed=2, method=method, lr=0.5, batch=batch)

    monkeypatch.setitem(study.STUDIES, "tiny", (runs, "four quick runs"))
    monkeypatch.setitem(study.DATA, "digits", dict(n_train=128, n_val=50, width=8, t_eq=5.0, max_time=20.0))


def test_mnist1d_is_built_here_and_leaves_global_random_state_alone():
    np.random.seed(123)  # noqa: NPY002
    random.seed(456)  # noqa: NPY002
    before_np, before_py = np.random.random(), random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    random.seed(456)  # noqa: NPY002
    data._load.cache_clear()
    X, y = data.load("mnist1d")
    assert (np.random.random(), random.random()) == (before_np, before_py)  # noqa: NPY002
    assert X.shape == (5000, 40) and np.bincount(y).tolist() == [500] * 10
    assert abs(X.mean()) < 1e-12 and abs(X.std() - 1) < 1e-12  # the generator standardises the signals


def test_split_is_disjoint_reproducible_and_centred():
    X, y = data.load("digits")
    a = data.split(X, y, 100, 50, np.random.default_rng(5))
    b = data.split(X, y, 100, 50, np.random.default_rng(5))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [len(a[f"y_{k}"]) for k in ("train", "val", "test")] == [100, 50, len(y) - 150]
    np.testing.assert_allclose(a["X_train"].mean(axis=0), 0, atol=1e-12)
    rows = {tuple(r) for k in ("train", "val", "test") for r in a[f"X_{k}"]}
    assert len(rows) == len({tuple(r) for r in X})  # every distinct image lands in one part


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: data.load("mnist"), "name must be one of"),
        (lambda: data.split(np.zeros((10, 2)), np.zeros(10, int), 8, 2, np.random.default_rng()), "n_val"),
        (lambda: data.split(np.zeros((10, 2)), np.zeros(10, int), 0, 1, np.random.default_rng()), "n_train"),
        (lambda: data.split(np.zeros((10, 2)), np.zeros(10, int), 5, 1, 0), "rng must be"),
        (lambda: study.grid("nope"), "no study named"),
        (lambda: study.rerun("fullbatch", 10**6), "run_id must be"),
        (lambda: study.paired([1.0]), "at least 2"),
        (lambda: study.run_study("fullbatch", jobs=0), "jobs must be"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_grids_have_unique_ids_and_paired_designs():
    for name in study.STUDIES:
        runs = study.grid(name)
        assert [r["run_id"] for r in runs] == list(range(len(runs)))
        keys = {(r["data"], r["split"], r["seed"], r["method"], r["lr"], r["batch"]) for r in runs}
        assert len(keys) == len(runs)
    full = study.grid("fullbatch")
    for name in ("digits", "mnist1d"):
        lrs = sorted({r["lr"] for r in full if r["data"] == name})
        assert lrs[-1] / lrs[0] >= 100  # at least two decades
        pairs = {(r["split"], r["seed"]) for r in full if r["data"] == name}
        assert len(pairs) == 24  # 8 seeds x 3 splits, every one at every lr
        assert all(sum(r["data"] == name and (r["split"], r["seed"]) == p for r in full) == len(lrs) for p in pairs)


def test_run_study_resumes_and_rerun_reproduces(monkeypatch, tmp_path):
    tiny(monkeypatch)
    rows = study.run_study("tiny", data_dir=tmp_path, progress=False)
    assert [r["method"] for r in rows] == ["gd", "sgd", "gd_smith", "gd_penalty"]
    for r in rows:
        assert r["end_step"] >= r["eq_step"] > 0 and 0 <= r["end_test_acc"] <= 1 and r["sharpness"] > 0
    path = tmp_path / "tiny.csv"
    stamp = path.read_text()
    again = study.run_study("tiny", data_dir=tmp_path, progress=False)  # nothing left to do
    assert path.read_text() == stamp and again == rows
    study.reproduce("tiny", [0, 1, 2, 3], data_dir=tmp_path)
    lines = path.read_text().splitlines()  # a tampered metric is caught, naming the run and column
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("end_test_acc")] = "0.5"
    path.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(AssertionError, match="run 0: end_test_acc"):
        study.reproduce("tiny", [0], data_dir=tmp_path)


def test_a_deleted_row_is_recomputed_identically(monkeypatch, tmp_path):
    tiny(monkeypatch)
    rows = study.run_study("tiny", data_dir=tmp_path, progress=False)
    lines = (tmp_path / "tiny.csv").read_text().splitlines()
    (tmp_path / "tiny.csv").write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # drop run 1
    again = study.run_study("tiny", data_dir=tmp_path, progress=False)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(again) == strip(rows)


def test_jobs_and_dask_cluster_give_the_same_rows(monkeypatch, tmp_path):
    tiny(monkeypatch)
    distributed = pytest.importorskip("distributed")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    one = strip(study.run_study("tiny", data_dir=tmp_path / "a", progress=False))
    two = strip(study.run_study("tiny", jobs=2, data_dir=tmp_path / "b", progress=False))
    # run() needs only a row's settings, so any worker computes it; threads start faster here.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            dask = strip(study.run_study("tiny", dask=client, data_dir=tmp_path / "c", progress=False))
    assert one == two == dask


def test_command_line(capsys):
    with pytest.raises(SystemExit):
        study.main(["--help"])
    out = capsys.readouterr().out
    assert "fullbatch" in out and "minibatch" in out
    with pytest.raises(SystemExit):
        study.main(["rerun", "fullbatch", "999999"])
    assert "run_id must be" in capsys.readouterr().err


def test_stored_row_reruns_from_the_command_line(capsys):
    rows = study.read("fullbatch")
    cheap = min(rows, key=lambda r: r["seconds"])
    study.main(["rerun", "fullbatch", str(cheap["run_id"])])
    fresh = json.loads(capsys.readouterr().out)
    for key in study.METRICS:
        assert math.isclose(fresh[f"end_{key}"], cheap[f"end_{key}"], rel_tol=1e-6)


def test_paired_interval_matches_scipy():
    rng = np.random.default_rng(0)
    d = rng.normal(0.3, 1.0, size=24)
    got = study.paired(d)
    low, high = stats.t.interval(0.95, 23, loc=d.mean(), scale=stats.sem(d))
    assert got["df"] == 23 and got["k"] == 24
    np.testing.assert_allclose([got["low"], got["high"]], [low, high], rtol=1e-12)
    np.testing.assert_allclose(got["p"], stats.ttest_1samp(d, 0).pvalue, rtol=1e-10)


def test_end_point_is_the_first_check_at_the_target_even_before_the_eq_point(monkeypatch):
    monkeypatch.setitem(study.DATA, "digits", dict(n_train=64, n_val=50, width=8, t_eq=0.0, max_time=500.0))
    s = dict(study.grid("minibatch")[1], lr=0.5, batch=16, target=0.3, eq_epochs=200)
    assert s["data"] == "digits" and s["method"] == "sgd"
    row = study.run(s)
    epoch = row["end_step"] // 4  # four minibatches per epoch: the target is checked once an epoch
    assert row["converged"] and row["end_train_loss"] <= 0.3 and row["end_step"] == 4 * epoch
    assert row["eq_step"] == 4 * 200 > row["end_step"] and row["eq_train_loss"] < row["end_train_loss"]
    # the same trajectory observed one epoch earlier was still above the target, and at the end epoch the same
    before = study.run(dict(s, eq_epochs=epoch - 1))
    at = study.run(dict(s, eq_epochs=epoch))
    assert before["eq_train_loss"] > 0.3
    assert at["eq_train_loss"] == row["end_train_loss"] and at["end_step"] == row["end_step"]
