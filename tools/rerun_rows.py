"""Re-run stored study rows on this machine and say how far each moved.

    python tools/rerun_rows.py fullbatch --min-lr 1          (rows with h >= 1)
    python tools/rerun_rows.py minibatch --min-lr 2 --out moved.csv

For each selected row of book/data/NAME.csv it recomputes the row (igrlib.study.rerun) and
prints the largest relative change over the reproduced metrics (every float column but
`seconds`). On the machine and library versions that wrote the CSV the change is 0; on
another CPU (or under `make test-portable`'s profile, set in the environment) rounding
differs in the last bits, and a row whose training is chaotic may move further. The promise
made in book/data/README.md (1e-6 relative) rests on what this prints.
"""

import argparse
import csv
import math
import sys

from tqdm import tqdm

from igrlib import study


def moved(old, new):
    """Largest relative change over the metrics of two rows (counts and flags: 0 or inf), and the metric that has it."""
    worst, where = 0.0, ""
    for key, a in old.items():
        b = new[key]
        if key == "seconds" or isinstance(a, str):
            continue
        if not isinstance(a, float):  # counts and flags (steps, converged): any change is a change
            if a != b:
                worst, where = math.inf, key
            continue
        if math.isnan(a) and math.isnan(b):
            continue
        if math.isnan(a) or math.isnan(b):  # NaN on one side only: the largest change
            change = math.inf
        else:
            change = abs(b - a) / max(abs(a), 1e-12) if a != b else 0.0
        if change > worst:
            worst, where = change, key
    return worst, where


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="study name (fullbatch, minibatch)")
    parser.add_argument("--min-lr", type=float, default=0.0, help="only rows with lr >= this")
    parser.add_argument("--max-lr", type=float, default=float("inf"), help="only rows with lr <= this")
    parser.add_argument("--out", help="also write run_id, lr, change, metric as CSV")
    args = parser.parse_args(argv)
    rows = [r for r in study.read(args.name) if args.min_lr <= r["lr"] <= args.max_lr]
    if not rows:
        parser.error(f"--min-lr {args.min_lr} --max-lr {args.max_lr} select no row of {args.name}")
    results = []
    for row in tqdm(rows, desc=args.name, unit="run"):
        change, metric = moved(row, study.rerun(args.name, row["run_id"]))
        results.append((row["run_id"], row["data"], row["method"], row["batch"], row["lr"], change, metric))
    if args.out:
        with open(args.out, "w", newline="") as f:
            csv.writer(f).writerows([("run_id", "data", "method", "batch", "lr", "change", "metric"), *results])
    worst = max(results, key=lambda r: r[5])
    beyond = [r for r in results if not r[5] <= 1e-6]
    print(f"{len(results)} rows re-run; largest relative change {worst[5]:.2e} (run {worst[0]}, {worst[6]});"
          f" {len(beyond)} beyond 1e-6")
    for r in beyond:
        print(f"  run {r[0]}: {r[1]}, {r[2]}, B = {r[3]}, h = {r[4]:g}: {r[6]} moved by {r[5]:.2e}")
    return 1 if beyond else 0


if __name__ == "__main__":
    sys.exit(main())
