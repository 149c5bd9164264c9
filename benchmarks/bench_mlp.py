"""Speed of the chapter-5 network: exact HVP against a gradient, batched training, and PyTorch side by side.

Run by hand (not part of ``make test``); the figures go into ``benchmarks/README.md``:

    .venv/bin/python benchmarks/bench_mlp.py            # one BLAS / PyTorch thread, as in the chapter
    .venv/bin/python benchmarks/bench_mlp.py --threads 2

The network and data are those of ``book/05_experiments.ipynb``: a 64-32-10 tanh MLP
(2,410 parameters), cross-entropy on 200 training images of scikit-learn's digits, float64,
full batch. Every figure is the best of several repeats (the machine may be shared).

1. Exact Hessian-vector product (Pearlmutter's R-operator) against one gradient. Target: <= 3x.
2. Sixteen networks (learning rates) trained in one batched ``igr.train`` call against
   sixteen calls one after another. Target: >= 3x the per-network throughput.
   Also shown for a smaller network (64-16-10 on 64 images), where call overhead dominates.
   Then why the target is out of reach on the chapter's network: training with larger chunks
   of the stack (``igr.MLP(sizes, chunk_elements=...)``); the arithmetic of one network's gradient (five
   matrix products and a tanh), timed per network in a batch, which no batching can share,
   against the time a 3x speed-up allows; the first layer three ways (batched matmul, one wide
   product, einsum).
3. PyTorch on the CPU (same network, float64, full batch), if installed: time of a plain
   gradient step and of an explicit-regularisation step (double backward in PyTorch),
   igrlib / PyTorch. Target: <= 1.5.

With ``--against REV`` it instead times this work tree's igrlib against igrlib as committed
at the git revision REV, in one run, each figure alternating between the two (a guard for
refactors: no figure may get more than 10 % worse):

    .venv/bin/python benchmarks/bench_mlp.py --against HEAD~3
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import igrlib as igr

REPEAT = 7


def best(fn, number):
    """Best time of one call of ``fn`` in seconds, over REPEAT runs of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=REPEAT)) / number


def fastest(fn, calls=200):
    """The fastest of ``calls`` single calls of ``fn``, in seconds: the cost without interruptions."""
    return min(timeit.repeat(fn, number=1, repeat=calls))


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{datetime.date.today()}  {cpu}, {os.cpu_count()} cores, load {load:.2f}; Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )


def setup(n_train=200, hidden=32, seed=0):
    X, y, _, _ = igr.digits(n_train, rng=np.random.default_rng(seed))
    net = igr.MLP((64, hidden, 10))
    return net, net.loss(X, y), X, y


def bench_hvp():
    net, L, _, _ = setup()
    theta = net.init(np.random.default_rng(0))
    v = np.random.default_rng(1).normal(size=net.dim)
    t_grad = best(lambda: L.grad(theta), 200)
    t_hvp = best(lambda: L.hvp(theta, v), 200)
    print(f"[1] d = {net.dim}: gradient {t_grad * 1e6:.0f} us, exact HVP {t_hvp * 1e6:.0f} us, "
          f"ratio {t_hvp / t_grad:.2f} (target <= 3)")


def bench_batched(n_train, hidden, steps):
    net, L, _, _ = setup(n_train, hidden)
    lrs = np.geomspace(0.05, 2.0, 16)
    theta0 = net.init(np.random.default_rng(0))
    t_batch = best(lambda: igr.train(L, theta0, lrs, steps, every=steps), 1)
    t_loop = best(lambda: [igr.train(L, theta0, h, steps, every=steps) for h in lrs], 1)
    print(f"[2] {net.sizes} on {n_train} images, {steps} steps: 16 in one call {t_batch:.3f} s "
          f"({t_batch / 16 / steps * 1e6:.0f} us per network-step), one after another {t_loop:.3f} s "
          f"({t_loop / 16 / steps * 1e6:.0f} us); speed-up {t_loop / t_batch:.2f} (target >= 3)")


