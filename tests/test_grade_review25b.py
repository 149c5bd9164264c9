"""Attacks on the sandboxed grader that still work: each test grades a crafted notebook in the
default (sandboxed) mode and fails until the weakness it shows is closed.

- The sandbox runs as the machine's own root: bubblewrap, started by root, maps uid 0 inside to
  uid 0 outside and mounts a procfs whose ``/proc/sys`` stays writable. Sysctl files check the
  uid alone (no capability), so a submission can change the machine's kernel settings
  (``kernel.core_pattern``, ``kernel.pid_max``, ``fs.file-max``, ``vm.panic_on_oom``... some 700
  of them), which outlive the sandbox and reach the grader and every later submission.
- The memory limit is an address-space limit (``RLIMIT_AS``) of each process: memory that is
  not mapped, such as a ``memfd`` (or System V shared memory) filled with ``write``, is not
  counted, so one process holds as much as it likes.
- A submission that is a link to itself (a link that an archive of the student's files can
  carry) stops the whole batch: ``main`` resolves every submission's path before grading, and
  ``Path.resolve`` raises ``RuntimeError`` on a loop, so no submission gets a row and no report
  is written.
- A submission that is a link to the instructor's own chapter (``submissions/mallory.ipynb ->
  ../book/02_euler.ipynb`` in the layout the instructors' page gives) is read through the link:
  the reference, solutions and all, is graded as the student's work and passes. A link to any
  other file the grader can read puts its first forty characters in the report the student
  sees (nbformat's "does not appear to be JSON" message quotes them).
"""

import csv

import nbformat
import pytest
from test_grade_attacks import chapter, graded

from igrlib.coursework import grade as grade_module

pytestmark = [pytest.mark.usefixtures("sandbox"), pytest.mark.coursework]  # seconds each: make coursework

SQUARE = "def square(x):\n    return x ** 2"


@pytest.mark.xfail(strict=True, reason="open: the sandbox's root can write the machine's /proc/sys")
def test_a_submission_cannot_change_the_machines_kernel_settings(tmp_path):
    """A cell opens sysctl files for writing (and writes nothing: the test changes no setting).
    Today every one opens: a submission could set ``kernel.pid_max`` or ``fs.file-max`` so low
    that the next submissions (and the grader) cannot start, or ``kernel.core_pattern`` to a
    program the kernel runs as root outside the sandbox."""
    probe = (
        "import os\n"
        "writable = []\n"
        "for name in ('kernel/core_pattern', 'kernel/pid_max', 'fs/file-max', 'vm/panic_on_oom'):\n"
        "    try:\n"
        "        os.close(os.open('/proc/sys/' + name, os.O_WRONLY))  # opened, nothing written\n"
        "        writable.append(name)\n"
        "    except OSError:\n"
        "        pass\n"
        "if writable:\n"
        "    raise RuntimeError('kernel settings open for writing: ' + ', '.join(writable))\n"
    )
    rows = graded(tmp_path, "demo-square", "square", "x", SQUARE, probe, timeout=30)
    assert rows[0].status == "PASS", rows  # the honest answer still passes
    assert not any("open for writing" in row.message for row in rows), rows


@pytest.mark.xfail(strict=True, reason="open: memory a process does not map escapes the memory limit")
def test_a_submission_cannot_hold_more_memory_than_its_limit(tmp_path, monkeypatch):
    """A cell fills memfd files with ``os.write`` until it holds a quarter GiB more than its
    address-space limit (lowered to 1 GiB here, so that the test holds 1.25 GiB, not 4.25).
    Nothing stops it: with the default 4 GiB, one process could hold 20,000 such files of
    256 MiB (its file-descriptor and file-size limits), far beyond the machine's memory, where
    the kernel's OOM killer picks a victim outside the sandbox (the grader)."""
    monkeypatch.setattr(grade_module, "MEMORY_LIMIT", 2**30)
    hold = (
        "import os, resource\n"
        "limit = resource.getrlimit(resource.RLIMIT_AS)[0]\n"
        "chunk, fds, held = b'x' * 2**20, [], 0\n"
        "while held < limit + 2**28:\n"
        "    fd = os.memfd_create('hold')\n"
        "    for _ in range(128):\n"
        "        os.write(fd, chunk)\n"
        "    fds.append(fd)\n"
        "    held += 128 * 2**20\n"
        "raise RuntimeError(f'held {held // 2**20} MiB, limit {limit // 2**20} MiB')\n"
    )
    rows = graded(tmp_path, "demo-square", "square", "x", SQUARE, hold, timeout=30)
    assert not any(row.message.startswith("cell 2 raised RuntimeError: held") for row in rows), rows


@pytest.mark.xfail(strict=True, reason="open: a submission that links to itself stops the whole batch")
def test_a_submission_linked_to_itself_does_not_stop_the_batch(tmp_path):
    """An honest submission and one that is a symbolic link to itself, graded in one run."""
    reference = tmp_path / "reference"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    honest = tmp_path / "alice.ipynb"
    nbformat.write(chapter("demo-square", "square", "x", SQUARE), honest)
    loop = tmp_path / "mallory.ipynb"
    loop.symlink_to(loop.name)
    report = tmp_path / "grades.csv"
    arguments = [str(honest), str(loop), "--reference", str(reference), "--chapter", "ch.ipynb", "--csv", str(report)]
    try:
        grade_module.main(arguments)
    except RuntimeError as exc:
        pytest.fail(f"the grader stopped before grading anyone: {exc}")
    rows = list(csv.DictReader(report.open()))
    assert any(r["submission"] == str(honest) and r["status"] == "PASS" for r in rows), rows
    assert any(r["submission"] == str(loop) and r["status"] == "ERROR" for r in rows), rows


@pytest.mark.xfail(strict=True, reason="open: a submission is read through a link, to the instructor's own chapter")
def test_a_submission_linked_to_the_reference_chapter_does_not_pass(tmp_path):
    """The instructor's chapter holds the solutions; a submission that is a relative link to it
    (the layout of the instructors' page: submissions next to ``book/``) gets full marks."""
    reference = tmp_path / "book"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x", SQUARE), reference / "ch.ipynb")  # with its solution
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    link = submissions / "mallory.ipynb"
    link.symlink_to("../book/ch.ipynb")
    report = tmp_path / "grades.csv"
    grade_module.main([str(link), "--reference", str(reference), "--chapter", "ch.ipynb", "--csv", str(report)])
    rows = list(csv.DictReader(report.open()))
    assert not any(r["status"] == "PASS" for r in rows), rows


@pytest.mark.xfail(strict=True, reason="open: a submission is read through a link, and its text is quoted")
def test_a_submission_linked_to_a_file_of_the_grader_does_not_show_it(tmp_path):
    """A link to a file of the instructor's (hidden checks, keys...) that is not a notebook."""
    secret = tmp_path / "hidden.py"
    secret.write_text("TOKEN = 'x7Qe9' # the first line of a file\n")
    reference = tmp_path / "book"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    link = tmp_path / "ch.ipynb"
    link.symlink_to(secret)
    results = tmp_path / "results.json"
    grade_module.main([str(link), "--reference", str(reference), "--gradescope", str(results)])
    assert "x7Qe9" not in results.read_text(), results.read_text()
