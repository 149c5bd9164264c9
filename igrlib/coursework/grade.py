"""Grade submitted notebooks: ``python -m igrlib.coursework.grade SUBMISSION.ipynb [...] [--csv FILE]``.

What is graded comes from the instructor's copy of the book (``--reference``,
default ``book/``), never from the submission: the chapter is the reference
notebook of the same file name, or ``--chapter``, or the chapter the student
edition recorded in the submission's metadata. A notebook of another chapter is
reported as such, and a missing exercise as ``ERROR``.

Every submission is read before any is run. Its code cells run in a process of its own
(:mod:`igrlib.coursework._runner`), inside a bubblewrap sandbox (``bwrap``): no network, its
own process table, System V IPC and user namespace (it cannot make another), no capabilities,
no access to the kernel's key store (a seccomp filter), at most ``FILES_LIMIT`` open files a process,
the kernel's settings (``/proc/sys``) read-only, cgroups of its own where the grader can make
them (``MEMORY_LIMIT`` of memory in all, ``TASKS_LIMIT`` tasks), a private ``/tmp`` of 256 MiB, and nothing
of the file system but Python's installation, the environment's packages and igrlib, read-only
(not igrlib's checks, nor the reference chapters, the other submissions or the reports). The
checks run here, in the grader's process: each calls the student's function remotely, one call
at a time, sending the check's inputs and receiving only what the function returned
(:mod:`igrlib.coursework._remote`), in a copy of the process made for that exercise alone, where
the routines the exercise forbids (looked up before any cell ran) are switched off for good. A
cell or check past ``--timeout`` kills the process; the notebook is then run again without that
cell (at most ``MAX_RESTARTS`` times), and ``--wall`` caps a whole submission. Killing the
sandbox ends every process the submission started.
``--no-sandbox`` runs trusted submissions without it. Reports are written to a new file
that replaces the old one (never through a link).

Statuses, one row per exercise: ``PASS``, ``FAIL``, ``TODO`` (the stub still
raises ``NotImplementedError``), ``ERROR`` (no answer, or the check could not
run), ``TIMEOUT``, ``KERNEL DIED``. Rows about the notebook as a whole have the
exercise ``(notebook)`` and no points.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import functools
import io
import itertools
import json
import math
import os
import pathlib
import platform
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from . import _remote, checks
from .student import find_checks, find_exercises

__all__ = ["Row", "grade", "main", "sandbox_problem"]

DEFAULT_TIMEOUT = 60  # seconds per cell, and per exercise's check
DEFAULT_WALL = 600  # seconds per submission
STARTUP = 30  # seconds the process has to start (imports), on top of --timeout
MAX_RESTARTS = 4  # process deaths per submission before the rest is given up
NOTEBOOK = "(notebook)"
MEMORY_LIMIT = 4 * 2**30  # bytes of address space of each of its processes, and of memory of the sandbox (a cgroup)
TASKS_LIMIT = 512  # processes and threads of one sandbox (a cgroup)
FILES_LIMIT = 256  # files each of its processes may hold open (the machine's table is shared)
FILE_LIMIT = 256 * 2**20  # bytes of any file it writes, and of its /tmp in the sandbox
SHM_LIMIT = 16 * 2**20  # bytes of its /dev/shm in the sandbox (POSIX shared memory; / and /dev are read-only)
MAX_MESSAGE = 16 * 2**20  # bytes of one message from it (what the answer returned)
MAX_SUBMISSION = 20 * 2**20  # bytes of a submitted notebook (a chapter with its outputs: 1-3 MB); a larger one is not
# read (checking a notebook takes about a second a MiB, before --wall starts: one submission must not delay the batch)


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


# --------------------------------------------------------------------------- the sandbox


@functools.cache
def _visible():
    """The folders the sandbox shows, read-only: Python's installation, the folders a fresh
    ``python -I`` imports from, and igrlib's own folder (not the rest of an editable install's
    project, where the book and its solutions are)."""
    code = "import json, sys; print(json.dumps(sys.path))"
    probe = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True)
    igrlib_dir = os.path.realpath(pathlib.Path(__file__).parents[1])
    folders = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(sys.executable))}
    folders.add(os.path.dirname(os.path.realpath(sys.executable)))
    folders.update(os.path.realpath(p) for p in json.loads(probe.stdout) if p and os.path.exists(p))
    folders.discard(os.path.dirname(igrlib_dir))
    folders.add(igrlib_dir)
    folders = sorted(f for f in folders if not f.startswith(("/usr/", "/proc/")))
    return [f for f in folders if not any(f.startswith(os.path.join(g, "")) for g in folders)]


def _results():
    """The folder of the committed study results (``igrlib.study.DATA_DIR``, ``book/data`` of the
    source tree or ``igrlib/results`` in an installed package), which chapters read."""
    from ..study import DATA_DIR

    return os.path.realpath(DATA_DIR)


def _font_caches():
    """matplotlib's font cache files (building one takes seconds in every submission)."""
    try:
        from matplotlib import get_cachedir
    except ImportError:
        return []
    return sorted(pathlib.Path(get_cachedir()).glob("fontlist*.json"))


