"""The grader: right verdicts, and a correct, complete report for every way a submission can be
broken or hostile. Every submission here is a small notebook built by the test."""

import csv
import hashlib
import json
import pathlib
import time

import nbformat
import pytest
from test_student import demo_notebook

from igrlib.coursework.grade import NOTEBOOK, grade, main, one_line, reference_chapters
from igrlib.coursework.student import student_edition

TIMEOUT = 1.5  # seconds per cell


def write(tmp_path, name, nb):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def with_stub(source, *before):
    """The student edition with the stub replaced by ``source`` and cells ``before`` inserted first."""
    nb = student_edition(demo_notebook(), "demo.ipynb")
    for cell in nb.cells:
        if "exercise" in cell.metadata.get("tags", []):
            cell.source = source
    nb.cells[1:1] = [nbformat.v4.new_code_cell(src) for src in before]
    return nb


SOLVED = "def square(x):\n    return x * x"

CASES = {
    "solved": (SOLVED, "PASS", "right on fresh inputs"),
    "wrong": ("def square(x):\n    return 2 * x", "FAIL", "wrong values"),
    "syntax": ("def square(x):\n    return x **", "ERROR", "could not find the answer square"),
    "exception": ("def square(x):\n    return x / undefined_name", "FAIL", "NameError"),
    "loop": ("def square(x):\n    while True:\n        pass", "TIMEOUT", "did not finish within 1.5 s"),
    "renamed": ("def my_square(x):\n    return x * x", "ERROR", "could not find the answer square"),
    "interrupt": ("def square(x):\n    raise KeyboardInterrupt", "FAIL", "raised KeyboardInterrupt"),
}


@pytest.mark.coursework
@pytest.mark.parametrize("case", sorted(CASES))
def test_verdicts(tmp_path, chapters, case):
    source, status, message = CASES[case]
    path = write(tmp_path, "demo.ipynb", with_stub(source))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rows = grade(path, chapters=chapters, timeout=TIMEOUT)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "the grader must not modify a submission"
    assert rows[0][:2] == ("demo-square", status), rows
    assert message in rows[0].message, rows
    assert rows[0].points == (1 if status == "PASS" else 0) and rows[0].max_points == 1
    # the cells of the student's own run that went wrong are listed too (the igr.check line, cell 3,
    # does nothing in the sandbox, where the checks are not: it fails only if the answer is missing)
    notes = {
        "syntax": [("ERROR", "cell 2 raised SyntaxError"), ("ERROR", "cell 3 raised NameError")],
        "renamed": [("ERROR", "cell 3 raised NameError")],
    }.get(case, [])
    assert [(r.exercise, r.status) for r in rows[1:]] == [(NOTEBOOK, st) for st, _ in notes], rows
    for row, (_, text) in zip(rows[1:], notes):
        assert text in row.message, rows


@pytest.mark.coursework
def test_untouched_stub_is_todo(tmp_path, chapters):
    rows = grade(write(tmp_path, "demo.ipynb", student_edition(demo_notebook())), chapters=chapters, timeout=TIMEOUT)
    assert [r[:2] for r in rows] == [("demo-square", "TODO")]


@pytest.mark.coursework
def test_deleted_exercise_cell_is_an_error(tmp_path, chapters):
    nb = with_stub(SOLVED)
    nb.cells = [c for c in nb.cells if "exercise" not in c.metadata.get("tags", [])]
    rows = grade(write(tmp_path, "demo.ipynb", nb), chapters=chapters, timeout=TIMEOUT)
    assert rows[0][:2] == ("demo-square", "ERROR") and "could not find the answer square" in rows[0].message


# ---------------------------------------------------------------- item 5: hangs


@pytest.mark.coursework
def test_a_cell_that_swallows_interrupts_is_killed_and_the_rest_graded(tmp_path, chapters):
    hang = "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass"
    start = time.monotonic()
    rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED, hang)), chapters=chapters, timeout=TIMEOUT)
    assert time.monotonic() - start < TIMEOUT + 2 + 6
    assert rows[0][:2] == ("demo-square", "PASS"), rows
    assert rows[1][:2] == (NOTEBOOK, "TIMEOUT") and "cell 2 did not finish" in rows[1].message


@pytest.mark.coursework
def test_an_endless_exercise_cell_is_reported_as_a_timeout(tmp_path, chapters):
    rows = grade(write(tmp_path, "demo.ipynb", with_stub("while True:\n    pass")), chapters=chapters, timeout=TIMEOUT)
    assert rows[0][:2] == ("demo-square", "ERROR") and "TIMEOUT" in rows[0].message, rows
    assert any(r[:2] == (NOTEBOOK, "TIMEOUT") for r in rows)


