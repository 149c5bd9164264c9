"""Attacks on the grader and the student edition that once succeeded, each rebuilt from a small
notebook made here; every test asserts the behaviour an instructor needs."""

import json
import os
import pathlib
import time

import nbformat
import pytest
from test_grade import SOLVED, TIMEOUT, with_stub, write
from test_student import demo_notebook

from igrlib.coursework.grade import NOTEBOOK, grade, main, reference_chapters
from igrlib.coursework.student import student_edition

# ---------------------------------------------------------------- the sandbox


@pytest.mark.coursework
def test_the_sandbox_cannot_be_remounted_writable(tmp_path, chapters):
    """Root in its own user namespace, the submission once remounted / read-write and wrote
    the files the sandbox promises to protect (other submissions, igrlib, the grades)."""
    probe_file = pathlib.Path(__file__).resolve().parent / ".sandbox-remount-probe"
    attack = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "status = open('/proc/self/status').read()\n"
        "assert status.split('CapEff:')[1].split()[0] == '0000000000000000', 'capabilities kept'\n"
        "assert libc.mount(b'none', b'/', None, 32 | 4096, None) != 0  # MS_REMOUNT | MS_BIND, read-write\n"
        f"try:\n    open({str(probe_file)!r}, 'w').write('written')\nexcept OSError:\n    pass\n"
        "else:\n    raise AssertionError('wrote outside /tmp')"
    )
    try:
        path = write(tmp_path, "demo.ipynb", with_stub(SOLVED, attack))
        rows = grade(path, chapters=chapters, timeout=5, sandbox=True)
        assert not probe_file.exists()
    finally:
        probe_file.unlink(missing_ok=True)
    assert [r[:2] for r in rows] == [("demo-square", "PASS")], rows


# ---------------------------------------------------------------- points from the reference


@pytest.mark.parametrize("points", [-1, "3", float("nan"), float("inf"), True, None, [1]])
def test_points_that_are_not_a_nonnegative_number_are_refused(tmp_path, capsys, points):
    ref = tmp_path / "reference"
    ref.mkdir()
    nb = demo_notebook()
    nb.metadata["igrlib"] = {"points": {"demo-square": points}}
    (ref / "demo.ipynb").write_text(json.dumps(nb))  # nbformat.write would refuse NaN
    with pytest.raises(ValueError, match="demo-square"):
        reference_chapters(ref)
    sub = write(tmp_path, "demo.ipynb", with_stub(SOLVED))
    with pytest.raises(SystemExit):
        main([str(sub), "--reference", str(ref), "--timeout", str(TIMEOUT)])
    assert "--reference" in capsys.readouterr().err


def test_points_for_no_exercise_are_refused(tmp_path):
    ref = tmp_path / "reference"
    ref.mkdir()
    nb = demo_notebook()
    nb.metadata["igrlib"] = {"points": {"demo-sqaure": 2}}  # a typo would silently give 1 point
    nbformat.write(nb, ref / "demo.ipynb")
    with pytest.raises(ValueError, match="demo-sqaure"):
        reference_chapters(ref)


# ---------------------------------------------------------------- the student edition


@pytest.mark.parametrize(
    "directive",
    [
        "```{Solution} ex-demo-square\nSECRET\n```",
        ":::{SOLUTION} ex-demo-square\nSECRET\n:::",
        "  ````  {solution} ex-demo-square\nSECRET\n````",
        "```{Solution-Start} ex-demo-square\n```\nSECRET\n```{Solution-End}\n```",
        "```{eval-rst}\n.. solution:: ex-demo-square\n\n   SECRET\n```",
        "~~~{solution} ex-demo-square\nSECRET\n~~~",
    ],
)
def test_solution_directives_of_any_case_never_reach_students(directive):
    """Sphinx reads directive names case-blind, so ``{Solution}`` is a solution in the book; a
    fence of tildes makes a directive as one of backticks does."""
    nb = demo_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(directive))  # no 'solution' tag
    try:
        out = student_edition(nb)
    except ValueError as exc:  # refusing is correct too
        assert "solution" in str(exc)
    else:
        assert "SECRET" not in json.dumps(out)
    if directive.startswith("~"):  # stripped, not refused
        assert "SECRET" not in json.dumps(student_edition(nb))


# ---------------------------------------------------------------- attacks that fail (kept cheap)


