"""Grade submitted notebooks: ``python -m igrlib.coursework.grade SUBMISSION.ipynb [...] [--csv FILE]``.

What is graded comes from the instructor's copy of the book (``--reference``,
default ``book/``), never from the submission: the chapter is the reference
notebook of the same file name, or ``--chapter``, or the chapter the student
edition recorded in the submission's metadata. A notebook of another chapter is
reported as such, and a missing exercise as ``ERROR``.

Every submission is read and hashed before any is run, and graded from its own
copy in a private folder. Its code cells run in a separate process (see
:mod:`igrlib.coursework._runner`), which also runs each check there to *record*
what the student's function returns for the check's inputs, as plain data. The
verdict is made here, in the grader's process, by its own copy of the check
replaying that record (:mod:`igrlib.coursework._replay`): nothing the
submission's code does can reach it. A cell past ``--timeout`` is
interrupted; if the interrupt is not answered within a few seconds the process
group is killed, the cell skipped and the rest re-run, without the cells that
already ran out of time (at most ``MAX_RESTARTS`` times); ``--wall`` caps a whole submission. Anything the
submission left running is killed before the next one starts. The files of the
grader's Python environment are compared before and after each submission
(:mod:`igrlib.coursework._environment`): one that changed them stops the grading
there. Each submission's rows are written to the CSV as soon as it is graded;
the files are re-hashed at the end.

Statuses, one row per exercise: ``PASS``, ``FAIL``, ``TODO`` (the stub still
raises ``NotImplementedError``), ``ERROR`` (no answer, or the check could not
run), ``TIMEOUT``, ``KERNEL DIED``. Rows about the notebook as a whole have the
exercise ``(notebook)`` and no points.

The trust boundary is described on the instructors' page: use ``--sandbox``
(no network, no capabilities, every file system read-only but a private ``/tmp``,
an empty ``/run``, a ``/dev`` of five harmless devices, its own process table) or a
throwaway environment.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import functools
import hashlib
import json
import math
import os
import pathlib
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import NamedTuple

from . import _environment, _replay, checks
from .student import find_checks, find_exercises

__all__ = ["Row", "grade", "main"]

DEFAULT_TIMEOUT = 60  # seconds per cell
DEFAULT_WALL = 600  # seconds per submission
GRACE = 2.0  # seconds an interrupted cell has to stop before its process is killed
MAX_RESTARTS = 4  # process deaths per submission before the rest is given up
NOTEBOOK = "(notebook)"
MEMORY_LIMIT = 4 * 2**30  # bytes of address space for a submission's process
FILE_LIMIT = 256 * 2**20  # bytes of any file it writes
MAX_MESSAGE = 16 * 2**20  # bytes of one message from it (the record of one exercise's answer)
MAX_SUBMISSION = 100 * 2**20  # bytes of a submitted notebook; a larger one is not read


class Row(NamedTuple):
    """One line of the report."""

    exercise: str
    status: str
    points: float
    max_points: float
    message: str


def one_line(text, limit=300):
    """``text`` on one line (control characters escaped), at most ``limit`` characters."""
    text = str(text)
    # cut before escaping: a submission's message may be megabytes long
    escaped = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return escaped if len(escaped) <= limit and len(text) <= limit else escaped[: limit - 3] + "..."


def _csv_safe(text):
    """A CSV field a spreadsheet will not read as a formula."""
    text = one_line(text, 1000)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# --------------------------------------------------------------------------- what is graded


def _load(source):
    """A submission's notebook, its cells' sources checked to be text (raises on anything else)."""
    import nbformat

    nb = nbformat.reads(source, as_version=4)
    if not isinstance(nb.get("cells"), list) or not all(
        isinstance(c, dict) and isinstance(c.get("source"), str) for c in nb.cells
    ):
        raise ValueError("its cells are not a list of cells with text sources")
    return nb


def _recorded_chapter(nb):
    """The chapter the student edition recorded in ``nb``'s metadata, or None (also if malformed)."""
    meta = nb.get("metadata")
    meta = meta.get("igrlib") if isinstance(meta, dict) else None
    chapter = meta.get("chapter") if isinstance(meta, dict) else None
    return chapter if isinstance(chapter, str) else None