def _sandbox(command, seccomp=None):
    """``command`` inside bubblewrap (see the module's docstring); ``seccomp``: the file
    descriptor of the filter (:func:`_seccomp_fd`), passed on to bwrap."""
    args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]
    if seccomp is not None:
        args += ["--seccomp", str(seccomp)]
    args += ["--cap-drop", "ALL"]
    # the sandbox's root is the machine's root: a kernel setting (sysctl) checks the user alone, so
    # /proc/sys is the machine's, read-only (pid_max, core_pattern... cannot be changed from here)
    args += ["--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    args += ["--dev", "/dev", "--size", str(SHM_LIMIT), "--tmpfs", "/dev/shm"]
    args += ["--remount-ro", "/dev", "--size", str(FILE_LIMIT), "--tmpfs", "/tmp"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/ld.so.cache", "/etc/localtime"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.exists(top):
            args += ["--ro-bind", top, top]
    visible = _visible()
    for folder in visible:  # after the /tmp of its own: an environment may live in the real /tmp
        args += ["--ro-bind", folder, folder]
    results = _results()  # the committed study results that chapters 8 and 9 read: data, not solutions
    if not any(results.startswith(os.path.join(folder, "")) for folder in visible):
        args += ["--ro-bind", results, results]
    # the checks' code stays with the grader: only their package's __init__ is needed here
    hidden = os.path.dirname(checks.__file__)
    args += ["--tmpfs", hidden, "--ro-bind", checks.__file__, checks.__file__, "--remount-ro", hidden]
    for cache in _font_caches():
        args += ["--ro-bind", str(cache), f"/tmp/work/.mpl/{cache.name}"]
    # bwrap's own root (and /dev above) are memory without a size: read-only, nothing is parked there
    return [*args, "--dir", "/tmp/work", "--remount-ro", "/", "--chdir", "/tmp/work", *command]


# The kernel's key store is not isolated by bwrap, and the sandbox's root is the machine's: its
# three system calls fail with EPERM under a seccomp filter (a classic BPF program, as
# `bwrap --seccomp FD` reads it). Per architecture: AUDIT_ARCH and the numbers of add_key,
# request_key and keyctl. A call under another architecture's numbers (x86's int 0x80) ends the
# process; on x86_64 the x32 calls (bit 30) fail too.
_KEY_CALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}


def _seccomp_program():
    """The filter's bytes, or None on an architecture not in ``_KEY_CALLS``."""
    arch, numbers = _KEY_CALLS.get(platform.machine(), (None, ()))
    if arch is None:
        return None
    load, equal, at_least, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, JGE|K, BPF_RET|K
    allow, refuse, kill = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x80000000
    n = len(numbers)
    program = [(load, 0, 0, 4), (equal, 1, 0, arch), (ret, 0, 0, kill), (load, 0, 0, 0)]  # arch, then nr
    if platform.machine() == "x86_64":
        program.append((at_least, n + 1, 0, 0x40000000))  # to the refusal, past n tests and the allow
    program += [(equal, n - i, 0, nr) for i, nr in enumerate(numbers)]  # to the refusal
    program += [(ret, 0, 0, allow), (ret, 0, 0, refuse)]
    return b"".join(struct.pack("=HBBI", *op) for op in program)


def _seccomp_fd():
    """A file holding the filter, open for bwrap to read (the caller closes it), or None."""
    program = _seccomp_program()
    if program is None:
        return None
    fd = os.memfd_create("igrlib-seccomp")
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _python():
    """This interpreter's path without ``..`` (``tests/../.venv/bin/python`` passes through a
    folder the sandbox does not show), its links kept (a virtual environment's python is one)."""
    return os.path.abspath(sys.executable)


@functools.cache
def sandbox_problem():
    """Why the sandbox cannot run here (no ``bwrap``, or it fails), or None (asked once)."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed; on Debian: apt-get install bubblewrap"
    seccomp = _seccomp_fd()
    try:
        probe = subprocess.run(
            _sandbox([_python(), "-I", "-c", "import igrlib"], seccomp),
            capture_output=True,
            text=True,
            pass_fds=() if seccomp is None else (seccomp,),
        )
    finally:
        if seccomp is not None:
            os.close(seccomp)
    if probe.returncode != 0:
        return f"bwrap cannot start the sandbox here: {one_line(probe.stderr.strip() or probe.returncode, 200)}"
    return None


def _cgroups():
    """Fresh cgroups for one sandbox, below the grader's own: its memory in all (mapped or not:
    a ``memfd``, a pipe) at most ``MEMORY_LIMIT``, its tasks at most ``TASKS_LIMIT``. Returns the
    folders to join: cgroup v1's memory and pids hierarchies, or one folder of v2; those this
    machine does not let the grader make are left out ([] where none, e.g. v2 without delegation)."""
    mine = {}
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                _, names, path = line.rstrip("\n").split(":", 2)
                for name in names.split(",") if names else ["unified"]:
                    mine[name] = path
    except (OSError, ValueError):
        return []
    name = f"igrlib-grade-{os.getpid()}-{next(_CGROUP_COUNT)}"
    # (parent, limits it must take, limits it takes where the machine has them: swap)
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # v2: one hierarchy
        wanted = [
            (
                "/sys/fs/cgroup" + mine.get("unified", "/"),
                {"memory.max": MEMORY_LIMIT, "pids.max": TASKS_LIMIT},
                {"memory.swap.max": 0},
            )
        ]
    else:
        wanted = [
            (
                "/sys/fs/cgroup/memory" + mine.get("memory", "/"),
                {"memory.limit_in_bytes": MEMORY_LIMIT},
                {"memory.memsw.limit_in_bytes": MEMORY_LIMIT},
            ),
            ("/sys/fs/cgroup/pids" + mine.get("pids", "/"), {"pids.max": TASKS_LIMIT}, {}),
        ]
    made = []
    for parent, required, optional in wanted:
        folder = os.path.join(parent, name)
        try:
            os.mkdir(folder)
        except OSError:
            continue
        try:
            for file, value in [*required.items(), *optional.items()]:
                if file in required or os.path.exists(os.path.join(folder, file)):
                    with open(os.path.join(folder, file), "w") as fh:
                        fh.write(str(value))
            made.append(folder)
        except OSError:
            os.rmdir(folder)
    return made


_CGROUP_COUNT = itertools.count()


def _leave(folders, wait=30.0):
    """Remove a sandbox's cgroups once its processes are gone: whatever is still in them (all of
    it the sandbox's) is killed until they are empty, for at most ``wait`` seconds."""
    end = time.monotonic() + wait
    for folder in folders:
        while True:
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:
                if time.monotonic() > end:
                    print(f"warning: the cgroup {folder} could not be removed", file=sys.stderr)
                    break
                try:
                    with open(os.path.join(folder, "cgroup.procs")) as fh:
                        for pid in fh.read().split():
                            with contextlib.suppress(OSError):
                                os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
                time.sleep(0.02)


