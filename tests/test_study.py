"""igrlib.study and igrlib.data: the study's runs, its files, its command line, its statistics."""

import json
import math
import pathlib
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
        keys = {(r["data"], r["split"], r["seed"], r["method"], r["lr"], r["batch"], r.get("mu")) for r in runs}
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


# -- the analysis helpers ------------------------------------------------------------------------


def test_crossed_two_way_hand_case():
    # d = mu + a_split + b_seed exactly: rows (splits) differ by 1, columns (seeds) by 2
    d = np.array([[1.0, 3.0], [2.0, 4.0]])
    ci = study.crossed(d)
    # mean squares: splits 2 * (0.25 + 0.25) / 1 = 1, seeds 2 * (1 + 1) / 1 = 4, residual 0
    assert ci["mean"] == 2.5 and math.isclose(ci["se"], math.sqrt((1 + 4) / 4))
    assert math.isclose(ci["df"], 25 / 17)  # Satterthwaite: (1 + 4)^2 / (1^2 / 1 + 4^2 / 1)
    assert math.isclose(ci["high"] - ci["mean"], stats.t.ppf(0.975, 25 / 17) * math.sqrt(5 / 4))
    assert ci["seeds"] == study.paired([1.5, 3.5]) and ci["splits"] == study.paired([2.0, 3.0])
    assert ci["pairs"] == study.paired([1.0, 3.0, 2.0, 4.0])


def test_crossed_interval_drops_a_component_below_zero_and_handles_ties():
    # no seed effect at all: the seed component (M_b - M_e < 0) is set to zero, var = M_a / (IJ)
    d = np.array([[0.0, 1.0, -1.0], [2.0, 1.0, 3.0]])
    ci = study.crossed(d)
    ms_a = 3 * (1.0**2 + 1.0**2) / 1
    assert math.isclose(ci["se"], math.sqrt(ms_a / 6)) and ci["df"] == 1
    same = study.crossed(np.full((3, 4), 0.25))  # bit-identical replicates: a zero-width interval
    assert same["low"] == same["high"] == 0.25 and same["p"] == 0.0
    assert study.crossed(np.zeros((3, 4)))["p"] == 1.0
    flat = study.crossed([0.1, 0.3, 0.2])  # independent replicates: paired's interval
    assert {k: flat[k] for k in ("mean", "low", "high", "df")} == {
        k: study.paired([0.1, 0.3, 0.2])[k] for k in ("mean", "low", "high", "df")
    }


def test_crossed_interval_covers_and_the_naive_one_does_not():
    # 3 splits x 8 seeds with a large split effect: the naive interval (24 "independent" pairs) and the
    # seed-level interval ignore it and cover the true mean far less often than 95 %
    rng = np.random.default_rng(7)
    cover = {"twoway": 0, "pairs": 0, "seeds": 0}
    n = 600
    for _ in range(n):
        d = 0.5 + rng.normal(0, 1.0, (3, 1)) + rng.normal(0, 0.3, (1, 8)) + rng.normal(0, 0.2, (3, 8))
        ci = study.crossed(d)
        for key, c in [("twoway", ci), ("pairs", ci["pairs"]), ("seeds", ci["seeds"])]:
            cover[key] += c["low"] <= 0.5 <= c["high"]
    assert cover["twoway"] / n > 0.92
    assert cover["pairs"] / n < 0.6 and cover["seeds"] / n < 0.6


def test_detectable_effect_has_the_stated_power():
    k, sd = 20, 0.3
    ci = study.paired(np.random.default_rng(1).normal(0, sd, k))
    delta = study.detectable(ci, power=0.8)
    crit = stats.t.ppf(0.975, k - 1)
    ncp = delta / ci["se"]
    power = stats.nct.sf(crit, k - 1, ncp) + stats.nct.cdf(-crit, k - 1, ncp)
    assert abs(power - 0.8) < 0.01
    big = dict(se=1.0, df=10**7)
    assert math.isclose(study.detectable(big, level=0.95), 1.959964 + 0.841621, rel_tol=1e-5)
    with pytest.raises(ValueError, match="power"):
        study.detectable(ci, power=1.0)