def reference_chapters(reference):
    """``{file name: notebook}`` of the instructor's chapters in folder ``reference``."""
    import nbformat

    folder = pathlib.Path(reference)
    if not folder.is_dir():
        raise ValueError(f"--reference {reference!r} is not a folder of chapter notebooks")
    chapters = {p.name: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}
    for name, nb in chapters.items():
        _check_points(nb, f"--reference {reference!r}: {name}")
    return chapters


def _check_points(nb, where):
    """Raise ValueError unless ``metadata.igrlib.points`` maps exercises of ``nb`` to finite numbers >= 0."""
    points = nb.get("metadata", {}).get("igrlib", {}).get("points", {})
    if not isinstance(points, dict):
        raise ValueError(f"{where}: metadata.igrlib.points must map check names to points, not {points!r}")
    checks_here = {e["check"] for e in find_exercises(nb)}
    for check, value in points.items():
        if check not in checks_here:
            raise ValueError(f"{where}: metadata.igrlib.points names {check!r}, which is no exercise of the chapter")
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}: the points of {check!r} must be a finite number >= 0, not {value!r}")
    if not math.isfinite(sum(p for _, _, p in exercise_list(nb))):
        raise ValueError(f"{where}: the total of metadata.igrlib.points is not a finite number")


def exercise_list(nb):
    """``[(check, answer, points)]`` of an instructor's chapter; points from ``metadata.igrlib.points``."""
    points = nb.get("metadata", {}).get("igrlib", {}).get("points", {})
    return [(e["check"], e["answer"], float(points.get(e["check"], 1))) for e in find_exercises(nb)]


def _chapter_of(nb, path, chapters, chapter):
    """The reference chapter a submission answers, and notebook-level rows if it is the wrong one."""
    if chapter is not None:
        name = chapter
    elif pathlib.Path(path).name in chapters:
        name = pathlib.Path(path).name
    else:
        name = _recorded_chapter(nb)
    if name not in chapters:
        return None, [
            Row(
                NOTEBOOK,
                "ERROR",
                0,
                0,
                "cannot tell which chapter this is; name the file as the chapter or pass --chapter",
            )
        ]
    own = {n for cell in nb.cells if cell.cell_type == "code" for n, _ in find_checks(cell.source)}
    mine = {e[0] for e in exercise_list(chapters[name])}
    if own and not own & mine:
        others = [c for c, ref in chapters.items() if own & {e[0] for e in exercise_list(ref)}]
        where = f"of {others[0]}" if others else "of no chapter in the reference"
        return name, [Row(NOTEBOOK, "ERROR", 0, 0, f"this is the notebook {where}, not of {name}")]
    return name, []


# --------------------------------------------------------------------------- running


def _limits():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def hidden_by_sandbox():
    """What the sandbox would hide that the grading process needs: Python or igrlib inside /tmp or /run.

    The sandbox mounts empty file systems on /tmp and /run, so an environment installed there (a
    clone of the repository in /tmp, say) cannot run in it.
    """
    hidden = [os.path.join(os.path.realpath(d), "") for d in ("/tmp", "/run", "/var/run")]
    needed = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return sorted(p for p in needed if os.path.join(os.path.realpath(p), "").startswith(tuple(hidden)))


_DROP_CAPABILITIES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"]


def sandbox_available():
    """Whether ``--sandbox`` works here (unprivileged user, network, pid and mount namespaces, and
    ``setpriv`` to drop capabilities)."""
    if shutil.which("unshare") is None or shutil.which("setpriv") is None or hidden_by_sandbox():
        return False
    probe = subprocess.run(
        ["unshare", "-r", "-n", "-p", "-f", "-m", "--mount-proc", *_DROP_CAPABILITIES, "true"], capture_output=True
    )
    return probe.returncode == 0


# Starts the runner on the import path given after igrlib's folder (see _environment.import_path),
# loading igrlib from that folder (the project of an editable install is not on the path).
_BOOT = (
    "import sys; home = sys.argv[1]; sys.path[:] = sys.argv[2:]; del sys.argv[1:]; "
    "import importlib.util, os, runpy; "
    "spec = importlib.util.spec_from_file_location("
    "'igrlib', os.path.join(home, '__init__.py'), submodule_search_locations=[home]); "
    "sys.modules['igrlib'] = module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
    "runpy.run_module('igrlib.coursework._runner', run_name='__main__', alter_sys=True)"
)