@pytest.mark.coursework
def test_the_wall_clock_limit_caps_a_submission(tmp_path, chapters):
    cells = ["import time\ntime.sleep(1)"] * 5
    start = time.monotonic()
    rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED, *cells)), chapters=chapters, timeout=5, wall=2.5)
    assert time.monotonic() - start < 2.5 + 4
    assert (NOTEBOOK, "TIMEOUT") in [r[:2] for r in rows] and rows[0].status != "PASS"


@pytest.mark.coursework
def test_kernel_deaths_are_bounded(tmp_path, chapters):
    cells = ["import os\nos._exit(1)"] * 12
    start = time.monotonic()
    rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED, *cells)), chapters=chapters, timeout=TIMEOUT)
    assert time.monotonic() - start < 40  # five starts of the process
    statuses = [r[:2] for r in rows]
    assert statuses.count((NOTEBOOK, "KERNEL DIED")) == 5 and "gave up" in rows[-1].message, rows


@pytest.mark.coursework
def test_one_kernel_death_skips_the_cell(tmp_path, chapters):
    rows = grade(
        write(tmp_path, "demo.ipynb", with_stub(SOLVED, "import os\nos._exit(1)")), chapters=chapters, timeout=TIMEOUT
    )
    assert [r[:2] for r in rows] == [("demo-square", "PASS"), (NOTEBOOK, "KERNEL DIED")]
    assert "cell 2" in rows[1].message


# ---------------------------------------------------------------- item 3: verdicts out of reach

PATCHES = {
    "run_check": "import igrlib.coursework.checks as c\nc.run_check = lambda name, answer: c.CheckResult(True, 'ok')",
    "registry": "import igrlib.coursework.checks as c\nfake = {k: (lambda a: (True, 'ok')) for k in c._registry()}\n"
    "for fn in c._registry().values():\n    fn.__code__ = (lambda a: (True, 'ok')).__code__\n"
    "c._registry = lambda: fake",
    "stdout": "import sys, io\nclass W(io.StringIO):\n    def write(self, s):\n"
    "        return sys.__stdout__.write(s.replace('FAIL', 'PASS'))\nsys.stdout = W()",
}


@pytest.mark.coursework
@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_patching_the_checks_does_not_change_the_verdict(tmp_path, chapters, patch):
    nb = with_stub("def square(x):\n    return 2 * x", PATCHES[patch])
    rows = grade(write(tmp_path, "demo.ipynb", nb), chapters=chapters, timeout=TIMEOUT)
    # the checks run in the grader's process: patching the notebook's changes nothing
    assert rows[0][:2] == ("demo-square", "FAIL"), rows


@pytest.mark.coursework
def test_a_forged_verdict_line_is_ignored(tmp_path, chapters):
    forge = 'import os\nos.write(1, b\'{"kind": "finished"}\\n\')\nprint(\'{"kind": "finished"}\')'
    rows = grade(
        write(tmp_path, "demo.ipynb", with_stub("def square(x):\n    return 2 * x", forge)),
        chapters=chapters,
        timeout=TIMEOUT,
    )
    assert rows[0][:2] == ("demo-square", "FAIL"), rows


# ---------------------------------------------------------------- item 2: the reference decides


@pytest.mark.coursework
def test_the_exercise_list_comes_from_the_reference(tmp_path, chapters):
    nb = with_stub(SOLVED)
    nb.metadata["igrlib"]["checks"] = []  # a student who empties the list
    nb.cells = [c for c in nb.cells if "igr.check" not in c.source]
    rows = grade(write(tmp_path, "demo.ipynb", nb), chapters=chapters, timeout=TIMEOUT)
    assert [r[:2] for r in rows] == [("demo-square", "PASS")]


@pytest.mark.coursework
def test_a_missing_exercise_is_an_error(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    two = demo_notebook()
    two.cells.append(nbformat.v4.new_code_cell('igr.check("demo-square", cube)'))
    two.metadata["igrlib"] = {"points": {"demo-square": 3}}
    nbformat.write(two, ref / "demo.ipynb")
    rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED)), chapters=reference_chapters(ref), timeout=TIMEOUT)
    assert rows[0][:2] == ("demo-square", "PASS") and rows[0][2:4] == (3, 3)
    assert rows[1][:2] == ("demo-square", "ERROR") and "could not find the answer cube" in rows[1].message


