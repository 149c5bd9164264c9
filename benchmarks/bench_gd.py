"""Time igr.gd on the two-parameter model: one learning rate against a sweep of 32, 10,000 steps each.

A sweep runs as one array computation, so it should cost a small multiple of a single run,
not 32 times as much. Run from the repository root:

    .venv/bin/python benchmarks/bench_gd.py

It prints the best of several repeats for each case and their ratio (target: at most 4).
"""

import platform
import timeit

import numpy as np

import igrlib as igr

STEPS = 10_000
REPEAT = 7
THETA0 = np.array([2.8, 3.5])  # Barrett & Dherin's starting point; the sweep stays stable from here
LOSS = igr.two_param()
SWEEPS = {"1 lr": 0.01, "32 lr": np.geomspace(1e-3, 3e-2, 32)}


def best_time(lr):
    path = igr.gd(LOSS, THETA0, lr, STEPS)  # warm-up, and a check that nothing diverged
    assert np.all(np.isfinite(path))
    return min(timeit.repeat(lambda: igr.gd(LOSS, THETA0, lr, STEPS), number=1, repeat=REPEAT))


def main():
    times = {name: best_time(lr) for name, lr in SWEEPS.items()}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"numpy {np.__version__}, Python {platform.python_version()}, CPU {cpu}")
    for name, t in times.items():
        print(f"{name:>6}: {t * 1e3:7.1f} ms for {STEPS} steps ({t / STEPS * 1e6:.2f} us per step), best of {REPEAT}")
    print(f"ratio 32 lr / 1 lr: {times['32 lr'] / times['1 lr']:.2f} (target <= 4)")


if __name__ == "__main__":
    main()