def _running(marker):
    """Processes whose command line contains ``marker``."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@pytest.mark.coursework
def test_no_daemon_survives_its_submission(tmp_path, chapters):
    """Double fork through a shell, a new session, SIGHUP ignored: killed before the grade returns."""
    marker = f"61.{os.getpid()}"
    daemon = f"import subprocess\nsubprocess.run('nohup setsid sleep {marker} >/dev/null 2>&1 &', shell=True)"
    path = write(tmp_path, "demo.ipynb", with_stub(SOLVED, daemon))
    rows = grade(path, chapters=chapters, timeout=5)
    assert [r[:2] for r in rows] == [("demo-square", "PASS")], rows
    end = time.monotonic() + 5  # the sandbox's processes are killed with it, and reaped soon after
    while _running(marker) and time.monotonic() < end:
        time.sleep(0.1)
    assert _running(marker) == []


@pytest.mark.coursework
def test_a_sandboxed_submission_cannot_signal_the_grader(tmp_path, chapters):
    attack = "import os, signal\nassert os.getppid() == 0\nos.kill(-1, signal.SIGKILL)"
    rows = grade(write(tmp_path, "demo.ipynb", with_stub(SOLVED, attack)), chapters=chapters, timeout=5, sandbox=True)
    assert rows[0][:2] == ("demo-square", "PASS"), rows  # the grader is alive and graded the rest


@pytest.mark.coursework
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a socket in /run")
def test_the_sandbox_cannot_reach_a_unix_socket_in_run(tmp_path, chapters):
    """A new network namespace has no TCP/IP, but a Unix socket on the host's file systems
    (``/run/docker.sock``, the D-Bus bus) is reached by path: a read-only mount does not stop it."""
    import socket

    path = pathlib.Path(f"/run/igrlib-test-{os.getpid()}.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    server.setblocking(False)
    attack = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({str(path)!r})\ns.sendall(b'out')"
    try:
        path_nb = write(tmp_path, "demo.ipynb", with_stub(SOLVED, attack))
        rows = grade(path_nb, chapters=chapters, timeout=5, sandbox=True)
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()
        path.unlink()
    assert rows[0][:2] == ("demo-square", "PASS") and "cell 2 raised" in rows[1].message, rows


def test_a_report_file_that_is_a_submission_or_a_chapter_is_refused(tmp_path, chapters, capsys):
    """``--csv`` naming a submission (a slip of the shell's completion) overwrote it with the grades."""
    sub = write(tmp_path, "demo.ipynb", with_stub(SOLVED))
    before = sub.read_bytes()
    ref = tmp_path / "reference"
    for option, target in [("--csv", sub), ("--gradescope", sub), ("--csv", ref / "demo.ipynb")]:
        with pytest.raises(SystemExit):
            main([str(sub), "--reference", str(ref), "--timeout", str(TIMEOUT), option, str(target)])
        assert option in capsys.readouterr().err
    assert sub.read_bytes() == before


@pytest.mark.coursework
def test_points_come_from_the_reference_and_their_total_is_finite(tmp_path, chapters):
    nb = with_stub(SOLVED)
    nb.metadata["igrlib"]["points"] = {"demo-square": 100}  # the student's own metadata
    rows = grade(write(tmp_path, "demo.ipynb", nb), chapters=chapters, timeout=TIMEOUT)
    assert rows[0][:4] == ("demo-square", "PASS", 1, 1), rows
    ref = tmp_path / "huge"
    ref.mkdir()
    two = demo_notebook()
    two.cells.append(nbformat.v4.new_code_cell('igr.check("demo-square", square)'))
    two.metadata["igrlib"] = {"points": {"demo-square": 1e308}}  # finite, but the total is not
    nbformat.write(two, ref / "demo.ipynb")
    with pytest.raises(ValueError, match="total"):
        reference_chapters(ref)


MALFORMED = {
    "igrlib metadata a string": lambda nb: nb["metadata"].__setitem__("igrlib", "x"),
    "igrlib metadata a list": lambda nb: nb["metadata"].__setitem__("igrlib", [1]),
    "chapter a list": lambda nb: nb["metadata"]["igrlib"].__setitem__("chapter", ["demo.ipynb"]),
    "chapter a dict": lambda nb: nb["metadata"]["igrlib"].__setitem__("chapter", {}),
    "source a number": lambda nb: nb["cells"][0].__setitem__("source", 5),
    "cells a dict": lambda nb: nb.__setitem__("cells", {}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_notebook_is_an_error_not_a_crash(tmp_path, chapters, case):
    """Each of these raised out of the grader: the whole batch stopped, no grade after it."""
    nb = json.loads(nbformat.writes(with_stub(SOLVED)))
    MALFORMED[case](nb)
    path = tmp_path / "alice.ipynb"  # not a chapter's name: the chapter comes from the metadata
    path.write_text(json.dumps(nb))
    rows = grade(path, chapters=chapters, timeout=TIMEOUT)
    assert [r[:2] for r in rows] == [(NOTEBOOK, "ERROR")], rows
    assert "not a valid notebook" in rows[0].message or "which chapter" in rows[0].message, rows


@pytest.mark.coursework
def test_an_unforeseen_error_on_one_submission_does_not_stop_the_batch(tmp_path, chapters, monkeypatch):
    import csv

    import igrlib.coursework.grade as grader

    real = grader.grade

    def fails_on_the_first(path, **kwargs):
        if pathlib.Path(path).name == "a.ipynb":
            raise RuntimeError("a case nobody foresaw")
        return real(path, **kwargs)

    monkeypatch.setattr(grader, "grade", fails_on_the_first)
    first, second = (write(tmp_path, name, with_stub(SOLVED)) for name in ("a.ipynb", "b.ipynb"))
    out = tmp_path / "grades.csv"
    ref = str(tmp_path / "reference")
    main([str(first), str(second), "--chapter", "demo.ipynb", "--reference", ref, "--csv", str(out)])
    rows = [(r["submission"], r["exercise"], r["status"]) for r in csv.DictReader(out.open())]
    assert rows == [(str(first), NOTEBOOK, "ERROR"), (str(second), "demo-square", "PASS")]
    assert "a case nobody foresaw" in out.read_text()


@pytest.mark.coursework
def test_a_cell_the_parser_cannot_hold_is_that_cells_error(tmp_path, chapters):
    """The grader parses the cells itself (to tell the chapter); ten thousand unary minuses made
    ``ast.parse`` raise MemoryError out of the grader."""
    nb = with_stub(SOLVED, "-" * 10**4 + "1")
    rows = grade(write(tmp_path, "demo.ipynb", nb), chapters=chapters, timeout=5)
    assert rows[0][:2] == ("demo-square", "PASS"), rows
    assert [r[:2] for r in rows[1:]] == [(NOTEBOOK, "ERROR")] and "cell 2" in rows[1].message, rows


def test_one_line_of_a_long_hostile_message():
    from igrlib.coursework.grade import one_line

    assert one_line("E" * 10**7, 300) == "E" * 297 + "..."
    assert one_line("\x1b" * 400, 300) == "\\x1b" * 74 + "\\..."
    assert one_line("\u202e" + "x" * 299, 300) == "\\u202e" + "x" * 291 + "..."
    assert one_line("a\nb", 300) == "a\\nb"


def test_the_attachments_of_a_cut_solution_are_cut_too():
    nb = demo_notebook()
    cell = nbformat.v4.new_markdown_cell(
        "Before.\n\n```{solution} ex-demo-square\n![the answer](attachment:answer.png)\n```\n\n"
        "![kept](attachment:kept.png)"
    )
    cell["attachments"] = {"answer.png": {"image/png": "U0VDUkVU"}, "kept.png": {"image/png": "a2VwdA=="}}
    nb.cells.append(cell)
    out = student_edition(nb)
    assert "U0VDUkVU" not in json.dumps(out)
    assert out.cells[-1]["attachments"] == {"kept.png": {"image/png": "a2VwdA=="}}


def test_gradescope_with_two_notebooks_uploaded_still_writes_results(tmp_path, chapters):
    """A student who uploads two notebooks made ``--gradescope`` stop with a usage error and no
    results.json: Gradescope then shows the student only that the autograder failed."""
    subs = [write(tmp_path, name, with_stub(SOLVED)) for name in ("demo.ipynb", "copy.ipynb")]
    results = tmp_path / "results.json"
    ref = str(tmp_path / "reference")
    assert main([*map(str, subs), "--gradescope", str(results), "--reference", ref, "--chapter", "demo.ipynb"]) != 0
    data = json.loads(results.read_text())
    assert data["score"] == 0 and data["tests"] == [] and "exactly one notebook" in data["output"]


@pytest.mark.coursework
def test_an_oversized_submission_is_refused_before_it_is_read(tmp_path, chapters, monkeypatch):
    """A notebook of gigabytes (an output of random bytes) was read and parsed whole by the grader."""
    import csv

    import igrlib.coursework.grade as grader

    monkeypatch.setattr(grader, "MAX_SUBMISSION", 2**16)
    nb = with_stub(SOLVED)
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 2**17)]
    big, small = write(tmp_path, "big.ipynb", nb), write(tmp_path, "demo.ipynb", with_stub(SOLVED))
    out = tmp_path / "grades.csv"
    ref = str(tmp_path / "reference")
    main([str(big), str(small), "--chapter", "demo.ipynb", "--reference", ref, "--csv", str(out)])
    rows = [(r["submission"], r["exercise"], r["status"], r["message"]) for r in csv.DictReader(out.open())]
    assert rows[0][:3] == (str(big), NOTEBOOK, "ERROR") and "larger than 64 KiB" in rows[0][3], rows
    assert rows[1][:3] == (str(small), "demo-square", "PASS")