@functools.cache
def cgroups_problem():
    """Why no sandbox gets cgroups of its own here, or None (asked once: one is made and removed)."""
    probe = _cgroups()
    _leave(probe)
    if not probe:
        return "no cgroup can be made here, so a submission's memory and processes are bounded only per process"
    return None


def _limits(cgroups=()):
    import resource

    for folder in cgroups:  # joined before bwrap starts: everything the sandbox runs is inside
        with open(os.path.join(folder, "cgroup.procs"), "w") as fh:
            fh.write(str(os.getpid()))

    resource.setrlimit(resource.RLIMIT_NOFILE, (FILES_LIMIT, FILES_LIMIT))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# --------------------------------------------------------------------------- the submission's process


class _Kernel:
    """The process running one submission: ``send`` a request, ``receive`` a message (a dict), or
    :class:`~igrlib.coursework._remote.Lost` past the deadline, at its death, or for nonsense."""

    def __init__(self, workdir, sandbox, routines):
        # -I: no PYTHON* variables, user site-packages or current folder; -B: no bytecode written
        command = [_python(), "-I", "-B", "-m", "igrlib.coursework._runner"]
        home = "/tmp/work" if sandbox else str(workdir)
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "OPENBLAS_NUM_THREADS")}
        env.update(HOME=home, TMPDIR=home, MPLBACKEND="Agg", MPLCONFIGDIR=f"{home}/.mpl")
        if not sandbox:
            (workdir / ".mpl").mkdir(exist_ok=True)
            for cache in _font_caches():
                shutil.copyfile(cache, workdir / ".mpl" / cache.name)
        self.cgroups = _cgroups() if sandbox else []
        seccomp = _seccomp_fd() if sandbox else None
        self.proc = subprocess.Popen(
            _sandbox(command, seccomp) if sandbox else command,
            pass_fds=() if seccomp is None else (seccomp,),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
            start_new_session=True,
            preexec_fn=functools.partial(_limits, self.cgroups),
        )
        if seccomp is not None:
            os.close(seccomp)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.buffer = bytearray()
        self.deadline = time.monotonic() + STARTUP  # of what is running now: a stuck write fails at it too
        self.send({"op": "hold", "routines": list(routines)})  # looked up before any cell runs

    def send(self, message):
        data = memoryview(_remote.dumps(message))
        while data:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([], [self.proc.stdin], [], left)[1]:
                raise _remote.Lost("TIMEOUT", "")
            try:
                data = data[os.write(self.proc.stdin.fileno(), data) :]
            except BrokenPipeError:
                return  # its death is seen when the reply does not come
            except BlockingIOError:
                continue

    def receive(self, deadline=None):
        if deadline is not None:
            self.deadline = deadline
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self.buffer[:newline])
                del self.buffer[: newline + 1]
                try:
                    message = json.loads(line)
                except Exception:  # not JSON, nested too deeply, a number too long...
                    message = None
                if type(message) is not dict:
                    raise _remote.Lost("ERROR", "the notebook's process sent a malformed message")
                if message.get("kind") == "died":  # the copy of the process that ran an exercise
                    raise _remote.Lost("KERNEL DIED", "")
                return message
            if len(self.buffer) > MAX_MESSAGE:
                raise _remote.Lost("ERROR", f"sent the grader more than {MAX_MESSAGE // 2**20} MB at once")
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise _remote.Lost("TIMEOUT", "")
            chunk = os.read(self.proc.stdout.fileno(), 2**20)
            if not chunk:
                raise _remote.Lost("KERNEL DIED", "")
            self.buffer += chunk

    def kill(self):
        """End it, and with it (in the sandbox) every process it started."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.proc.stdin.close()
        self.proc.stdout.close()
        _leave(self.cgroups)


class _Session:
    """One submission's cells, run in a process that is started again (without the cell that
    killed it or ran out of time) whenever it is lost, at most ``MAX_RESTARTS`` times."""

    def __init__(self, cells, *, timeout, wall, workdir, sandbox, routines):
        self.cells, self.timeout, self.workdir, self.sandbox = cells, timeout, workdir, sandbox
        self.routines = routines  # that the exercises switch off
        self.end = time.monotonic() + wall
        self.wall = wall
        self.kernel, self.starts = None, 0
        self.ended = {}  # cell index: (ename or None, evalue), from the first run that reached it
        self.rows = []  # about the notebook as a whole
        self.given_up = None  # why no process can be started any more

    def _deadline(self, seconds):
        return min(time.monotonic() + seconds, self.end)

    def _start(self):
        """A process that has run every cell that can run, or None (``given_up`` says why)."""
        while self.kernel is None and self.given_up is None:
            if self.starts > MAX_RESTARTS:
                self.given_up = f"gave up after {MAX_RESTARTS} restarts; the remaining exercises were not run"
                self.rows.append(Row(NOTEBOOK, "ERROR", 0, 0, self.given_up))
                break
            self.starts += 1
            kernel, index = _Kernel(self.workdir, self.sandbox, self.routines), None
            try:
                if kernel.receive(self._deadline(STARTUP + self.timeout)).get("kind") != "ready":
                    raise _remote.Lost("ERROR", "the notebook's process did not start")
                for index, source in enumerate(self.cells):
                    if self.ended.get(index, (None,))[0] in ("TIMEOUT", "KERNEL DIED"):
                        continue  # it would only do so again
                    kernel.deadline = self._deadline(self.timeout)
                    kernel.send({"op": "cell", "index": index, "source": source})
                    reply = kernel.receive()
                    ename, evalue = reply.get("ename"), reply.get("evalue")
                    if reply.get("kind") != "cell" or type(ename) not in (str, type(None)) or type(evalue) is not str:
                        raise _remote.Lost("ERROR", "the notebook's process sent a malformed message")
                    self.ended.setdefault(index, (ename, evalue))
                self.kernel = kernel
            except _remote.Lost as lost:
                kernel.kill()
                self._lost(lost, index)
        return self.kernel

    def _lost(self, lost, index):
        if time.monotonic() >= self.end:
            self.given_up = f"the submission ran past its wall-clock limit of {self.wall:g} s"
            self.rows.append(Row(NOTEBOOK, "TIMEOUT", 0, 0, self.given_up))
        elif index is None:
            self.given_up = "the grading process ended before running any cell"
            self.rows.append(Row(NOTEBOOK, "ERROR", 0, 0, self.given_up))
        else:
            self.ended[index] = (lost.status, lost.message)

    def check(self, fn, answer, without, why):
        """``(status, message)`` of the check ``fn`` on the answer (an expression) of the notebook."""
        kernel, outcome = self._start(), None
        if kernel is None:
            return "ERROR", f"not checked: {self.given_up}"
        try:
            kernel.deadline = self._deadline(self.timeout)
            kernel.send({"op": "find", "answer": answer, "without": list(without), "why": why})
            reply = kernel.receive()
            if reply.get("kind") == "missing":
                return "ERROR", str(reply.get("message"))
            if reply.get("kind") != "found":
                raise _remote.Lost("ERROR", "the notebook's process sent a malformed message")
            try:
                outcome = _status(*checks._evaluate(fn, _remote.RemoteAnswer(kernel, kernel.deadline)))
            except _remote.NotPlainData as exc:
                outcome = "FAIL", str(exc)
            kernel.send({"op": "done"})  # the copy of the process that ran this exercise ends
            if kernel.receive().get("kind") != "done":
                raise _remote.Lost("ERROR", "the notebook's process sent a malformed message")
            return outcome
        except _remote.Lost as lost:
            kernel.kill()
            self.kernel = None
            if time.monotonic() >= self.end:
                self._lost(lost, None)
            if outcome is not None:  # judged already: what went wrong after it changes nothing
                return outcome
            if lost.status == "TIMEOUT":
                return "TIMEOUT", f"the check did not finish within {self.timeout:g} s (an endless loop?)"
            if lost.status == "KERNEL DIED":
                return "KERNEL DIED", "the process died while checking this exercise"
            return lost.status, lost.message

    def close(self):
        if self.kernel is not None:
            self.kernel.kill()


def _status(passed, message):
    """A check's verdict as a row's ``(status, message)``."""
    if passed:
        return "PASS", message
    if message.startswith("TODO: "):
        return "TODO", message[len("TODO: ") :]
    return "FAIL", message


# --------------------------------------------------------------------------- grading


def grade(
    path, *, chapters, timeout=DEFAULT_TIMEOUT, wall=DEFAULT_WALL, chapter=None, sandbox=True, extra="", data=None
):
    """Grade one submission against the instructor's chapters.

    Parameters
    ----------
    path : path-like
        The submission (used for its name; its bytes are ``data`` if given).
    chapters : dict
        ``{file name: notebook}`` from :func:`reference_chapters`.
    timeout, wall : float
        Seconds per cell and per exercise's check, and for the whole submission.
    chapter : str, optional
        The reference chapter's file name; by default the submission's own.
    sandbox : bool
        Run the code inside bubblewrap (see :func:`sandbox_problem`); False only for trusted code.
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
        # the parser's message is not shown: it quotes the file (of the instructor's, through a link)
        return [Row(NOTEBOOK, "ERROR", 0, 0, f"not a valid notebook ({type(exc).__name__})")]
    name, rows = _chapter_of(nb, path, chapters, chapter)
    if name is None or rows:
        return rows
    expected = exercise_list(chapters[name])
    if not expected:
        return [Row(NOTEBOOK, "ERROR", 0, 0, f"the reference chapter {name} has no exercises")]
    public, hidden = checks._registry(), _hidden_checks(extra)
    probes = [(check, check, answer, points) for check, answer, points in expected]
    probes += [("hidden:" + check, check, answer, 1.0) for check, answer, _ in expected if check in hidden]

    # a hidden check runs the answer with the routines its exercise switches off, as the public one
    without = {check: getattr(public.get(check), "without", ()) for _, check, _, _ in probes}
    routines = sorted({r for names in without.values() for r in names})
    with tempfile.TemporaryDirectory(prefix="igrlib-grade-") as workdir:
        workdir = pathlib.Path(workdir)
        session = _Session(cells, timeout=timeout, wall=wall, workdir=workdir, sandbox=sandbox, routines=routines)
        try:
            outcomes = []
            for label, check, answer, _ in probes:
                fn = hidden.get(check) if label.startswith("hidden:") else public.get(check)
                if fn is None:
                    outcomes.append(("ERROR", f"no check named {check!r} in this version of igrlib"))
                    continue
                why = getattr(public.get(check), "why", checks.WHY)
                outcomes.append(session.check(fn, answer, without[check], why))
        finally:
            session.close()

    troubled = {i: v for i, v in session.ended.items() if v[0] not in (None, "NotImplementedError")}
    rows = []
    for (label, _, _, full), (status, message) in zip(probes, outcomes):
        if status != "PASS" and troubled and "could not find the answer" in message:
            message += "; " + ", ".join(f"cell {i + 1}: {v[0]}" for i, v in sorted(troubled.items()))
        rows.append(Row(label, status, full if status == "PASS" else 0.0, full, one_line(message)))
    for index, (ename, evalue) in sorted(troubled.items()):
        if ename == "TIMEOUT":
            rows.append(Row(NOTEBOOK, "TIMEOUT", 0, 0, f"cell {index + 1} did not finish within {timeout:g} s"))
        elif ename == "KERNEL DIED":
            rows.append(
                Row(NOTEBOOK, "KERNEL DIED", 0, 0, f"the process died in cell {index + 1}; skipped, the rest re-run")
            )
        elif ename == "ERROR":
            rows.append(Row(NOTEBOOK, "ERROR", 0, 0, one_line(f"cell {index + 1}: {evalue}")))
        else:
            rows.append(Row(NOTEBOOK, "ERROR", 0, 0, one_line(f"cell {index + 1} raised {ename}: {evalue}")))
    return rows + session.rows


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