def test_verdict_and_fmt():
    ci = lambda low, high: dict(mean=(low + high) / 2, low=low, high=high)  # noqa: E731
    assert study.verdict(ci(0.01, 0.5), 0.3) == "higher"
    assert study.verdict(ci(-0.5, -0.01), 0.3) == "lower"
    assert study.verdict(ci(-0.2, 0.29), 0.3) == "within +-0.3"
    assert study.verdict(ci(-0.2, 0.31), 0.3) == "inconclusive"
    assert study.fmt(ci(-0.29, 0.47)) == "+0.09 [-0.29, +0.47]"
    with pytest.raises(ValueError, match="margin"):
        study.verdict(ci(0, 1), 0)


def test_gains_of_an_additive_model_are_exact():
    # acc = base(lr) + split effect + seed effect: every paired difference is base(lr) - base(ref)
    base = {0.1: 0.90, 0.2: 0.905, 0.5: 0.89}
    rows = [
        dict(lr=lr, split=j, seed=i, acc=b + 0.01 * j - 0.003 * i)
        for lr, b in base.items()
        for j in range(3)
        for i in range(4)
    ]
    g = study.gains(rows, "acc", 0.1)
    assert set(g) == {0.2, 0.5}
    for lr in g:
        assert math.isclose(g[lr]["mean"], 100 * (base[lr] - base[0.1]), abs_tol=1e-9)
        assert g[lr]["high"] - g[lr]["low"] < 1e-9 and g[lr]["seeds"]["k"] == 4 and g[lr]["splits"]["k"] == 3
    t = study.table(rows, "acc", lr=0.2)
    assert list(t) == [0.2] and t[0.2].size == 12


# -- the confirmatory study ------------------------------------------------------------------------


def test_confirm_grid_uses_fresh_independent_replicates():
    runs = study.grid("confirm")
    assert len(runs) == 20 * 8
    reps = {(r["split"], r["seed"]) for r in runs}
    assert len(reps) == 20 and all(split == seed for split, seed in reps)  # one seed per split, none shared
    used = {r["split"] for name in ("fullbatch", "minibatch") for r in study.grid(name)}
    assert not used & {s for s, _ in reps} and 50 not in {s for s, _ in reps}  # fresh: not the pilot's either
    for r in runs:
        assert r["loss"] == "squared" and r["init_scale"] == 4.0 and r["n_train"] == 200 and r["early_stop"]
    lrs = sorted({r["lr"] for r in runs if r["method"] == "gd"})
    assert max(lrs) == 0.9 * study.CONFIRM_H_MAX and min(lrs) == 0.025
    assert {r["mu"] for r in runs if r["method"] == "gd_explicit"} == {0.025, 0.1, 0.4}


def tiny_confirm(**change):
    monkey = dict(study.grid("confirm")[0], n_train=40, n_val=30, width=4, t_eq=0.5, max_time=1.0)
    return dict(monkey, **change)


def test_explicit_penalty_step_is_gradient_descent_on_the_penalised_loss():
    from igrlib.mlp import MLP

    s = tiny_confirm(method="gd_explicit", lr=0.05, mu=0.4, t_eq=0.05)  # the eq point after one step
    row = study.run(s)
    X, y = data.load("digits")
    parts = data.split(X, y, 40, 30, np.random.default_rng([study.SPLIT_TAG, s["split"]]))
    net = MLP((64, 4, 10))
    theta = net.init(np.random.default_rng([study.INIT_TAG, s["seed"]]), scale=4.0)
    L = net.loss(parts["X_train"], parts["y_train"], kind="squared")
    penalised = lambda th: L.value(th) + 0.4 * np.sum(L.grad(th) ** 2)  # noqa: E731
    eps, grad = 1e-5, np.zeros_like(theta)
    for i in range(theta.size):  # central differences of the penalised loss
        e = np.zeros_like(theta)
        e[i] = eps
        grad[i] = (penalised(theta + e) - penalised(theta - e)) / (2 * eps)
    assert math.isclose(row["eq_train_loss"], L.value(theta - 0.05 * grad), rel_tol=1e-7)
    plain = study.run(dict(s, mu=0.0))  # mu = 0 is plain gradient descent
    assert math.isclose(plain["eq_train_loss"], study.run(dict(s, method="gd", mu=0.0))["eq_train_loss"], rel_tol=1e-13)


