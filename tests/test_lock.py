"""The lock: requirements.txt pins, with hashes, everything requirements.in asks for, and the
environment running the tests is that lock (so nbval compares outputs made by the same versions).

`make lock` writes requirements.txt; `make test-latest` runs the suite without the lock and
leaves this file out.
"""

import importlib.metadata
import pathlib
import re
import sys

import pytest
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import lock_diff  # noqa: E402

LOCK = ROOT / "requirements.txt"
LOOSE = ROOT / "requirements.in"


def _entries(text):
    """The lock's entries: one string per requirement, its continuation lines joined."""
    entries, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += " " + line.rstrip().rstrip("\\")
        if not line.rstrip().endswith("\\"):
            entries.append(current.strip())
            current = ""
    return entries


def _loose_requirements():
    lines = [line.split("#")[0].strip() for line in LOOSE.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def test_every_locked_package_has_an_exact_version_and_a_hash():
    entries = _entries(LOCK.read_text())
    assert len(entries) > 50
    for entry in entries:
        assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+ ", entry), f"not an exact pin: {entry[:80]}"
        assert "--hash=sha256:" in entry, f"no hash: {entry.split()[0]}"


def test_the_lock_satisfies_the_loose_requirements():
    """Fails when requirements.in changed and `make lock` was not run."""
    pins = lock_diff.read_pins(LOCK)
    assert len(pins) == len(_entries(LOCK.read_text()))
    for req in _loose_requirements():
        name = lock_diff.canonical(req.name)
        assert name in pins, f"{req.name} is in requirements.in but not in the lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"the lock has {req.name}=={pins[name]}, requirements.in asks {req}: run `make lock`"
        )


def test_requirements_in_installs_from_an_index_only():
    """A hashed install refuses editable and path requirements; igrlib is installed on its own."""
    for line in LOOSE.read_text().splitlines():
        assert not line.strip().startswith(("-e", ".", "/", "file:")), line


def test_this_environment_is_the_lock():
    pins = lock_diff.read_pins(LOCK)
    installed = {}
    for name in pins:
        try:
            installed[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed[name] = "-"
    diff = lock_diff.differences(pins, installed)
    assert not diff, "installed versions differ from requirements.txt (run `make install`): " + "; ".join(diff)


def test_binder_installs_the_lock_on_the_locked_python():
    """Binder reads requirements.txt, runtime.txt and postBuild at the root (no binder/ folder)."""
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()
    locked_python = re.search(r"^LOCK_PYTHON := (\d+\.\d+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert (ROOT / "runtime.txt").read_text().strip() == f"python-{locked_python}"
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert "--no-deps" in post_build.read_text() and "-e ." in post_build.read_text()


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("Sphinx==7.4.7", "sphinx==7.4.7"), []),
        (("numpy==2.4.6 \\", "numpy==2.5.0"), ["numpy: 2.4.6 -> 2.5.0"]),
        (("sphinx_design==0.8.0", ""), ["sphinx-design: 0.8.0 -> -"]),
        (("", "uv==0.13.9"), ["uv: - -> 0.13.9"]),
        (("", "pip==23.2.1"), []),
    ],
)
def test_lock_diff(tmp_path, lines, expected):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(lines[0] + "\n    --hash=sha256:00\n")
    b.write_text(lines[1] + "\n")
    assert lock_diff.differences(lock_diff.read_pins(a), lock_diff.read_pins(b)) == expected


def _version(text):
    return tuple(int(part) for part in text.split("."))


def test_one_python_version_everywhere():
    """README, the front page and CONTRIBUTING say "Python 3.N or newer" with the version of
    runtime.txt (Binder, the lock's --python-version); pyproject.toml requires it; and it is the
    oldest Python every locked package supports (numpy and scipy of the lock need it)."""
    runtime = re.fullmatch(r"python-(\d+\.\d+)", (ROOT / "runtime.txt").read_text().strip()).group(1)
    statement = f"Python {runtime} or newer"
    for page in ("README.md", "book/intro.md", "CONTRIBUTING.md"):
        text = (ROOT / page).read_text()
        assert statement in text, f"{page} does not say '{statement}'"
        others = {m for m in re.findall(r"Python (3\.\d+)", text) if m != runtime}
        assert not others, f"{page} names other Python versions: {others}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^requires-python = ">=' + re.escape(runtime) + '"$', pyproject, re.M)
    needed = {}
    for name in lock_diff.read_pins(LOCK):
        spec = importlib.metadata.metadata(name).get("Requires-Python") or ""
        floor = re.search(r">=\s*(\d+\.\d+)", spec)
        if floor:
            needed[name] = _version(floor.group(1))
    oldest = max(needed.values())
    assert oldest == _version(runtime), (
        f"the lock needs Python {'.'.join(map(str, oldest))} "
        f"({sorted(n for n, v in needed.items() if v == oldest)}), runtime.txt says {runtime}")
