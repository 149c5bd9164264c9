"""The grader: right verdicts, and a clear report line for every way a submission can be broken."""

import csv
import hashlib

import nbformat
import pytest
from test_student import demo_notebook

from igrlib.coursework.grade import grade, main
from igrlib.coursework.student import student_edition

TIMEOUT = 4  # seconds per cell; the endless-loop case waits this long twice


def write(tmp_path, name, nb):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def solved(nb):
    """A submission in which the student filled in the stub with the solution."""
    nb = student_edition(nb)
    for cell in nb.cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = "def square(x):\n    return x * x"
    return nb


def with_stub(source):
    nb = solved(demo_notebook())
    for cell in nb.cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = source
    return nb


CASES = {
    "solved": (solved(demo_notebook()), "PASS", "right on fresh inputs"),
    "untouched": (student_edition(demo_notebook()), "TODO", "not attempted"),
    "wrong": (with_stub("def square(x):\n    return 2 * x"), "FAIL", "wrong values"),
    "syntax": (with_stub("def square(x):\n    return x **"), "ERROR", "NameError"),
    "exception": (with_stub("def square(x):\n    return x / undefined_name"), "FAIL", "NameError"),
    "loop": (with_stub("def square(x):\n    while True:\n        pass"), "TIMEOUT", "did not finish"),
    "renamed": (with_stub("def my_square(x):\n    return x * x"), "ERROR", "could not find the answer square"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdicts(tmp_path, case):
    nb, status, message = CASES[case]
    path = write(tmp_path, f"{case}.ipynb", nb)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rows = grade(path, timeout=TIMEOUT, reference=None)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "the grader must not modify a submission"
    assert rows[0][0] == "demo-square"
    assert rows[0][1] == status, rows
    assert message in rows[0][2], rows
    # the student's own cells that raised are listed too (a stub raising NotImplementedError is not an error)
    extra = {"syntax": ["raised SyntaxError", "raised NameError"], "renamed": ["raised NameError"]}.get(case, [])
    assert len(rows) == 1 + len(extra), rows
    for row, text in zip(rows[1:], extra):
        assert row[:2] == ("-", "ERROR") and text in row[2], rows


def test_deleted_exercise_cell(tmp_path):
    nb = solved(demo_notebook())
    nb.cells = [c for c in nb.cells if "exercise" not in c.metadata.get("tags", [])]
    rows = grade(write(tmp_path, "deleted.ipynb", nb), timeout=TIMEOUT, reference=None)
    assert rows[0][:2] == ("demo-square", "ERROR") and "could not find the answer square" in rows[0][2]
    assert rows[1][:2] == ("-", "ERROR") and "raised NameError" in rows[1][2]


def test_kernel_death_is_reported_and_the_rest_still_graded(tmp_path):
    nb = solved(demo_notebook())
    nb.cells.insert(1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    rows = grade(write(tmp_path, "dies.ipynb", nb), timeout=TIMEOUT, reference=None)
    assert ("demo-square", "PASS") == rows[0][:2]
    assert rows[1][:2] == ("-", "KERNEL DIED") and "cell(s) 2" in rows[1][2]


def test_invalid_json_and_a_batch_with_csv(tmp_path, capsys):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ this is not json")
    good = write(tmp_path, "good.ipynb", solved(demo_notebook()))
    out_csv = tmp_path / "grades.csv"
    assert main([str(bad), str(good), "--csv", str(out_csv), "--timeout", str(TIMEOUT), "--reference", "none"]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["submission"], r["exercise"], r["status"]) for r in rows] == [
        (str(bad), "-", "ERROR"),
        (str(good), "demo-square", "PASS"),
    ]
    assert "not a valid notebook" in rows[0]["message"]
    printed = capsys.readouterr().out
    assert "good.ipynb: 1/1 exercises pass" in printed
