"""Compare two lists of exact versions: the lock and another environment.

    python tools/lock_diff.py requirements.txt versions.txt      (make test-latest runs it)

Each file is read for `name==version` lines (a uv lock with hashes, or `pip freeze`);
names are compared in their canonical form (PEP 503). Prints one line per package whose
version differs, or that only one side has (pip itself aside), and nothing else; always exits 0.
"""

import pathlib
import re
import sys

# pip comes with every virtual environment and is not part of the lock.
UNLOCKED = {"pip"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def canonical(name):
    """The PEP 503 form of a project name: `Sphinx_Design` and `sphinx-design` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path):
    """Map canonical project name to version for every `name==version` line of `path`."""
    pins = {}
    for line in pathlib.Path(path).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    return pins


def differences(locked, other):
    """Lines `name: locked -> other` (`-` for a side without the package), sorted by name."""
    lines = []
    for name in sorted((locked.keys() | other.keys()) - UNLOCKED):
        a, b = locked.get(name, "-"), other.get(name, "-")
        if a != b:
            lines.append(f"{name}: {a} -> {b}")
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    lines = differences(read_pins(sys.argv[1]), read_pins(sys.argv[2]))
    print("\n".join(lines) if lines else "(none)")