def _command(sandbox):
    # -I: no PYTHON* variables, user site-packages or current folder; -S: no site module, so no
    # .pth file or sitecustomize runs (an earlier submission may have planted one); -B: no bytecode
    # written into the environment (the grader compares it before and after each submission)
    runner = [sys.executable, "-I", "-S", "-B", "-c", _BOOT, _environment.igrlib_dir(), *_environment.import_path()]
    if not sandbox:
        return runner
    # new user, network, pid and mount namespaces: no network, only its own processes in /proc
    # (all killed with it), every file system read-only but an empty private /tmp, its working folder,
    # an empty /run and a /dev of five harmless devices; then every capability is dropped, or the
    # submission (root in its namespace) could remount the file systems read-write
    script = (
        # one mount point a line, unescaped (-r would write a space as \x20, a name mount cannot find)
        'findmnt -ln -o TARGET | while IFS= read -r m; do mount -n -o remount,bind,ro "$m" 2>/dev/null; done; '
        # Unix sockets are reached by path whatever the mount's flags (/run/docker.sock, D-Bus...):
        # hide the folders that hold them
        "for d in /run /var/run; do "
        "if [ -d $d ] && [ ! -L $d ]; then mount -n -t tmpfs -o size=1m,ro none $d || exit; fi; done; "
        "mount -n -t tmpfs -o size=256m none /tmp && "
        # a read-only mount does not stop writes to a device (run as root: the disks, the console):
        # a /dev with only null, zero, full, random and urandom
        "mkdir /tmp/dev && mount -n -t tmpfs -o size=64k,mode=755 none /tmp/dev && "
        "for n in null zero full random urandom; do "
        "touch /tmp/dev/$n && mount -n --bind /dev/$n /tmp/dev/$n || exit; done && "
        "ln -s /proc/self/fd /tmp/dev/fd && mount -n --move /tmp/dev /dev && mount -n -o remount,bind,ro /dev && "
        "rmdir /tmp/dev && mkdir /tmp/work && cd /tmp/work && "
        "export HOME=/tmp/work TMPDIR=/tmp/work MPLCONFIGDIR=/tmp/work/.mpl && "
        'exec "$@"'
    )
    namespaces = ["unshare", "-r", "-n", "-p", "-f", "-m", "--mount-proc", "--kill-child"]
    return [*namespaces, "sh", "-c", script, "sh", *_DROP_CAPABILITIES, *runner]


@functools.cache
def _font_cache():
    """``{file name: content}`` of matplotlib's font cache in the grader's cache folder, read once:
    before any submission runs (a submission can rewrite that folder, which no snapshot compares)."""
    try:
        from matplotlib import get_cachedir
    except ImportError:
        return {}
    return {p.name: p.read_bytes() for p in pathlib.Path(get_cachedir()).glob("fontlist*.json")}


def _copy_font_cache(target):
    """Give the submission its own copy of matplotlib's font cache (building one takes seconds)."""
    target.mkdir(exist_ok=True)
    for name, content in _font_cache().items():
        (target / name).write_bytes(content)


class _Run:
    """One process running a job; ``events`` yields its messages until it ends or goes quiet."""

    def __init__(self, job, workdir, sandbox):
        workdir = pathlib.Path(workdir)
        self.nonce = secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "OPENBLAS_NUM_THREADS")}
        env.update(HOME=str(workdir), MPLBACKEND="Agg", TMPDIR=str(workdir), MPLCONFIGDIR=str(workdir / ".mpl"))
        _copy_font_cache(workdir / ".mpl")
        self.proc = subprocess.Popen(
            _command(sandbox),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
            start_new_session=True,
            preexec_fn=_limits,
        )
        self.buffer, self.scanned = bytearray(), 0
        self.max_message = job["max_message"] + 1000
        try:
            self.proc.stdin.write(json.dumps({**job, "nonce": self.nonce}).encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def next(self, deadline):
        """The next message, ``None`` at the end of the output, ``"quiet"`` past ``deadline``, or
        ``"oversized"`` for a line longer than the job's ``max_message``."""
        prefix = self.nonce.encode()
        while True:
            newline = self.buffer.find(b"\n", self.scanned)
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                self.scanned = 0
                if line.startswith(prefix):
                    return _message(line[len(prefix) :])
                continue
            self.scanned = len(self.buffer)
            if len(self.buffer) > self.max_message:
                return "oversized"
            left = deadline - time.monotonic()
            if left <= 0:
                return "quiet"
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 2**20)
                if not chunk:
                    return None
                self.buffer += chunk

    def interrupt(self):
        # the whole process group: under --sandbox ``self.proc`` is ``unshare``, which blocks SIGINT
        # and does not pass it on; the runner is in its group
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.proc.stdout.close()


