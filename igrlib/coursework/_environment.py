"""The files grading runs on, to tell whether a submission changed them.

Without ``--sandbox`` a submission's code can write wherever the grader's user can,
and that includes the Python environment every later submission's process starts
from: a patched module of numpy or igrlib, a ``.pth`` or ``sitecustomize`` file
would run in the next student's process and could write that student's record.
The grader starts those processes with ``-S`` (no ``.pth`` files, no
``sitecustomize``), ``-B`` (they write no bytecode) and the :func:`import_path`
it worked out before any submission ran, and compares a :func:`snapshot` of the
environment taken before each submission with one taken after it: a submission
that changed anything is reported, and the grading stops there, since the
environment can no longer be trusted.

A snapshot records the size, modification time, change time and inode of every
file in the folders of :func:`import_path` (without the standard library's ``test``
package and a base installation's ``site-packages`` that is not on the path), the
folder of igrlib itself, the interpreter's folder, the interpreter itself (where a
virtual environment's ``python`` links to) and the virtual environment's
``pyvenv.cfg``, which tells a new interpreter where its standard library is. The
change time is what gives away a file rewritten in place with its size kept and its
modification time set back (``os.utime`` sets it to the nanosecond): no process sets
the change time but the kernel. Bytecode (``__pycache__``) counts
too, since Python loads a planted ``.pyc`` whose header matches its source; but a
``.pyc`` written or removed by Python itself (the grader, or another program,
importing a module for the first time) is no change: :func:`changes` leaves out a
bytecode file whose code is exactly what its source compiles to. Reading a
snapshot costs well under a second for some 35,000 files.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import marshal
import os
import subprocess
import sys
import sysconfig

__all__ = ["changes", "igrlib_dir", "import_path", "roots", "snapshot"]

# Top-level folders of an import directory left out: the standard library's test suite
# (never imported when grading) and the base installation's site-packages, which a virtual
# environment does not import from (when it does, it is on sys.path in its own right).
_SKIP = ("test", "site-packages")


def igrlib_dir():
    """igrlib's own folder: the grading process loads igrlib from there, whatever its import path."""
    import igrlib

    return os.path.realpath(os.path.dirname(igrlib.__file__))


def _stamp(st):
    """What a snapshot keeps of a file's ``os.lstat``: size, modification and change times, inode."""
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


@functools.cache
def import_path():
    """The folders a fresh ``python -I`` of this interpreter imports from, but the folder that
    holds igrlib unless that is one of its site-packages folders.

    Asked once, of a new process, before any submission runs: its ``.pth`` files (an editable
    install's, Debian's dist-packages) are read while they are still the installation's own.
    The current folder, ``PYTHONPATH`` and the user's site-packages are not on it. The folder
    an editable install puts on the path (the project) is left out: the grading process loads
    igrlib from :func:`igrlib_dir` itself, and a module planted beside it in the project (which
    is not compared, see :func:`roots`) would otherwise be found there.
    """
    code = "import json, site, sys; print(json.dumps([sys.path, site.getsitepackages()]))"
    probe = [sys.executable, "-I", "-c", code]
    path, sites = json.loads(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
    path = [os.path.realpath(p) for p in path if p and os.path.exists(p)]  # folders, or a zip of the library
    parent = os.path.dirname(igrlib_dir())
    if parent not in {os.path.realpath(p) for p in sites}:
        path = [p for p in path if p != parent]
    return list(dict.fromkeys(path))


def roots():
    """The folders and files grading depends on: :func:`import_path`, igrlib, the interpreter's
    folder, the interpreter, its shared library (if any) and ``pyvenv.cfg`` (in a virtual environment).

    A site-packages folder that holds igrlib (after ``pip install``) is compared whole; the
    project of an editable install only through igrlib's own folder, since it is not on the
    grading process's import path.
    """
    found = [*import_path(), igrlib_dir(), os.path.realpath(os.path.dirname(sys.executable))]
    found += [os.path.realpath(sys.executable)]
    found += [f for f in (os.path.join(sys.prefix, "pyvenv.cfg"), _libpython()) if f and os.path.isfile(f)]
    return sorted(set(found))


def _libpython():
    """The shared library of the interpreter, if it is built with one, or None."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return None
    name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
    return os.path.realpath(os.path.join(sysconfig.get_config_var("LIBDIR") or "", name or ""))


def snapshot(folders=None):
    """``{path: (size, mtime_ns, ctime_ns, inode)}`` of every file below ``folders`` (default:
    :func:`roots`; a root may be a file).

    A folder that is also a root in its own right is read once, as that root. A link to a folder
    is recorded as ``("link", target)`` (a folder replaced by one is a change).
    """
    folders = sorted({os.path.realpath(f) for f in (roots() if folders is None else folders)})
    files = {}
    for top in folders:
        if os.path.isfile(top):
            files[top] = _stamp(os.lstat(top))
        for here, dirs, names in os.walk(top):
            dirs[:] = sorted(
                d for d in dirs
                if os.path.join(here, d) not in folders and not (here == top and d in _SKIP)
            )
            for name in dirs:  # a link to a folder is not walked into: it is an entry of its own
                path = os.path.join(here, name)
                if os.path.islink(path):
                    files[path] = ("link", os.readlink(path))
            for name in names:
                path = os.path.join(here, name)
                try:
                    files[path] = _stamp(os.lstat(path))
                except OSError:
                    continue  # removed while we looked: the next snapshot says so
    return files


def changes(before, after):
    """The files added, removed or changed from snapshot ``before`` to ``after``, sorted, but
    for bytecode that Python would have written itself (see :func:`harmless_bytecode`)."""
    differ = (p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    return sorted(p for p in differ if not harmless_bytecode(p))


def harmless_bytecode(path):
    """Whether the file at ``path`` is a cached ``.pyc`` (or its absence) that cannot change what
    runs: gone (Python compiles the source again), of another Python version (by its name
    or its header: ignored), or holding exactly the code its source compiles to (each source
    is compiled once, however many files claim to be its bytecode). A link is never harmless: what it points
    to is outside what the snapshot sees and may be rewritten later."""
    if not path.endswith(".pyc") or os.path.basename(os.path.dirname(path)) != "__pycache__":
        return False
    try:
        source = importlib.util.source_from_cache(path)
    except ValueError:  # not named as Python names its cache files
        return False
    if not os.path.lexists(path):
        return True
    if os.path.islink(path) or os.path.islink(os.path.dirname(path)):
        return False
    levels = {importlib.util.cache_from_source(source, optimization=o): o for o in ("", 1, 2)}
    if path not in levels:  # another Python's name (or none Python uses): never loaded
        return True
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        if data[:4] != importlib.util.MAGIC_NUMBER:
            return True
        code = marshal.loads(data[16:])
    except Exception:  # unreadable, not marshal data
        return False
    try:
        version = _stamp(os.stat(source))
    except OSError:
        return False
    return code == _compiled(source, levels[path] or 0, version)


@functools.lru_cache(maxsize=64)
def _compiled(source, level, version):
    """What ``source`` compiles to at optimization ``level``, or None if it cannot be read or compiled
    (``version``, the source's size, times and inode, keeps a cached result from outliving the file)."""
    try:
        with open(source, "rb") as fh:
            return compile(fh.read(), source, "exec", dont_inherit=True, optimize=level)
    except Exception:  # no source, not Python...
        return None
