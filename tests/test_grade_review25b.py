"""Attacks on the sandboxed grader found by a second review: each test grades a crafted notebook
in the default (sandboxed) mode; each failed before its fix.

- Closed: the sandbox ran as the machine's own root with a writable ``/proc/sys`` (sysctl files
  check the uid alone), so a submission could change the machine's kernel settings
  (``kernel.core_pattern``, ``kernel.pid_max``, ``fs.file-max``...); now ``/proc/sys`` is bound
  read-only and the sandbox cannot make user namespaces of its own.
- Closed where the grader can make cgroups (cgroup v1 as root, or v2 with a delegated
  subtree): the memory limit was an address-space limit (``RLIMIT_AS``) of each process, and
  memory that is not mapped, such as a ``memfd`` filled with ``write``, was not counted, so one
  process held as much as it liked; now each sandbox is a cgroup with ``MEMORY_LIMIT`` in all and
  ``TASKS_LIMIT`` tasks. Where none can be made the grader warns, and the instructors' page says
  how to bound it from outside.
- Closed: a submission that was a link to itself stopped the whole batch (``Path.resolve``
  raised ``RuntimeError`` on the loop before anyone was graded).
- Closed: a submission that was a link to the instructor's own chapter (``submissions/mallory.ipynb
  -> ../book/02_euler.ipynb``), or sat in a folder linked to it, was graded as the student's
  work and passed; a link to any other file put its first forty characters in the report
  (nbformat's "does not appear to be JSON" message quoted them). Submissions are now opened
  with ``O_NOFOLLOW``, a reference chapter is never graded as a submission, and parser messages
  are not shown.
"""

import csv

import nbformat
import pytest
from test_grade_attacks import chapter, graded

from igrlib.coursework import grade as grade_module

pytestmark = [pytest.mark.usefixtures("sandbox"), pytest.mark.coursework]  # seconds each: make coursework

SQUARE = "def square(x):\n    return x ** 2"


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


def test_a_submission_cannot_hold_more_memory_than_its_limit(tmp_path, monkeypatch, cgroups):
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


def test_a_submission_in_a_folder_linked_to_the_reference_does_not_pass(tmp_path):
    """The same through a link to the folder: ``submissions/mallory -> ../book``, submitted as
    ``submissions/mallory/ch.ipynb`` (the file itself is no link)."""
    reference = tmp_path / "book"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x", SQUARE), reference / "ch.ipynb")  # with its solution
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "mallory").symlink_to("../book")
    report = tmp_path / "grades.csv"
    grade_module.main([str(submissions / "mallory" / "ch.ipynb"), "--reference", str(reference), "--csv", str(report)])
    rows = list(csv.DictReader(report.open()))
    assert [r["status"] for r in rows] == ["ERROR"] and "reference chapter" in rows[0]["message"], rows


def test_a_submission_cannot_start_more_tasks_than_its_limit(tmp_path, monkeypatch, cgroups):
    """A cell starts processes that wait (a slow fork bomb) until it has started more than the
    sandbox's task limit (lowered to 64 here): the cgroup refuses the fork. (Its waiting processes
    then leave this submission's own exercises no room to run: its grade, no one else's.)"""
    monkeypatch.setattr(grade_module, "TASKS_LIMIT", 64)
    bomb = (
        "import os, time\n"
        "started = 0\n"
        "for _ in range(100):\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    started += 1\n"
        "raise RuntimeError(f'started {started} processes')\n"
    )
    rows = graded(tmp_path, "demo-square", "square", "x", SQUARE, bomb, timeout=30)
    assert not any("started 100 processes" in row.message for row in rows), rows
    assert any("BlockingIOError" in row.message for row in rows), rows