def _message(line):
    """A message of the submission's process as a dict with the expected keys and types, or
    ``{"kind": "malformed"}`` (its code can write on the channel too: nothing here is trusted)."""
    malformed = {"kind": "malformed"}
    try:
        message = json.loads(line)
    except Exception:  # not JSON, nested too deeply, a number too long...
        return malformed
    if type(message) is not dict or message.get("kind") not in ("ready", "start", "end", "finished"):
        return malformed
    where = [k for k in ("cell", "probe") if k in message]
    if message["kind"] in ("start", "end") and (len(where) != 1 or type(message[where[0]]) is not int):
        return malformed
    for key in ("ename", "evalue", "missing"):
        if message.get(key) is not None and type(message[key]) is not str:
            return malformed
    if "oversized" in message and type(message["oversized"]) is not int:
        return malformed
    return message


def _become_subreaper():
    """Make orphans of the submissions our children, so that :func:`_kill_leftovers` finds them
    (this process stays a subreaper: orphans of its other descendants become its children too)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _parents():
    """``{pid: parent pid}`` of every process in ``/proc``."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            found[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return found


def _children():
    me = os.getpid()
    return [pid for pid, parent in _parents().items() if parent == me]


def _descendants(keep=()):
    """Every process below this one, but those in ``keep`` and the processes below them."""
    below = collections.defaultdict(list)
    for pid, parent in _parents().items():
        below[parent].append(pid)
    found, todo = [], [pid for pid in below[os.getpid()] if pid not in keep]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += below[pid]
    return found


def _kill_leftovers(keep=(), limit=30.0):
    """Kill every process below this one not in ``keep`` (with the subreaper, everything a submission
    left), however deep: each round stops all of them (a stopped process cannot fork), then kills
    them, until none is left (or ``limit`` seconds have passed)."""
    if not os.path.isdir("/proc"):
        return
    end = time.monotonic() + limit
    while time.monotonic() < end:
        victims = _descendants(keep)
        if not victims:
            return
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in victims:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        for pid in _children():
            if pid not in keep:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(0.01)  # the killed processes' children are handed to this one


