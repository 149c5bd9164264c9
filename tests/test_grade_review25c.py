"""Attacks on the sandboxed grader found by a third review, after the cgroups were added: each
test grades crafted notebooks in the default (sandboxed) mode. Three are closed (each failed
before its fix); one is a known limit, kept as ``xfail``.

- Closed: the kernel's key store (``add_key``/``keyctl``) is not namespaced by bubblewrap, and
  the sandbox's root is the machine's root, which owns the machine's root user keyring: a cell
  could link a key into it that outlived the sandbox, for the next submission to read (or fill
  root's key quota). The sandbox now runs under a seccomp filter that refuses the three calls.
- Closed: the machine's table of open files (``fs.file-max``) is one for all, and the sandbox
  kept the grader's ``RLIMIT_NOFILE``: one submission held more than half of it, and every
  process of the machine without ``CAP_SYS_ADMIN`` got ``ENFILE``. Now each process may hold
  ``FILES_LIMIT`` files, so a sandbox at most ``FILES_LIMIT * TASKS_LIMIT``.
- Closed: the grader removed a sandbox's cgroups for one second after killing it, then gave up
  silently; processes slow to end (hundreds of children with many mappings) left the cgroups
  behind. Now whatever is still in them is killed until they are empty (for at most 30 s,
  then a warning).
- Known limit: the page cache of the files the sandbox shows read-only (the environment) is the
  machine's: a cell drops a large file's pages (``posix_fadvise(DONTNEED)``) and reads back one
  page per bit of a message; the next submission asks ``mincore`` which pages are cached. Two
  students who collude can pass a solution this way, as they could by sharing their code; the
  instructors' page says so.
"""

import ctypes
import os
import secrets

import nbformat
import pytest
from test_grade_attacks import chapter, graded

from igrlib.coursework import grade as grade_module
from igrlib.coursework.grade import grade, reference_chapters

pytestmark = [pytest.mark.usefixtures("sandbox"), pytest.mark.coursework]  # seconds each: make coursework

SQUARE = "def square(x):\n    return x ** 2"


def _alice_then_mallory(tmp_path, leave, take):
    """Grade Alice's solved notebook with the cell ``leave`` after her answer, then Mallory's
    whose answer cell is ``take``; Mallory's rows."""
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
    assert grade(alice, chapters=chapters, timeout=30)[0].status == "PASS"  # the honest answer passes
    return grade(mallory, chapters=chapters, timeout=30)



def _forget_keys(description):
    """Invalidate, from the test's own process, every key of the machine named ``description``."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/proc/keys") as fh:
        for line in fh:
            fields = line.split()
            if fields and fields[-2].rstrip(":") == description:
                libc.syscall(250, 21, int(fields[0], 16))  # keyctl(KEYCTL_INVALIDATE, id)


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
    try:
        rows = _alice_then_mallory(tmp_path, leave, take)
    finally:
        _forget_keys(description)
    assert rows[0].exercise == "demo-square", rows
    assert rows[0].status != "PASS", rows


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
    # FILES_LIMIT per process times TASKS_LIMIT tasks: far below half the table. (The children
    # left waiting take this submission's own room to run its exercises: its grade, no one else's.)
    assert not any("open files of the machine" in row.message for row in rows), rows


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
        grade_module._leave(made)  # what the grader left (before its fix): removed once its processes end
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


@pytest.mark.xfail(strict=True, reason="known limit: colluding submissions can signal through the shared page cache "
                   "(they could as well share their code); stated on the instructors' page")
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
    rows = _alice_then_mallory(tmp_path, send, take)
    assert rows[0].exercise == "demo-square", rows
    assert rows[0].status != "PASS", rows
