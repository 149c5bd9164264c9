"""The files grading runs on, to tell whether a submission changed them.

Without ``--sandbox`` a submission's code can write wherever the grader's user can,
and that includes the Python environment every later submission's process starts
from: a patched module of numpy or igrlib, a ``.pth`` or ``sitecustomize`` file
would run in the next student's process and could write that student's record.
The grader starts those processes with ``-S`` (no ``.pth`` files, no
``sitecustomize``) and ``-B`` (they write no bytecode), and compares a
:func:`snapshot` of the environment taken before each submission with one taken
after it: a submission that changed anything is reported, and the grading stops
there, since the environment can no longer be trusted.

A snapshot records the size, modification time and inode of every file in the
directories Python imports from (``sys.path``, without the standard library's
``test`` package and its unused ``site-packages``), the folder of igrlib itself
(an editable install imports it from the project) and the interpreter's folder.
Reading it costs well under a second for some 30,000 files.
"""

from __future__ import annotations

import os
import sys

__all__ = ["changes", "roots", "snapshot"]

# Top-level folders of an import directory left out: the standard library's test suite
# (never imported when grading) and the base installation's site-packages, which a virtual
# environment does not import from (when it does, it is on sys.path in its own right).
_SKIP = ("test", "site-packages")


def roots():
    """The folders whose files grading depends on: import directories, igrlib, the interpreter's."""
    import igrlib

    found = [os.path.realpath(p) for p in sys.path if p and os.path.isdir(p) and os.path.realpath(p) != os.getcwd()]
    found.append(os.path.realpath(os.path.dirname(igrlib.__file__)))
    found.append(os.path.realpath(os.path.dirname(sys.executable)))
    return sorted(set(found))


def snapshot(folders=None):
    """``{path: (size, mtime_ns, inode)}`` of every file below ``folders`` (default: :func:`roots`).

    A folder that is also a root in its own right is read once, as that root.
    """
    folders = roots() if folders is None else sorted({os.path.realpath(f) for f in folders})
    files = {}
    for top in folders:
        for here, dirs, names in os.walk(top):
            dirs[:] = sorted(
                d for d in dirs
                if os.path.join(here, d) not in folders and not (here == top and d in _SKIP)
            )
            for name in names:
                path = os.path.join(here, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue  # removed while we looked: the next snapshot says so
                files[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return files


def changes(before, after):
    """The files added, removed or changed from snapshot ``before`` to ``after``, sorted."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