def _execute(cells, probes, *, timeout, wall, workdir, sandbox, extra, seed):
    """Run the cells and record the probes' answers; return (cell notes, probe outcomes, notebook rows).

    A probe's outcome is ``("RECORD", calls)`` (the answer's results, still to be judged) or a
    final ``(status, message)``.
    """
    cells_ended, verdicts, rows = {}, {}, []
    skip, done = set(), set()
    start = time.monotonic()
    _become_subreaper()
    keep = set(_children()) if os.path.isdir("/proc") else set()  # the caller's own children stay
    sizes = {"cell": len(cells), "probe": len(probes)}
    for _ in range(MAX_RESTARTS + 1):
        job = {
            "cells": cells,
            "skip": sorted(skip),
            "probes": probes,
            "done": sorted(done),
            "extra": extra,
            "seed": seed,
            "max_message": MAX_MESSAGE,
        }
        run = _Run(job, workdir, sandbox)
        current, interrupted, finished, oversized = None, False, False, False
        # The runner says "ready" once, then starts cells and probes in order: a message out of that
        # order is forged and resets no time limit (forged starts in order can gain at most one
        # time limit per cell and probe, all within --wall).
        ready, last = False, ("cell", -1)
        deadline = time.monotonic() + 30 + timeout  # start-up: imports
        while True:
            hard = start + wall
            message = run.next(min(deadline, hard))
            if message == "quiet":
                if time.monotonic() >= hard:
                    break
                if current is None or interrupted:
                    break  # an interrupt not answered in time, or a process that never started
                run.interrupt()
                interrupted, deadline = True, time.monotonic() + GRACE
                continue
            if message == "oversized":
                oversized = True
                break
            if message is None:
                break
            kind = message["kind"]
            if kind == "finished":
                finished = True
                break
            if kind == "start":
                what = "cell" if "cell" in message else "probe"
                index = message[what]
                if 0 <= index < sizes[what] and _after((what, index), last):
                    current = last = (what, index)
                    interrupted, deadline = False, time.monotonic() + timeout
            elif kind in ("end", "malformed") and current is not None:
                what, index = current
                if kind == "end" and message.get(what) != index:
                    continue  # not the end of what is running: a forged message
                if what == "cell":
                    if kind == "end":
                        cells_ended[index] = (
                            "TIMEOUT" if interrupted else message.get("ename"),
                            message.get("evalue", ""),
                        )
                    else:
                        continue
                else:
                    verdicts[index] = _probe_outcome(message, interrupted, timeout)
                    done.add(index)
                current, deadline = None, time.monotonic() + timeout
            elif kind == "ready" and not ready and last == ("cell", -1):  # nothing started yet
                ready, deadline = True, time.monotonic() + timeout
        run.kill()
        _kill_leftovers(keep)
        if finished:
            return cells_ended, verdicts, rows
        if time.monotonic() >= start + wall:
            rows.append(Row(NOTEBOOK, "TIMEOUT", 0, 0, f"the submission ran past its wall-clock limit of {wall:g} s"))
            return cells_ended, verdicts, rows
        if current is None:
            rows.append(Row(NOTEBOOK, "ERROR", 0, 0, "the grading process ended before running any cell"))
            return cells_ended, verdicts, rows
        what, index = current
        if oversized:
            why = ("ERROR", f"sent the grader a message of more than {MAX_MESSAGE // 2**20} MB; stopped")
        elif interrupted:
            why = ("TIMEOUT", "ignored the interrupt")
        else:
            why = ("KERNEL DIED", "")
        if what == "cell":
            skip.add(index)
            cells_ended[index] = why
        else:
            done.add(index)
            if oversized:
                verdicts[index] = (
                    "ERROR",
                    f"the results of your function on the check's inputs exceed {MAX_MESSAGE // 2**20} MB",
                )
            elif interrupted:
                verdicts[index] = (
                    "TIMEOUT",
                    f"the check did not finish within {timeout:g} s and ignored the interrupt",
                )
            else:
                verdicts[index] = ("KERNEL DIED", "the process died while checking this exercise")
        # a cell that ran out of time would only do so again: the restart skips it too
        skip.update(i for i, (ename, _) in cells_ended.items() if ename == "TIMEOUT")
    rows.append(
        Row(NOTEBOOK, "ERROR", 0, 0, f"gave up after {MAX_RESTARTS} restarts; the remaining exercises were not run")
    )
    return cells_ended, verdicts, rows


def _after(item, last):
    """Whether ``(kind, index)`` comes after ``last`` in the runner's order: cells, then probes."""
    order = {"cell": 0, "probe": 1}
    return (order[item[0]], item[1]) > (order[last[0]], last[1])


def _probe_outcome(message, interrupted, timeout):
    """What the message ending a probe says: a record to judge, or a final (status, message)."""
    if interrupted:
        return "TIMEOUT", f"the check did not finish within {timeout:g} s (an endless loop?)"
    if message["kind"] == "malformed":
        return "ERROR", "the notebook's process sent a malformed record of your function's results"
    if message.get("ename") is not None:
        return "ERROR", f"the check raised {message['ename']}: {message.get('evalue', '')}"
    if message.get("missing") is not None:
        return "ERROR", message["missing"]
    if message.get("oversized") is not None:
        return "ERROR", f"the results of your function on the check's inputs exceed {MAX_MESSAGE // 2**20} MB"
    if "calls" not in message:
        return "ERROR", "the notebook's process sent no record of your function's results"
    return "RECORD", message["calls"]


class _OutOfTime(BaseException):
    """Judging a record ran past its limit (a ``BaseException``: no ``except Exception`` of a check stops it)."""


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise :class:`_OutOfTime` in the block after ``seconds`` (main thread only; elsewhere no limit).

    A timer the caller had running is set going again afterwards with the time it had left (at
    once if that ran out meanwhile), under the caller's handler.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _OutOfTime

    theirs, start = signal.getitimer(signal.ITIMER_REAL), time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if theirs[0] > 0:
            signal.setitimer(signal.ITIMER_REAL, max(theirs[0] - (time.monotonic() - start), 1e-6), theirs[1])