def bench_floor(k=16):
    """The arithmetic of one gradient, per network in a batch of k: a lower bound that batching cannot share."""
    net, L, X, _ = setup()
    n = X.shape[0]
    rng = np.random.default_rng(0)
    X1 = np.hstack([X, np.ones((n, 1))])  # [x, 1], shared by all networks (the bias is the last row of W)
    W1, W2 = rng.normal(size=(k, 65, 32)), rng.normal(size=(k, 33, 10))
    A1, D2, D1 = rng.normal(size=(k, n, 33)), rng.normal(size=(k, n, 10)), rng.normal(size=(k, n, 32))
    products = [  # forward, then backward, as in igr.MLP's gradient
        lambda: np.matmul(X1, W1),  # z1 = [x, 1] W1
        lambda: np.matmul(A1, W2),  # z2 = [a1, 1] W2
        lambda: np.matmul(np.swapaxes(A1, -1, -2), D2),  # gradient of W2
        lambda: np.matmul(D2, np.swapaxes(W2[:, :-1], -1, -2)),  # back through W2
        lambda: np.matmul(X1.T, D1),  # gradient of W1
    ]
    flops = 2 * n * (65 * 32 + 33 * 10 + 33 * 10 + 10 * 32 + 65 * 32)  # per network
    t_mm = sum(fastest(f) for f in products) / k
    Z = rng.normal(size=(k, n, 32))
    out = np.empty_like(Z)
    t_tanh = fastest(lambda: np.tanh(Z, out=out)) / k
    A, B = rng.normal(size=(500, 500)), rng.normal(size=(500, 500))
    peak = 2 * 500**3 / fastest(lambda: A @ B, 50)
    theta = net.init(rng)
    t_grad = fastest(lambda: L.grad(theta))
    t_step = fastest(lambda: igr.train(L, theta, 0.1, 200, every=200), 10) / 200  # one network trained alone
    floor = t_mm + t_tanh
    print(f"[2] arithmetic per network in a batch of {k}: five matrix products {t_mm * 1e6:.1f} us "
          f"({flops / t_mm / 1e9:.0f} GFLOP/s; a 500 x 500 product: {peak / 1e9:.0f}), tanh of {n * 32} numbers "
          f"{t_tanh * 1e6:.1f} us; together {floor * 1e6:.1f} us against {t_grad * 1e6:.1f} us for one network's "
          f"gradient: batching can gain at most {t_grad / floor:.2f}x")
    print(f"[2] a training step of one network alone takes {t_step * 1e6:.1f} us (fastest of 10 runs of 200 steps), "
          f"so 3x needs {t_step / 3 * 1e6:.1f} us per network-step in a batch, below the {floor * 1e6:.1f} us of "
          f"arithmetic: batched training can gain at most {t_step / floor:.2f}x")

    # The first layer of k networks three ways: k products sharing X1, one wide product, einsum.
    t_batched = fastest(lambda: np.matmul(X1, W1))
    t_wide = fastest(lambda: X1 @ W1.transpose(1, 0, 2).reshape(65, k * 32))  # with the copy into (65, k*32)
    t_einsum = fastest(lambda: np.einsum("ni,kij->knj", X1, W1), 20)
    print(f"[2] first layer, per network: batched matmul {t_batched / k * 1e6:.1f} us, one ({n} x 65) @ "
          f"(65 x {k * 32}) product {t_wide / k * 1e6:.1f} us, einsum {t_einsum / k * 1e6:.1f} us")


def bench_chunks(k=16, steps=50):
    """Batched training with igr.MLP's stack split into chunks of 4 (the default), 8 or all k networks."""
    X, y = igr.digits(200, rng=np.random.default_rng(0))[:2]
    theta0 = igr.MLP((64, 32, 10)).init(np.random.default_rng(0))
    lrs = np.geomspace(0.05, 2.0, k)
    default = igr.mlp.CHUNK_ELEMENTS
    times = {}
    for per_chunk in (4, 8, k):
        L = igr.MLP((64, 32, 10), chunk_elements=per_chunk * 200 * 33).loss(X, y)
        times[per_chunk] = best(lambda: igr.train(L, theta0, lrs, steps, every=steps), 1) / k / steps
    print(f"[2] {k} networks in one igr.train call, per network-step: "
          + ", ".join(f"chunks of {c} {t * 1e6:.0f} us" for c, t in times.items())
          + f" (default: chunks of {default // (200 * 33)})")


