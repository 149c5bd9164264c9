"""One submission cannot touch another's grade: attacks that once changed, delayed or lost other
submissions' grades, each rebuilt from notebooks made here and graded in the sandbox."""

import csv
import ctypes
import os
import subprocess
import sys
import time

import pytest
from test_grade import SOLVED, TIMEOUT, with_stub, write

import igrlib
from igrlib.coursework.grade import main


def _batch(tmp_path, *cells, csv_file=None):
    """Grade an attacking submission (its cells ``cells``) then an honest one; their CSV rows."""
    attacker = write(tmp_path, "attacker.ipynb", with_stub("def square(x):\n    return 2 * x", *cells))
    honest = write(tmp_path, "honest.ipynb", with_stub(SOLVED))
    out = csv_file or tmp_path / "grades.csv"
    reference = str(tmp_path / "reference")
    args = ["--chapter", "demo.ipynb", "--reference", reference, "--timeout", str(TIMEOUT), "--csv", str(out)]
    assert main([str(attacker), str(honest), *args]) == 0
    return [(r["submission"], r["exercise"], r["status"]) for r in csv.DictReader(out.open())]


@pytest.mark.coursework
def test_the_environment_the_graders_folder_and_the_reports_are_out_of_reach(tmp_path, chapters, monkeypatch):
    """Once: a .pyc planted in igrlib's __pycache__ (a changed co_stacksize, or marshal data that
    contains itself) killed every later process or the grader; a 1,100-deep chain of folders in
    site-packages broke the snapshot; secrets.py in the grader's folder was imported by its next
    run; the CSV replaced by a link into site-packages blamed the next student."""
    monkeypatch.chdir(tmp_path)
    cache = os.path.join(os.path.dirname(igrlib.__file__), "__pycache__", "descent.cpython-311.pyc")
    site = os.path.dirname(os.path.dirname(os.__file__))
    out = tmp_path / "grades.csv"
    attacks = [
        f"open({cache!r}, 'wb').write(b'garbage')",
        f"import os\np = {site!r}\nfor _ in range(1100):\n    p = os.path.join(p, 'd')\n    os.mkdir(p)",
        f"open({str(tmp_path / 'secrets.py')!r}, 'w').write('raise SystemExit')",
        f"import os\nos.remove({str(out)!r})\nos.symlink({cache!r}, {str(out)!r})",
        f"import os\nos.remove({str(tmp_path / 'honest.ipynb')!r})\nos.mkfifo({str(tmp_path / 'honest.ipynb')!r})",
    ]
    before = {p: os.stat(p) if os.path.exists(p) else None for p in (cache, site)}
    rows = _batch(tmp_path, *attacks, csv_file=out)
    assert [r[2] for r in rows if r[1] == "demo-square"] == ["FAIL", "PASS"], rows
    errors = [r for r in rows if r[0].endswith("attacker.ipynb") and r[1] == "(notebook)"]
    assert len(errors) == len(attacks), rows  # every attack failed in its own cell
    assert not (tmp_path / "secrets.py").exists() and not os.path.islink(out)
    assert not os.path.exists(os.path.join(site, "d")) and (tmp_path / "honest.ipynb").is_file()
    assert {p: os.stat(p) if os.path.exists(p) else None for p in (cache, site)} == before


@pytest.mark.coursework
def test_a_process_named_0xff_on_the_machine_does_not_break_grading(tmp_path, chapters):
    """A helper named b'\\xff' made the grader's process scan raise UnicodeDecodeError: nothing was
    killed and every later submission was an ERROR."""
    code = "import ctypes, time; ctypes.CDLL(None).prctl(15, b'\\xff', 0, 0, 0); time.sleep(60)"
    named = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.5)
        rows = _batch(tmp_path)
        assert [r[2] for r in rows if r[1] == "demo-square"] == ["FAIL", "PASS"], rows
    finally:
        named.kill()
        named.wait()


def test_a_submission_that_is_a_fifo_is_an_error_not_a_hang(tmp_path, chapters, capsys):
    fifo = tmp_path / "demo.ipynb"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert main([str(fifo), "--reference", str(tmp_path / "reference"), "--csv", str(tmp_path / "g.csv")]) == 0
    assert time.monotonic() - start < 10 and "not a regular file" in (tmp_path / "g.csv").read_text()