def _write(path, text):
    """Write ``text`` to ``path`` as a new file renamed into place: a link there is replaced, never
    followed, and a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".grade-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _read(path):
    """The bytes of a submission, or an exception saying why it is not graded (not a regular file,
    larger than ``MAX_SUBMISSION``, unreadable)."""
    try:
        # a FIFO must not block the grader; a link (to the instructor's chapter, to itself) is not followed
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ValueError("not a regular file; not graded")
            data = fh.read(MAX_SUBMISSION + 1)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return ValueError("a symbolic link, not a notebook; not graded")
        return exc
    if len(data) > MAX_SUBMISSION:
        unit, scale = ("MiB", 2**20) if MAX_SUBMISSION >= 2**20 else ("KiB", 2**10)
        return ValueError(f"larger than {MAX_SUBMISSION / scale:g} {unit}; not graded")
    return data


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
        "--no-sandbox",
        action="store_true",
        help="for trusted submissions only: run them without bubblewrap (see the instructors' page)",
    )
    args = parser.parse_args(argv)
    for option in ("timeout", "wall"):
        if not getattr(args, option) > 0:
            parser.error(f"--{option} must be positive")
    if not args.no_sandbox and sandbox_problem():
        parser.error(f"no sandbox: {sandbox_problem()}. Pass --no-sandbox to grade trusted submissions without it")
    if not args.no_sandbox and cgroups_problem():
        print(
            f"warning: {cgroups_problem()}; bound the grader from outside (see the instructors' page)", file=sys.stderr
        )
    try:
        chapters = reference_chapters(args.reference)
    except ValueError as exc:
        parser.error(str(exc))
    # realpath, not Path.resolve: a submission linked to itself must not stop the batch (RuntimeError)
    inputs = {os.path.realpath(p) for p in args.submissions}
    inputs |= {os.path.realpath(pathlib.Path(args.reference) / name) for name in chapters}
    for option in ("csv", "gradescope"):
        target = getattr(args, option)
        if target and os.path.realpath(target) in inputs:
            parser.error(f"--{option} {target!r} is a submission or a chapter of --reference; it would be overwritten")
    if args.gradescope and len(args.submissions) != 1:
        # on Gradescope the submissions are what the student uploaded: tell the student, in the results
        names = ", ".join(pathlib.Path(s).name for s in args.submissions)
        output = f"Submit exactly one notebook; this submission has {len(args.submissions)}: {names}"
        _write(args.gradescope, json.dumps({"score": 0, "output": one_line(output, 1000), "tests": []}, indent=2))
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

    # every submission read before any runs; never the instructor's chapter (through a folder's link)
    own = {os.path.realpath(pathlib.Path(args.reference) / name) for name in chapters}
    contents = {
        sub: ValueError("the reference chapter itself; not graded") if os.path.realpath(sub) in own else _read(sub)
        for sub in args.submissions
    }
    all_rows, last = [], []
    for sub, data in contents.items():
        if isinstance(data, Exception):
            rows = [Row(NOTEBOOK, "ERROR", 0, 0, one_line(f"cannot read the file: {data}"))]
        else:
            try:
                rows = grade(
                    sub,
                    chapters=chapters,
                    timeout=args.timeout,
                    wall=args.wall,
                    chapter=args.chapter,
                    sandbox=not args.no_sandbox,
                    extra=extra,
                    data=data,
                )
            except Exception as exc:  # a case the grader did not foresee must not lose the rest of the batch
                why = f"the grader failed on this file ({type(exc).__name__}: {exc})"
                rows = [Row(NOTEBOOK, "ERROR", 0, 0, one_line(why))]
        last = rows
        graded = [r for r in rows if r.exercise != NOTEBOOK]
        score = sum(r.points for r in graded)
        print(
            f"\n{one_line(sub)}: {sum(r.status == 'PASS' for r in graded)}/{len(graded)} exercises pass, "
            f"{score:g}/{sum(r.max_points for r in graded):g} points"
        )
        table = [(r.exercise, r.status, f"{r.points:g}/{r.max_points:g}", r.message) for r in rows]
        print(_table([("exercise", "status", "points", "message"), *table]))
        all_rows += [(sub, *row) for row in rows]
        if args.csv:  # rewritten after each submission: an interrupted run keeps every grade so far
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(COLUMNS)
            writer.writerows([[_csv_safe(f"{v:g}" if isinstance(v, float) else v) for v in row] for row in all_rows])
            _write(args.csv, text.getvalue())
    if args.gradescope:
        _write(args.gradescope, json.dumps(gradescope_results(last), indent=2))
    for path in (args.csv, args.gradescope):
        if path:
            print(f"\nwrote {pathlib.Path(path).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