def _judge(fn, record, seed, limit):
    """The grader's verdict on a recorded answer: ``(status, message)``, never an exception.

    The record is the submission's: decoding it and replaying it through the check may take at
    most ``limit`` seconds (the check's own time limit in the submission's process).
    """
    try:
        with _time_limit(limit):
            try:
                calls = _replay.decode_calls(record)
            except Exception as exc:  # a forged or broken record: any error of decoding is the record's fault
                return (
                    "ERROR",
                    f"the record of your function's results is malformed ({type(exc).__name__}: {one_line(exc, 100)})",
                )
            with checks.seeded(seed):
                return _replay.verdict(fn, calls, checks._evaluate)
    except _OutOfTime:
        return "ERROR", f"judging the record of your function's results took over {limit:g} s; not graded"


# --------------------------------------------------------------------------- grading


def grade(
    path, *, chapters, timeout=DEFAULT_TIMEOUT, wall=DEFAULT_WALL, chapter=None, sandbox=False, extra="", data=None
):
    """Grade one submission against the instructor's chapters.

    Parameters
    ----------
    path : path-like
        The submission (used for its name; its bytes are ``data`` if given).
    chapters : dict
        ``{file name: notebook}`` from :func:`reference_chapters`.
    timeout, wall : float
        Seconds per cell, and for the whole submission.
    chapter : str, optional
        The reference chapter's file name; by default the submission's own.
    sandbox : bool
        Run the code under ``unshare`` (see :func:`sandbox_available`).
    extra : str
        Source of hidden checks (``--extra-checks``), registered with ``register(name)``
        under an exercise's check name.
    data : bytes, optional
        The submission's content, read beforehand.

    Returns
    -------
    list of Row
        One row per exercise (hidden checks as ``hidden:<name>``), then notebook-level rows.
    """
    path = pathlib.Path(path)
    if data is None:
        data = path.read_bytes()
    try:
        nb = _load(data.decode("utf-8"))
        cells = [c.source for c in nb.cells if c.cell_type == "code"]
    except Exception as exc:  # unreadable, not JSON, not a notebook
        return [Row(NOTEBOOK, "ERROR", 0, 0, f"not a valid notebook ({type(exc).__name__}: {one_line(exc, 200)})")]
    name, rows = _chapter_of(nb, path, chapters, chapter)
    if name is None or rows:
        return rows
    expected = exercise_list(chapters[name])
    if not expected:
        return [Row(NOTEBOOK, "ERROR", 0, 0, f"the reference chapter {name} has no exercises")]
    points = {check: p for check, _, p in expected}
    public, hidden = checks._registry(), _hidden_checks(extra)
    probes = [[check, answer] for check, answer, _ in expected]
    probes += [["hidden:" + check, answer] for check, answer, _ in expected if check in hidden]
    seed = [secrets.randbits(63), secrets.randbits(63)]

    with tempfile.TemporaryDirectory(prefix="igrlib-grade-") as workdir:
        os.chmod(workdir, 0o700)
        (pathlib.Path(workdir) / "submission.ipynb").write_bytes(data)
        cells_ended, outcomes, nb_rows = _execute(
            cells, probes, timeout=timeout, wall=wall, workdir=workdir, sandbox=sandbox, extra=extra, seed=seed
        )

    troubled = {i: v for i, v in cells_ended.items() if v[0] not in (None, "NotImplementedError")}
    rows = []
    for index, (check, _answer) in enumerate(probes):
        name = check.removeprefix("hidden:")
        fn = hidden.get(name) if check.startswith("hidden:") else public.get(name)
        status, message = outcomes.get(index, ("ERROR", "not checked: the notebook's process stopped before"))
        if fn is None:
            status, message = "ERROR", f"no check named {name!r} in this version of igrlib"
        elif status == "RECORD":
            status, message = _judge(fn, message, [*seed, index], timeout)
        if status != "PASS" and troubled and "could not find the answer" in message:
            message += "; " + ", ".join(f"cell {i + 1}: {v[0]}" for i, v in sorted(troubled.items()))
        full = 1.0 if check.startswith("hidden:") else points[name]
        rows.append(Row(check, status, full if status == "PASS" else 0.0, full, one_line(message)))
    for index, (ename, evalue) in sorted(troubled.items()):
        if ename == "TIMEOUT":
            text = f"cell {index + 1} did not finish within {timeout:g} s" + (f" ({evalue})" if evalue else "")
            rows.append(Row(NOTEBOOK, "TIMEOUT", 0, 0, text))
        elif ename == "ERROR":
            rows.append(Row(NOTEBOOK, "ERROR", 0, 0, one_line(f"cell {index + 1} {evalue}")))
        elif ename == "KERNEL DIED":
            rows.append(
                Row(NOTEBOOK, "KERNEL DIED", 0, 0, f"the process died in cell {index + 1}; skipped, the rest re-run")
            )
        else:
            rows.append(Row(NOTEBOOK, "ERROR", 0, 0, one_line(f"cell {index + 1} raised {ename}: {evalue}")))
    return rows + nb_rows