def bench_torch(threads):
    try:
        import torch
    except ImportError:
        print("[3] PyTorch is not installed: skipped")
        return
    torch.set_num_threads(threads)
    net, L, X, y = setup()
    theta = net.init(np.random.default_rng(0))
    h, mu = 1.0, 0.25

    def igr_step(th):
        return th - h * L.grad(th)

    def igr_egr_step(th):
        g = L.grad(th)
        return th - h * (g + 2 * mu * L.hvp(th, g))

    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.int64)

    # The idiomatic PyTorch form: one leaf tensor per weight matrix and bias vector.
    params = [torch.tensor(a.copy(), dtype=torch.float64) for W, b in net.unflatten(theta) for a in (W, b)]

    def torch_loss(ps):
        a = Xt
        for l in range(0, len(ps), 2):
            a = a @ ps[l] + ps[l + 1]
            if l < len(ps) - 2:
                a = torch.tanh(a)
        return torch.nn.functional.cross_entropy(a, yt)

    def torch_step(ps):
        ps = [p.detach().requires_grad_(True) for p in ps]
        gs = torch.autograd.grad(torch_loss(ps), ps)
        with torch.no_grad():
            return [p - h * g for p, g in zip(ps, gs)]

    def torch_egr_step(ps):
        ps = [p.detach().requires_grad_(True) for p in ps]
        gs = torch.autograd.grad(torch_loss(ps), ps, create_graph=True)
        penalty = sum((g * g).sum() for g in gs)
        hgs = torch.autograd.grad(penalty, ps)  # = 2 H g, by double backward
        with torch.no_grad():
            return [p - h * (g + mu * hg) for p, g, hg in zip(ps, gs, hgs)]

    def flat(ps):
        return np.concatenate([p.detach().numpy().ravel() for p in ps])

    np.testing.assert_allclose(float(torch_loss(params)), float(L.value(theta)), rtol=1e-12)
    np.testing.assert_allclose(flat(torch_step(params)), igr_step(theta), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(flat(torch_egr_step(params)), igr_egr_step(theta), rtol=1e-9, atol=1e-12)
    print(f"    PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    tt = params
    for name, ours, theirs in [("gradient step", igr_step, torch_step), ("explicit-regularisation step", igr_egr_step,
                                                                          torch_egr_step)]:
        t_ours = best(lambda: ours(theta), 200)
        t_theirs = best(lambda: theirs(tt), 200)
        print(f"[3] {name}: igrlib {t_ours * 1e6:.0f} us, PyTorch {t_theirs * 1e6:.0f} us, "
              f"ratio igrlib/PyTorch {t_ours / t_theirs:.2f} (target <= 1.5)")


def load_revision(rev):
    """igrlib as committed at the git revision ``rev``, imported as the package ``igrlib_before``."""
    root = Path(__file__).resolve().parent.parent
    where = Path(tempfile.mkdtemp(prefix="igrlib_before_"))
    archive = subprocess.run(["git", "archive", rev, "igrlib"], cwd=root, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    spec = importlib.util.spec_from_file_location(
        "igrlib_before", where / "igrlib" / "__init__.py", submodule_search_locations=[str(where / "igrlib")]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["igrlib_before"] = module
    spec.loader.exec_module(module)
    return module


def compare(rev):
    """The figures that a refactor of MLP and train could change, for igrlib at ``rev`` and here.

    Each round times one call of every figure for each version, alternately; a figure is the
    fastest round (200 rounds for a single evaluation, 15 for a training run), which on a
    shared machine is the cost without interruptions. Both versions must compute the same
    numbers (checked first).
    """
    versions = {"before": load_revision(rev), "after": igr}
    X, y, _, _ = igr.digits(200, rng=np.random.default_rng(0))
    lrs = np.geomspace(0.05, 2.0, 16)
    work = {}
    for name, lib in versions.items():
        net = lib.MLP((64, 32, 10))
        L = net.loss(X, y)
        theta = net.init(np.random.default_rng(0))
        v = np.random.default_rng(1).normal(size=net.dim)
        work[name] = {
            "loss value (us)": (lambda L=L, t=theta: L.value(t), 200),
            "gradient (us)": (lambda L=L, t=theta: L.grad(t), 200),
            "exact HVP (us)": (lambda L=L, t=theta, v=v: L.hvp(t, v), 200),
            "train, one network, per step (us)": (
                lambda lib=lib, L=L, t=theta: lib.train(L, t, 0.1, 100, every=100), 15),
            "train, 16 networks, per network-step (us)": (
                lambda lib=lib, L=L, t=theta: lib.train(L, t, lrs, 50, every=50), 15),
            "train with mu and records, per network-step (us)": (
                lambda lib=lib, L=L, t=theta: lib.train(L, t, lrs[:4], 20, mu=0.01, every=2), 15),
        }
        work[name]["_check"] = lib.train(L, theta, lrs[:4], 20, mu=0.01, every=2, sharpness_iters=2,
                                         rng=np.random.default_rng(0))
    a, b = work["before"].pop("_check"), work["after"].pop("_check")
    same = np.array_equal(a.theta, b.theta, equal_nan=True) and all(
        np.array_equal(a.history[k], b.history[k], equal_nan=True) for k in a.history)
    print(f"igrlib at {rev} against this work tree; the same numbers bit for bit: {same}")
    per = {"train, one network, per step (us)": 100, "train, 16 networks, per network-step (us)": 16 * 50,
           "train with mu and records, per network-step (us)": 4 * 20}
    best_of = {name: {k: np.inf for k in work[name]} for name in work}
    for k in work["after"]:
        for i in range(work["after"][k][1]):
            for name in ("before", "after")[:: 1 if i % 2 else -1]:  # who goes first alternates too
                best_of[name][k] = min(best_of[name][k], timeit.timeit(work[name][k][0], number=1))
    print(f"| figure | before ({rev}) | after | after / before |")
    print("|---|---|---|---|")
    for k in work["after"]:
        t0, t1 = (best_of[name][k] * 1e6 / per.get(k, 1) for name in ("before", "after"))
        print(f"| {k} | {t0:.1f} | {t1:.1f} | {t1 / t0:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for NumPy and threads for PyTorch")
    parser.add_argument("--against", metavar="REV", help="compare with igrlib at this git revision, and stop")
    args = parser.parse_args()
    threadpool_limits(args.threads)
    print(machine() + f"; {args.threads} BLAS thread(s)")
    if args.against:
        compare(args.against)
        sys.exit()
    bench_hvp()
    bench_batched(200, 32, 200)
    bench_batched(64, 16, 400)
    bench_chunks()  # before bench_floor, whose 2 MB arrays change how the allocator reuses memory
    bench_floor()
    bench_torch(args.threads)