def test_early_stopping_point_is_the_best_validation_check():
    s = tiny_confirm(lr=0.1, t_eq=0.5, max_time=6.0, target=1e-9)
    row = study.run(s)
    assert row["es_val_acc"] >= max(row["eq_val_acc"], row["end_val_acc"])  # both are checks too
    assert 0 < row["es_step"] <= row["end_step"] and row["start_sharpness"] > 0
    again = study.run(dict(s, t_eq=row["es_time"]))  # observed as the eq point: the same network
    assert again["eq_val_acc"] == row["es_val_acc"] and again["eq_test_acc"] == row["es_test_acc"]
    steps = range(10, row["end_step"] + 1, 10)  # checks every round(1 / h) = 10 steps
    vals = [study.run(dict(s, t_eq=k * 0.1))["eq_val_acc"] for k in steps]
    assert row["es_val_acc"] == max(vals) and row["es_step"] == list(steps)[vals.index(max(vals))]


def test_confirm_primary_applies_the_protocol():
    def rows_with(arms, diverged=()):
        # arms: {(lr, mu): (gain, noise)}; replicate i adds 0.001 i to every arm and +-noise to its own
        return [
            dict(lr=lr, mu=mu, split=i, seed=i, diverged=(lr, mu, i) in diverged,
                 eq_test_acc=0.7 + 0.001 * i + g + noise * (-1) ** i)
            for i in range(10) for (lr, mu), (g, noise) in arms.items()
        ]  # fmt: skip

    arms = {
        (0.025, 0.0): (0.0, 0.0),
        (0.1, 0.0): (0.01, 0.0005),
        (0.135, 0.0): (0.0, 0.0005),
        (0.025, 0.4): (-0.02, 0.0),
    }
    got = study.confirm_primary(rows_with(arms, diverged={(0.135, 0.0, 3)}))
    assert got["P1"]["verdict"] == "higher" and math.isclose(got["P1"]["mean"], 1.0)
    assert got["P2"]["verdict"] == "within +-0.3" and got["P2"]["left_out"] == 1 and got["P2"]["k"] == 9
    assert got["P3"]["verdict"] == "lower" and got["P1"]["level"] == 1 - 0.05 / 3
    assert got["P1"]["high"] - got["P1"]["low"] > 0 and got["P1"]["df"] == 9
    arms[0.135, 0.0] = (0.0, 0.004)  # +-0.4 points of noise: the interval crosses the margin
    assert study.confirm_primary(rows_with(arms))["P2"]["verdict"] == "inconclusive"


def test_built_wheel_finds_the_results_without_the_source_tree(tmp_path):
    # Colab: `pip install igrlib[study]` has no book/ folder; study.read must find the CSVs in the package
    import shutil
    import subprocess
    import sys
    import zipfile

    from conftest import make_venv

    root = pathlib.Path(study.__file__).resolve().parents[1]
    src = tmp_path / "src"
    for part in ("pyproject.toml", "README.md", "igrlib", "book/data"):
        (src / part).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (root / part).is_dir() else shutil.copy
        copy(
            root / part,
            src / part,
            **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}),
        )
    build = "import setuptools.build_meta as b, sys; print(b.build_wheel(sys.argv[1]))"
    out = subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=src, check=True,
                         capture_output=True, text=True).stdout.split()[-1]  # fmt: skip
    wheel = zipfile.ZipFile(tmp_path / "dist" / out)
    meta = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
    assert 'Requires-Dist: mnist1d>=0.0.2; extra == "study"' in meta
    python, site = make_venv(tmp_path / "venv")  # the lock's packages, but not this igrlib
    wheel.extractall(site)  # what pip does with a pure-Python wheel
    code = (
        "from igrlib import study; import pathlib, sys\n"
        "assert pathlib.Path(study.__file__).is_relative_to(sys.argv[1]), study.__file__\n"
        "names = sorted(p.stem for p in study.DATA_DIR.glob('*.csv'))\n"
        "print(' '.join(f'{n}:{len(study.read(n))}' for n in names))\n"
    )
    got = subprocess.run([python, "-c", code, str(site)], cwd=tmp_path, check=True, capture_output=True, text=True)
    counts = dict(item.split(":") for item in got.stdout.split())
    for name in ("fullbatch", "minibatch", "confirm"):
        assert int(counts[name]) == len(study.read(name))