def _hidden_checks(extra):
    """``{name: check}`` of the instructor's hidden checks (source ``extra``), in this process."""
    hidden = {}
    if extra:
        exec(compile(extra, "<extra checks>", "exec"), {"register": checks._collector(hidden)})
    return hidden


def _table(rows):
    rows = [[one_line(v, 300) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def gradescope_results(results):
    """The Gradescope autograder ``results.json`` content for one submission's rows."""
    tests = []
    for row in results:
        if row.exercise == NOTEBOOK:
            tests.append(
                {
                    "name": "notebook",
                    "score": 0,
                    "max_score": 0,
                    "status": "failed",
                    "output": f"{row.status}: {row.message}",
                    "visibility": "visible",
                }
            )
        else:
            tests.append(
                {
                    "name": row.exercise,
                    "score": row.points,
                    "max_score": row.max_points,
                    "status": "passed" if row.status == "PASS" else "failed",
                    "output": f"{row.status}: {row.message}",
                    "visibility": "after_published" if row.exercise.startswith("hidden:") else "visible",
                }
            )
    return {"score": sum(t["score"] for t in tests), "tests": tests}


COLUMNS = ["submission", "exercise", "status", "points", "max_points", "message"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m igrlib.coursework.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", nargs="+", help="submitted .ipynb files")
    parser.add_argument("--csv", metavar="FILE", help="also write the results as CSV (one row per exercise)")
    parser.add_argument("--gradescope", metavar="FILE", help="write Gradescope's results.json (one submission)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="time limit per cell, in seconds")
    parser.add_argument("--wall", type=float, default=DEFAULT_WALL, help="time limit per submission, in seconds")
    parser.add_argument("--reference", default="book", help="folder of the instructor's chapters (default: book)")
    parser.add_argument("--chapter", help="grade every submission as this chapter (a file name in --reference)")
    parser.add_argument("--extra-checks", metavar="FILE", help="hidden checks, run after the public ones")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="run each submission without network, with a "
        "private /tmp and process table (needs unshare and user namespaces)",
    )
    args = parser.parse_args(argv)
    for option in ("timeout", "wall"):
        if not getattr(args, option) > 0:
            parser.error(f"--{option} must be positive")
    if args.sandbox and hidden_by_sandbox():
        parser.error(
            f"--sandbox hides /tmp and /run, where this environment lives ({', '.join(hidden_by_sandbox())}); "
            "install it elsewhere to use the sandbox"
        )
    if args.sandbox and not sandbox_available():
        parser.error("--sandbox: unshare with user namespaces is not available on this machine")
    try:
        chapters = reference_chapters(args.reference)
    except ValueError as exc:
        parser.error(str(exc))
    inputs = {pathlib.Path(p).resolve() for p in args.submissions}
    inputs |= {(pathlib.Path(args.reference) / name).resolve() for name in chapters}
    for option in ("csv", "gradescope"):
        target = getattr(args, option)
        if target and pathlib.Path(target).resolve() in inputs:
            parser.error(f"--{option} {target!r} is a submission or a chapter of --reference; it would be overwritten")
    if args.gradescope and len(args.submissions) != 1:
        # on Gradescope the submissions are what the student uploaded: tell the student, in the results
        names = ", ".join(pathlib.Path(s).name for s in args.submissions)
        output = f"Submit exactly one notebook; this submission has {len(args.submissions)}: {names}"
        results = {"score": 0, "output": one_line(output, 1000), "tests": []}
        pathlib.Path(args.gradescope).write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"error: --gradescope takes exactly one submission; wrote {args.gradescope}", file=sys.stderr)
        return 2
    if args.chapter is not None and args.chapter not in chapters:
        parser.error(f"--chapter {args.chapter!r} is not a notebook in --reference {args.reference!r}")
    extra = ""
    if args.extra_checks:
        try:
            extra = pathlib.Path(args.extra_checks).read_text(encoding="utf-8")
            _hidden_checks(extra)  # run once here: an error in the file stops before any grading
        except Exception as exc:  # any error of the instructor's file: unreadable, syntax, import...
            parser.error(f"--extra-checks {args.extra_checks!r}: {type(exc).__name__}: {exc}")

    # read and hash every submission before running any
    contents = {}
    for sub in args.submissions:
        try:
            with open(sub, "rb") as fh:
                contents[sub] = fh.read(MAX_SUBMISSION + 1)
        except OSError as exc:
            contents[sub] = exc
        else:
            if len(contents[sub]) > MAX_SUBMISSION:
                contents[sub] = ValueError(f"larger than {_size(MAX_SUBMISSION)}; not graded")
    digests = {s: hashlib.sha256(d).hexdigest() for s, d in contents.items() if isinstance(d, bytes)}
    outputs = [pathlib.Path(p).resolve() for p in (args.csv, args.gradescope) if p]
    _become_subreaper()

    def write_csv(rows):
        if args.csv:
            with open(args.csv, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(COLUMNS)
                writer.writerows([[_csv_safe(f"{v:g}" if isinstance(v, float) else v) for v in row] for row in rows])

    all_rows, last = [], []
    write_csv(all_rows)
    _font_cache()  # read before any submission runs
    environment, tampered = _environment.snapshot(), None
    for sub, data in contents.items():
        if tampered is not None:
            rows = [Row(NOTEBOOK, "ERROR", 0, 0, f"not graded: {one_line(tampered)} changed the grader's environment")]
        elif isinstance(data, Exception):
            rows = [Row(NOTEBOOK, "ERROR", 0, 0, f"cannot read the file: {data}")]
        else:
            try:
                rows = grade(
                    sub,
                    chapters=chapters,
                    timeout=args.timeout,
                    wall=args.wall,
                    chapter=args.chapter,
                    sandbox=args.sandbox,
                    extra=extra,
                    data=data,
                )
            except Exception as exc:  # a case the grader did not foresee must not lose the rest of the batch
                rows = [Row(NOTEBOOK, "ERROR", 0, 0, f"the grader failed on this file ({type(exc).__name__}: {exc})")]
            now = _environment.snapshot()
            changed = _environment.changes(environment, now)
            if changed:  # a planted .pth or patched module would run in every later submission's process
                tampered = sub
                rows.append(Row(NOTEBOOK, "ERROR", 0, 0, one_line(
                    f"while this submission ran, {len(changed)} files of the grader's Python environment changed "
                    f"({', '.join(changed[:3])}); grading stops here: reinstall the environment, grade the "
                    "remaining submissions again, and use --sandbox")))
            environment = now
        last = rows
        graded = [r for r in rows if r.exercise != NOTEBOOK]
        score = sum(r.points for r in graded)
        print(
            f"\n{one_line(sub)}: {sum(r.status == 'PASS' for r in graded)}/{len(graded)} exercises pass, "
            f"{score:g}/{sum(r.max_points for r in graded):g} points"
        )
        print(
            _table(
                [
                    ("exercise", "status", "points", "message"),
                    *[(r.exercise, r.status, f"{r.points:g}/{r.max_points:g}", r.message) for r in rows],
                ]
            )
        )
        all_rows += [(sub, *row) for row in rows]
        write_csv(all_rows)  # rows of each submission as soon as it is graded
    changed = [s for s, d in digests.items() if _digest(s) != d]
    for sub in changed:
        row = Row(NOTEBOOK, "ERROR", 0, 0, "the submission file changed while grading; its grade is not trusted")
        all_rows.append((sub, *row))
        print(f"\n{one_line(sub)}: ERROR {row.message}")
    write_csv(all_rows)  # once more, after every submission's processes are gone
    if args.gradescope:
        pathlib.Path(args.gradescope).write_text(json.dumps(gradescope_results(last), indent=2), encoding="utf-8")
    for path in outputs:
        print(f"\nwrote {path}")
    return 0


def _size(nbytes):
    """``nbytes`` in KiB, MiB or GiB, whichever reads best."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{nbytes} bytes"


def _digest(path):
    """SHA-256 of the file at ``path``, read in blocks (it may have grown meanwhile), or None."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(2**20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
