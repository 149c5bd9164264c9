"""The grader's environment check attacked as a hostile student would.

Without ``--sandbox`` a submission's code can write the Python environment the next
submission's process starts from; the grader compares that environment before and after
each submission (:mod:`igrlib.coursework._environment`). Each test here is a change that
check once missed: a submission rewrites a file of a private Python environment made by the
test (never the shared one: other tests run meanwhile), and the next submission must not be
graded on what it left behind.
"""

import importlib.util
import os
import pathlib
import py_compile
import subprocess

import nbformat
import pytest
from test_grade import TIMEOUT
from test_grade_attacks import chapter

from igrlib.coursework import _environment
from igrlib.coursework.grade import grade, reference_chapters

SOLVED = "def square(x):\n    return x * x"


def _batch(tmp_path, python, attack, honest=SOLVED, *honest_before, env=None):
    """Grade submission A (the attack's cell before a right answer), then B (``honest``);
    return ``(rows of A, rows of B)`` as CSV lines."""
    reference, a, b = (tmp_path / name for name in ("reference", "a", "b"))
    for folder in (reference, a, b):
        folder.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    nbformat.write(chapter("demo-square", "square", "x", SOLVED, attack), a / "ch.ipynb")
    nbformat.write(chapter("demo-square", "square", "x", honest, *honest_before), b / "ch.ipynb")
    grades = tmp_path / "grades.csv"
    command = [python, "-m", "igrlib.coursework.grade", a / "ch.ipynb", b / "ch.ipynb", "--reference", reference]
    # run from tmp_path: from the project's folder, ``-m`` would import the project's igrlib
    done = subprocess.run([*command, "--csv", grades], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    lines = grades.read_text().splitlines()
    return [r for r in lines if r.startswith(str(a))], [r for r in lines if r.startswith(str(b))]


def _stopped_after_a(rows_a, rows_b, b, planted):
    assert any("grader's Python environment changed" in r and planted in r for r in rows_a), rows_a
    assert rows_b == [
        f"{b / 'ch.ipynb'},(notebook),ERROR,0,0,"
        f"not graded: {b.parent / 'a' / 'ch.ipynb'} changed the grader's environment"
    ], rows_b


@pytest.mark.coursework
def test_a_rewrite_in_place_that_keeps_size_and_time_is_seen(tmp_path, private_python):
    """A module of the environment rewritten in place, same size, its modification time set back
    to the nanosecond (``os.utime``): size, time and inode are those of before, but the next
    submission imports the new code. Only the change time (ctime), which no process can set,
    gives it away."""
    python, site = private_python
    module = site / "zz_lib.py"
    module.write_text("def square(x):\n    return x * x\n")
    attack = (
        "import os\n"
        f"path = {str(module)!r}\n"
        "st = os.stat(path)\n"
        "with open(path, 'r+b') as fh:\n"
        "    text = fh.read()\n"
        "    fh.seek(0)\n"
        "    fh.write(text.replace(b'x * x', b'x + x'))\n"
        "os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))"
    )
    rows_a, rows_b = _batch(tmp_path, python, attack, "from zz_lib import square")
    assert "x + x" in module.read_text(), "the attack did not run"
    _stopped_after_a(rows_a, rows_b, tmp_path / "b", "zz_lib.py")


@pytest.mark.coursework
def test_the_virtual_environments_configuration_is_part_of_the_environment(tmp_path, private_python):
    """``pyvenv.cfg`` tells every new interpreter of a virtual environment where its standard
    library is (its ``home``): rewritten, the next submission's process starts from another
    Python, or (here) not at all."""
    python, _site = private_python
    config = pathlib.Path(python).parents[1] / "pyvenv.cfg"
    attack = f"import pathlib\npathlib.Path({str(config)!r}).write_text('home = /nonexistent\\n')"
    rows_a, rows_b = _batch(tmp_path, python, attack)
    assert "/nonexistent" in config.read_text(), "the attack did not run"
    _stopped_after_a(rows_a, rows_b, tmp_path / "b", "pyvenv.cfg")


def test_an_honest_cell_calling_help_is_run(tmp_path):
    """``help`` is a builtin students use in notebooks; the grading process (started without the
    site module, which defines it) must still have it, or the cell and the answer it defines are lost."""
    reference = tmp_path / "reference"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    submission = tmp_path / "ch.ipynb"
    source = "help(len)\nexit, quit, copyright, credits, license\n" + SOLVED
    nbformat.write(chapter("demo-square", "square", "x", source), submission)
    rows = grade(submission, chapters=reference_chapters(reference), timeout=TIMEOUT)
    assert [(r.exercise, r.status) for r in rows] == [("demo-square", "PASS")], rows


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# A chain of processes, each in a session of its own (so no process group holds two of them), the
# deepest of which waits for the next submission's process and then plants a file.
CHAIN = """\
import os, pathlib, time
def level(depth):
    os.setsid()
    with open({pids!r}, 'a') as fh:
        fh.write(f'{{os.getpid()}}\\n')
    if depth and os.fork() == 0:
        try:
            level(depth - 1)
        finally:
            os._exit(0)
    if depth:
        time.sleep(60)
        return
    pathlib.Path({pid!r}).write_text(str(os.getpid()))
    mine = os.getcwd()
    for _ in range(600):
        for cwd in pathlib.Path('/proc').glob('[0-9]*/cwd'):
            try:
                other = os.readlink(cwd)
            except OSError:
                continue
            theirs = os.path.join(other, 'submission.ipynb')
            try:  # the next submission of this batch (tests of other batches run meanwhile)
                found = other != mine and {tag!r} in open(theirs).read()
            except OSError:
                found = False
            if found:
                pathlib.Path({planted!r}).write_text('x = 1\\n')
                return
        time.sleep(0.05)
if os.fork() == 0:
    try:
        level({depth})
    finally:
        os._exit(0)
for _ in range(500):  # the whole chain is up before this submission's turn ends
    if os.path.exists({pid!r}):
        break
    time.sleep(0.01)
"""


@pytest.mark.coursework
def test_no_process_of_a_deep_chain_outlives_its_submission(tmp_path, private_python):
    """Each process of the chain is killed only once its parent is gone and it has become the
    grader's child: a chain deeper than the grader's rounds of killing outlived submission A,
    then changed the environment while B ran, and B was blamed for it."""
    python, site = private_python
    pid_file, planted = tmp_path / "deepest.pid", site / "zz_late.py"
    pids = tmp_path / "chain.pids"
    tag = f"batch-{os.getpid()}-{id(tmp_path)}"
    attack = CHAIN.format(pid=str(pid_file), pids=str(pids), planted=str(planted), depth=30, tag=tag)
    honest = f"# {tag}\nimport time\ntime.sleep(2)\n" + SOLVED
    try:
        rows_a, rows_b = _batch(tmp_path, python, attack, honest)
        assert pid_file.exists(), "the attack did not run"
        assert not _alive(int(pid_file.read_text())), "a process of submission A is still running"
        assert not planted.exists(), "a process of submission A planted a file while B ran"
        assert rows_b == [f"{tmp_path / 'b' / 'ch.ipynb'},demo-square,PASS,1,1,square(x) is right on fresh inputs"]
    finally:
        for pid in map(int, pids.read_text().split() if pids.exists() else []):
            if _alive(pid):
                os.kill(pid, 9)


def _package_with_bytecode(tmp_path):
    lib = tmp_path / "lib"
    (lib / "pkg").mkdir(parents=True)
    source = lib / "pkg" / "mod.py"
    source.write_text("x = 1\n")
    cached = pathlib.Path(importlib.util.cache_from_source(str(source)))
    py_compile.compile(str(source), cfile=str(cached))
    return lib, source, cached


def test_a_bytecode_folder_replaced_by_a_link_elsewhere_is_seen(tmp_path):
    """``__pycache__`` replaced by a link to a folder outside the environment: the snapshot does not
    follow links, so the old .pyc files looked merely gone (harmless). Any later write to that
    outside folder (by another submission, which no snapshot watches) puts bytecode under the
    package that Python loads."""
    lib, source, cached = _package_with_bytecode(tmp_path)
    before = _environment.snapshot([lib])
    outside = tmp_path / "outside"
    outside.mkdir()
    cached.unlink()
    cached.parent.rmdir()
    cached.parent.symlink_to(outside, target_is_directory=True)
    assert _environment.changes(before, _environment.snapshot([lib])) != []


def test_bytecode_replaced_by_a_link_to_a_file_elsewhere_is_seen(tmp_path):
    """A .pyc replaced by a link to an outside file that holds, for now, exactly the right code (or
    nothing at all): the outside file can be rewritten later, unwatched."""
    lib, source, cached = _package_with_bytecode(tmp_path)
    before = _environment.snapshot([lib])
    outside = tmp_path / "outside.pyc"
    os.replace(cached, outside)  # the same, right, code
    cached.symlink_to(outside)
    assert _environment.changes(before, _environment.snapshot([lib])) == [str(cached)]
    outside.unlink()  # a dangling link: nothing there yet
    assert _environment.changes(before, _environment.snapshot([lib])) == [str(cached)]


@pytest.fixture(params=["project", "site-packages"])
def python_with_own_igrlib(request, tmp_path):
    """A virtual environment with a copy of igrlib of its own: in a project folder on its path (as
    an editable install puts it) or in its site-packages (as ``pip install`` does). Returns its
    interpreter and the folder that holds igrlib."""
    import shutil

    from conftest import make_venv

    import igrlib

    home = tmp_path / "project"
    python, site = make_venv(tmp_path / "venv", home)
    if request.param == "site-packages":
        home = site
    shutil.copytree(
        pathlib.Path(igrlib.__file__).parent, home / "igrlib", ignore=shutil.ignore_patterns("__pycache__")
    )
    return python, home


@pytest.mark.coursework
def test_a_module_planted_beside_igrlib_is_seen(tmp_path, python_with_own_igrlib):
    """The folder that holds igrlib is on the grading process's import path, but only igrlib's own
    folder was compared (for a ``pip install``, that left out all of site-packages). The standard
    library's ``copy`` module tries ``from org.python.core import PyStringMap`` (for Jython) in
    every process: a package ``org`` planted beside igrlib ran in every later submission's. Either
    it is seen, or it does not run."""
    python, home = python_with_own_igrlib
    planted = home / "org" / "__init__.py"
    payload = "import os; os.path.exists('submission.ipynb') and os._exit(3)\n"
    attack = (
        "import os, pathlib, igrlib\n"
        "org = pathlib.Path(igrlib.__file__).parents[1] / 'org'\n"
        "org.mkdir()\n"
        f"(org / '__init__.py').write_text({payload!r})"
    )
    rows_a, rows_b = _batch(tmp_path, python, attack)
    assert planted.exists(), "the attack did not run"
    if any("environment changed" in r for r in rows_a):  # seen: in site-packages, which is compared
        _stopped_after_a(rows_a, rows_b, tmp_path / "b", "__init__.py")
    else:  # unseen: then it must not reach B's process (a project is not on its import path)
        assert rows_b == [f"{tmp_path / 'b' / 'ch.ipynb'},demo-square,PASS,1,1,square(x) is right on fresh inputs"]


def test_many_bytecode_files_for_one_large_source_are_judged_quickly(tmp_path):
    """Each changed .pyc was compared with its source compiled afresh, and any name of the form
    ``name.<anything>.pyc`` maps to ``name.py``: a submission writing a few hundred tiny files
    (valid marshal data) beside one large module held the grader for a compilation each, minutes
    for a few thousand. A .pyc under another name than this Python's own is never loaded."""
    import marshal
    import time

    lib = tmp_path / "lib"
    (lib / "__pycache__").mkdir(parents=True)
    (lib / "big.py").write_text("".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(20_000)))
    before = _environment.snapshot([lib])
    fake = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(None)
    for i in range(300):
        (lib / "__pycache__" / f"big.t{i}.pyc").write_bytes(fake)
    own = pathlib.Path(importlib.util.cache_from_source(str(lib / "big.py")))
    own.write_bytes(fake)  # under the name Python loads: compared, and a change
    start = time.monotonic()
    assert _environment.changes(before, _environment.snapshot([lib])) == [str(own)]
    assert time.monotonic() - start < 5


