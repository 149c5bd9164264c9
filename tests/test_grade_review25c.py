"""Attacks on the sandboxed grader found by a third review, after the cgroups were added: each
test grades crafted notebooks in the default (sandboxed) mode, and each is open (``xfail``).

- The kernel's key store (``add_key``/``keyctl``) is not namespaced by bubblewrap, and the
  sandbox's root is the machine's root (uid 0), which owns the machine's root user keyring
  (``_uid.0``, permissions ``1f3f0000``: the user may read, write and link). A cell adds a key,
  opens its permissions, and links it into every ``_uid`` keyring listed in ``/proc/keys``: the
  key outlives the sandbox (and the grader), and the next submission finds it in ``/proc/keys``
  and reads it. One submission can so hand its solution to another (or leave anything up to
  root's key quota in the machine's kernel memory, outside any cgroup's lifetime).
"""

import ctypes
import secrets

import nbformat
import pytest
from test_grade_attacks import chapter

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
