"""tools/rerun_rows.py: how far a re-run row moved (the measure behind book/data/README.md)."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
import rerun_rows  # noqa: E402

ROW = {"study": "s", "run_id": 3, "lr": 0.5, "test_acc": 0.9, "train_loss": 2e-3, "end_step": 40,
       "converged": True, "sharpness": float("nan"), "seconds": 1.0}


def test_an_identical_row_has_not_moved():
    assert rerun_rows.moved(ROW, dict(ROW)) == (0.0, "")


def test_the_largest_relative_change_is_reported_and_seconds_ignored():
    new = dict(ROW, test_acc=0.9 * (1 + 1e-9), train_loss=2e-3 * (1 + 3e-6), seconds=9.0)
    change, metric = rerun_rows.moved(ROW, new)
    assert metric == "train_loss" and change == pytest.approx(3e-6, rel=1e-6)


@pytest.mark.parametrize("key, value", [("end_step", 41), ("converged", False), ("sharpness", 1.0)])
def test_a_moved_count_flag_or_nan_is_an_infinite_change(key, value):
    change, metric = rerun_rows.moved(ROW, dict(ROW, **{key: value}))
    assert (change, metric) == (math.inf, key)