@pytest.mark.coursework
def test_no_shared_memory_or_files_outlive_a_submission(tmp_path, chapters):
    """System V shared memory outlived the old sandbox (no IPC namespace): one submission left data
    for the next. Here the second passes only if it finds what the first left."""
    key = 0x1225 + os.getpid() % 1000
    leave = f"import ctypes\nassert ctypes.CDLL(None).shmget({key}, 4096, 0o1666) >= 0\nopen('/tmp/left', 'w')"
    first = write(tmp_path, "first.ipynb", with_stub(SOLVED, leave))
    find = f"import ctypes, os\nFOUND = ctypes.CDLL(None).shmget({key}, 0, 0) >= 0 or os.path.exists('/tmp/left')\n"
    second = write(tmp_path, "second.ipynb", with_stub("def square(x):\n    return x * x if FOUND else 2 * x", find))
    out = tmp_path / "g.csv"
    main([str(first), str(second), "--chapter", "demo.ipynb", "--reference", str(tmp_path / "reference"),
          "--csv", str(out)])  # fmt: skip
    rows = [(r["submission"], r["exercise"], r["status"]) for r in csv.DictReader(out.open())]
    assert rows == [(str(first), "demo-square", "PASS"), (str(second), "demo-square", "FAIL")], rows
    assert ctypes.CDLL(None).shmget(key, 0, 0) < 0  # nothing left on the machine either


@pytest.mark.coursework
def test_the_sandbox_works_with_an_environment_under_tmp(tmp_path, chapters):
    """The sandbox has a /tmp of its own: an environment in the real /tmp (where CI's clone may be)
    is bound into it again. Graded by an interpreter of a virtual environment made in /tmp."""
    from conftest import make_venv

    assert str(tmp_path).startswith("/tmp/")
    python, _ = make_venv(tmp_path / "venv", os.path.dirname(os.path.dirname(igrlib.__file__)))
    honest = write(tmp_path, "demo.ipynb", with_stub(SOLVED))
    out = tmp_path / "g.csv"
    command = [str(python), "-m", "igrlib.coursework.grade", str(honest), "--reference", str(tmp_path / "reference")]
    done = subprocess.run([*command, "--csv", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [(r["exercise"], r["status"]) for r in csv.DictReader(out.open())]
    assert rows == [("demo-square", "PASS")], (rows, done.stdout)


def test_the_sandbox_shows_the_study_results_read_only_and_not_the_chapters(sandbox):
    """Chapters 8 and 9 read the committed study results (igrlib.study.DATA_DIR); without them
    in the sandbox every honest submission of those chapters was an ERROR. The chapters beside
    them, with their solutions, stay out of reach, and the results cannot be changed."""
    from igrlib.coursework.grade import _sandbox
    from igrlib.study import DATA_DIR

    chapter = DATA_DIR.parent / "02_euler.ipynb"
    code = (
        "import os, sys\n"
        f"rows = open({str(DATA_DIR / 'fullbatch.csv')!r}).read().count(chr(10))\n"
        f"try:\n    open({str(DATA_DIR / 'planted.csv')!r}, 'w')\n    wrote = True\n"
        "except OSError:\n    wrote = False\n"
        f"print(rows, wrote, os.path.exists({str(chapter)!r}))"
    )
    out = subprocess.run(_sandbox([sys.executable, "-I", "-c", code]), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert chapter.exists() and out.stdout.split() == ["361", "False", "False"], out.stdout
    assert not (DATA_DIR / "planted.csv").exists()


@pytest.mark.coursework
def test_the_sandbox_starts_when_python_is_named_through_a_hidden_folder(sandbox):
    """``../.venv/bin/python -m igrlib.coursework.grade`` run from ``tests/``: the sandbox was told
    to run ``.../tests/../.venv/bin/python``, which passes through a folder it does not show, and
    no process started."""
    hidden = os.path.dirname(os.path.abspath(__file__))  # tests/: not in the sandbox
    relative = os.path.relpath(os.path.abspath(sys.executable), hidden)
    assert relative.startswith("..")
    code = "from igrlib.coursework.grade import sandbox_problem; print(sandbox_problem())"
    probe = subprocess.run([relative, "-c", code], capture_output=True, text=True, check=True, cwd=hidden)
    assert probe.stdout.strip() == "None", probe.stdout