def test_judging_leaves_the_callers_alarm_running():
    """The time limit on judging uses the process's one real-time timer: a program that calls
    ``grade`` with an alarm of its own (pytest-timeout, a batch script's overall limit) had it
    cancelled by the first judged record."""
    import json
    import signal

    from igrlib.coursework import _replay
    from igrlib.coursework.checks import _evaluate
    from igrlib.coursework.grade import _judge

    recorder = _replay.Recorder(lambda x: x)
    _evaluate(lambda answer: (answer(1.0) == 1.0, "recorded"), recorder)
    record = json.loads(json.dumps(recorder.calls))

    def handler(signum, frame):
        raise AssertionError("the caller's alarm fired during the test")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        assert _judge(lambda answer: (answer(1.0) == 1.0, "fine"), record, [1, 2, 0], limit=5) == ("PASS", "fine")
        assert 90 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
        assert signal.getsignal(signal.SIGALRM) is handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.coursework
def test_the_font_cache_is_the_one_of_before_any_submission_ran(tmp_path, private_python):
    """Each submission gets a copy of the grader's matplotlib font cache, read from the grader's
    cache folder, which no snapshot compares: a font list rewritten there by submission A (no
    fonts, a default font that does not exist) made every later submission's figures fail."""
    import json
    import sys

    python, _site = private_python
    cache = tmp_path / "grader-mpl"
    env = {**os.environ, "MPLCONFIGDIR": str(cache)}
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=True)
    (font_list,) = cache.glob("fontlist*.json")
    poisoned = {**json.loads(font_list.read_text()), "ttflist": [], "defaultFont": {"ttf": "/none.ttf"}}
    attack = f"import pathlib\npathlib.Path({str(font_list)!r}).write_text({json.dumps(poisoned)!r})"
    draw = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.set_title('t')\nfig.canvas.draw()\n"
    honest = draw + SOLVED
    rows_a, rows_b = _batch(tmp_path, python, attack, honest, env=env)
    assert json.loads(font_list.read_text())["ttflist"] == [], "the attack did not run"
    assert rows_b == [f"{tmp_path / 'b' / 'ch.ipynb'},demo-square,PASS,1,1,square(x) is right on fresh inputs"], rows_b