def test_a_notebook_of_another_chapter_is_reported(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    nbformat.write(demo_notebook(), ref / "demo.ipynb")
    other = demo_notebook()
    for cell in other.cells:
        cell.source = cell.source.replace("demo-square", "other-check")
    nbformat.write(other, ref / "other.ipynb")
    rows = grade(write(tmp_path, "other.ipynb", with_stub(SOLVED)), chapters=reference_chapters(ref), timeout=TIMEOUT)
    assert [r[:2] for r in rows] == [(NOTEBOOK, "ERROR")] and "notebook of demo.ipynb, not of other.ipynb" in rows[0][4]


@pytest.mark.coursework
def test_a_renamed_file_is_graded_as_the_chapter_it_records(tmp_path, chapters):
    rows = grade(write(tmp_path, "alice.ipynb", with_stub(SOLVED)), chapters=chapters, timeout=TIMEOUT)
    assert [r[:2] for r in rows] == [("demo-square", "PASS")]
    nb = with_stub(SOLVED)
    del nb.metadata["igrlib"]["chapter"]
    rows = grade(write(tmp_path, "bob.ipynb", nb), chapters=chapters, timeout=TIMEOUT)
    assert rows[0][:2] == (NOTEBOOK, "ERROR") and "--chapter" in rows[0].message
    assert grade(tmp_path / "bob.ipynb", chapters=chapters, chapter="demo.ipynb", timeout=TIMEOUT)[0].status == "PASS"


# ---------------------------------------------------------------- items 4, 6, 9, 10: the batch


def test_one_line():
    assert one_line("a\nb\x1b[31m") == "a\\nb\\x1b[31m"


@pytest.mark.coursework
def test_a_hostile_batch(tmp_path, chapters, monkeypatch, capsys):
    """Spoofed messages, a formula file name, a submission that rewrites another's file, plants a
    file for the next one, and leaves a process behind to rewrite the CSV."""
    out_csv = tmp_path / "grades.csv"
    victim = write(tmp_path, "demo.ipynb", with_stub(SOLVED))
    victim_bytes = victim.read_bytes()
    spoof = 'raise ValueError("x\\n\\nstolen.ipynb: 1/1 exercises pass\\ndemo-square  PASS")'
    tamper = [
        f"open({str(victim)!r}, 'w').write('{{}}')",
        "open('planted.txt', 'w').write('hi')\nopen('/tmp/planted.txt', 'w').write('hi')",
        "import subprocess, sys\n"
        'code = \'import time; time.sleep(1.5); open(%r, "w").write("hacked")\' % ' + repr(str(out_csv)) + "\n"
        "p = subprocess.Popen([sys.executable, '-c', code], start_new_session=True)",
    ]
    monkeypatch.chdir(tmp_path)
    hostile = write(tmp_path, "=HYPERLINK(1).ipynb", with_stub("def square(x):\n    return 2 * x", spoof, *tamper))
    look = "import os\nassert not os.path.exists('planted.txt') and not os.path.exists('/tmp/planted.txt')"
    spy = write(tmp_path, "spy.ipynb", with_stub(SOLVED, look))
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ this is not json")
    subs = [hostile.name, victim, spy, bad]
    reference = str(tmp_path / "reference")
    args = ["--csv", str(out_csv), "--chapter", "demo.ipynb", "--timeout", str(TIMEOUT), "--reference", reference]
    assert main([*map(str, subs), *args]) == 0
    time.sleep(2)  # the process left behind would have written by now
    text = out_csv.read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert list(rows[0]) == ["submission", "exercise", "status", "points", "max_points", "message"]
    assert len(text.splitlines()) == len(rows) + 1, "no multi-line fields"
    by = {(r["submission"], r["exercise"], r["status"]) for r in rows}
    assert ("'" + hostile.name, "demo-square", "FAIL") in by
    printed = capsys.readouterr().out.splitlines()
    assert not [line for line in printed if line.startswith("stolen")], printed
    assert (str(spy), "demo-square", "PASS") in by and (str(spy), NOTEBOOK, "ERROR") not in by
    assert (str(bad), NOTEBOOK, "ERROR") in by
    assert (str(victim), "demo-square", "PASS") in by and victim.read_bytes() == victim_bytes
    assert not (tmp_path / "planted.txt").exists() and all(not r["submission"].startswith("=") for r in rows)


@pytest.mark.coursework
def test_rows_are_written_as_each_submission_is_graded(tmp_path, chapters, monkeypatch):
    import igrlib.coursework.grade as grader

    out_csv = tmp_path / "grades.csv"
    first = write(tmp_path, "a.ipynb", with_stub(SOLVED))
    second = write(tmp_path, "b.ipynb", with_stub(SOLVED))
    seen = []

    def grade_and_peek(path, **options):
        seen.append(list(csv.reader(out_csv.open())) if out_csv.exists() else None)
        return grade(path, **options)

    monkeypatch.setattr(grader, "grade", grade_and_peek)
    reference = str(tmp_path / "reference")
    main([str(first), str(second), "--csv", str(out_csv), "--chapter", "demo.ipynb", "--reference", reference])
    assert seen[0] is None and len(seen[1]) == 2, seen  # the first row was there before the second ran
    statuses = [(r["submission"], r["exercise"], r["status"]) for r in csv.DictReader(out_csv.open())]
    assert statuses == [(str(first), "demo-square", "PASS"), (str(second), "demo-square", "PASS")]


@pytest.mark.coursework
def test_gradescope_and_hidden_checks(tmp_path, chapters, capsys):
    hidden = tmp_path / "hidden.py"
    hidden.write_text(
        "import numpy as np\n"
        "@register('demo-square')\n"
        "def _(answer):\n"
        "    ok = np.allclose(answer([1.0, 2.0]), [1.0, 4.0])\n"
        "    return ok, 'ok' if ok else 'wrong on a list'\n"
    )
    sub = write(tmp_path, "demo.ipynb", with_stub(SOLVED))
    results = tmp_path / "results.json"
    assert (
        main(
            [
                str(sub),
                "--gradescope",
                str(results),
                "--extra-checks",
                str(hidden),
                "--timeout",
                str(TIMEOUT),
                "--reference",
                str(tmp_path / "reference"),
            ]
        )
        == 0
    )
    data = json.loads(results.read_text())
    tests = {t["name"]: t for t in data["tests"]}
    assert tests["demo-square"]["status"] == "passed" and tests["demo-square"]["score"] == 1
    assert tests["hidden:demo-square"]["visibility"] == "after_published"
    assert tests["hidden:demo-square"]["status"] == "failed" and "TypeError" in tests["hidden:demo-square"]["output"]
    assert data["score"] == 1
    for t in data["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output", "visibility"}
    assert "hidden:demo-square" in capsys.readouterr().out


def test_bad_options_name_the_argument(tmp_path, chapters, capsys):
    ref = str(tmp_path / "reference")
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    for args, word in [
        (["--timeout", "0"], "--timeout"),
        (["--wall", "-1"], "--wall"),
        (["--chapter", "nope.ipynb"], "--chapter"),
        (["--extra-checks", "/nonexistent"], "--extra-checks"),
        (["--extra-checks", str(broken)], "--extra-checks"),
    ]:
        with pytest.raises(SystemExit):
            main(["x.ipynb", "--reference", ref, *args])
        assert word in capsys.readouterr().err


@pytest.mark.coursework
def test_sandbox_has_no_network_and_a_private_tmp(tmp_path, chapters):
    from igrlib.coursework.grade import _results, _visible

    probe_file = pathlib.Path(__file__).resolve().parent / ".sandbox-probe"
    # its /tmp holds its work folder and, when the environment lives under the real /tmp (a clone
    # in /tmp, as CI's may be), the folders bound there read-only; nothing else of the real /tmp
    bound = {"work"} | {p.split("/")[2] for p in [*_visible(), _results()] if p.startswith("/tmp/")}
    probe = (
        f"import socket, os\nassert set(os.listdir('/tmp')) <= {bound!r}, os.listdir('/tmp')\n"
        "assert len([p for p in os.listdir('/proc') if p.isdigit()]) < 5\n"
        "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\nexcept OSError:\n    pass\n"
        "else:\n    raise AssertionError('network')\n"
        f"try:\n    open({str(probe_file)!r}, 'w')\nexcept OSError:\n    pass\n"
        "else:\n    raise AssertionError('wrote outside /tmp')\n"
        f"assert not os.path.exists({str(tmp_path)!r})  # nor sees the submissions and reports"
    )
    rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED, probe)), chapters=chapters, timeout=5)
    assert not probe_file.exists()
    assert [r[:2] for r in rows] == [("demo-square", "PASS")], rows


@pytest.mark.coursework
def test_the_callers_own_children_survive(tmp_path, chapters):
    import subprocess
    import sys

    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED)), chapters=chapters, timeout=TIMEOUT)
        assert rows[0].status == "PASS" and mine.poll() is None
    finally:
        mine.kill()
        mine.wait()
