"""The grader attacked as a hostile student would: crafted answers and records that must not pass,
must not stall the grader's own process, and must be reported for what they are.

Each submission is a one-exercise notebook built here for a real check of the book; it is graded
by :func:`igrlib.coursework.grade.grade` exactly as ``python -m igrlib.coursework.grade`` does
(the answer runs in a separate process, the verdict is made here from its record)."""

import base64
import json
import pathlib

import nbformat
import numpy as np
import pytest
from test_grade import TIMEOUT

from igrlib.coursework import _replay
from igrlib.coursework.checks import _evaluate, _registry
from igrlib.coursework.grade import grade, reference_chapters

P = 2**61 - 1  # Python hashes an int modulo P: 1 * P, 2 * P, 3 * P... all hash to 0


def chapter(check, answer, params, source=None, *before):
    """A chapter with one code exercise for ``check``: the stub of ``answer(params)``, or
    ``source`` in its place, after the cells ``before``."""
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    stub = f"def {answer}({params}):\n    # YOUR CODE HERE\n    raise NotImplementedError"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        code("import numpy as np\nimport igrlib as igr"),
        *[code(cell) for cell in before],
        md(f"```{{exercise}} Attack\n:label: ex-{check}\n\nWrite `{answer}`.\n```"),
        code(source or stub, metadata={"tags": ["exercise"]}),
        code(f'igr.check("{check}", {answer})'),
    ]
    return nb


def graded(tmp_path, check, answer, params, source, *before, **options):
    """The report's row for the exercise, the submission graded against the chapter's stub."""
    reference = tmp_path / "reference"
    reference.mkdir()
    nbformat.write(chapter(check, answer, params), reference / "ch.ipynb")
    submission = tmp_path / "ch.ipynb"
    nbformat.write(chapter(check, answer, params, source, *before), submission)
    rows = grade(submission, chapters=reference_chapters(reference), timeout=options.pop("timeout", TIMEOUT), **options)
    assert rows[0].exercise == check, rows
    return rows


# ---------------------------------------------------------------- the record: a decoder that cannot be stalled


def test_dict_keys_that_all_share_one_hash_are_not_decoded():
    """Ints k * P all hash to 0: a dict of n of them takes n**2 / 2 comparisons to build, so a
    16 MB record (650,000 keys) would hold the grader's process for hours."""
    keys = [k * P for k in range(1, 2001)]
    with pytest.raises(ValueError, match="share"):
        _replay.decode({"t": "dict", "k": keys, "v": [0] * len(keys)})
    # the same dict returned by an answer is not plain data; a handful of shared hashes is
    value = _replay.decode(json.loads(json.dumps(_replay.encode(dict.fromkeys(keys, 0)))))
    assert isinstance(value, _replay.Unreadable) and "share" in value.kind
    few = {0: 1, P: 2, -1: 3, -2: 4}
    assert _replay.decode(json.loads(json.dumps(_replay.encode(few)))) == few


def test_an_answer_returning_colliding_dict_keys_fails_without_stalling_the_grader(tmp_path):
    source = "P = 2**61 - 1\ndef square(x):\n    return {k * P: 0.0 for k in range(1, 3001)}"
    rows = graded(tmp_path, "demo-square", "square", "x", source)
    assert rows[0].status == "FAIL" and "cannot read" in rows[0].message and "share" in rows[0].message, rows


def npy_header(shape, descr="<f8"):
    """The bytes of a .npy file that announces an array of ``shape`` and holds no data."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


@pytest.mark.parametrize("shape", [(10**12,), (2**31, 2**31), (3 * 10**8,)])
def test_an_array_header_announcing_a_huge_array_is_refused_at_once(shape):
    """Holds: numpy reads such a header, then finds no data (or cannot reserve the memory) and stops."""
    text = base64.b64encode(npy_header(shape)).decode()
    with pytest.raises((ValueError, MemoryError)):
        _replay.decode({"t": "array", "v": text})


# ---------------------------------------------------------------- checks whose cost the answer chose


def test_a_huge_number_of_terms_is_judged_without_building_the_series(tmp_path):
    """``beyond-terms-needed`` summed the series to the answer's number of terms: 10**9 terms asked
    for some 30 GB in the grader's process (which has no memory limit), 10**12 a MemoryError
    reported as the student's own."""
    source = "def terms_needed(x, tol):\n    return 10**12"
    rows = graded(tmp_path, "beyond-terms-needed", "terms_needed", "x, tol", source)
    assert rows[0].status == "FAIL" and "already enough" in rows[0].message, rows
    assert "MemoryError" not in rows[0].message


def test_a_number_too_long_to_print_is_a_fail_not_an_error(tmp_path):
    """An int of 5,000 digits cannot be written as JSON (Python's 4,300-digit limit): the record
    could not be sent, and the grader reported ERROR "the check raised ValueError"."""
    source = "def terms_needed(x, tol):\n    return 10**5000"
    rows = graded(tmp_path, "beyond-terms-needed", "terms_needed", "x, tol", source)
    assert rows[0].status == "FAIL" and "cannot read" in rows[0].message, rows


@pytest.mark.parametrize(
    "value, hint",
    [
        (10**400, "already enough"),
        (10**5000, "already enough"),
        (1e300, "already enough"),
        (0, "error above tol"),
        (2.5, "whole number"),
    ],
    ids=["10**400", "10**5000", "1e300", "0", "2.5"],
)
def test_terms_needed_with_absurd_numbers_gets_a_hint_not_a_crash(value, hint):
    check = _registry()["beyond-terms-needed"]
    passed, message = _evaluate(check, lambda x, tol: value)
    assert not passed and hint in message and "raised" not in message, message


def test_crossing_times_of_a_stack_are_compared_only_once_each_is_one_number():
    """``experiments-crossing-time`` broadcast the row-by-row answers against the stack's: an answer
    returning (N, 1) arrays for single rows made a (6, N, 6) array in the grader's process."""
    check = _registry()["experiments-crossing-time"]
    solution = _solution("05_experiments.ipynb", "crossing_time")
    calls = []

    def answer(t, loss, target):
        calls.append(1)
        if len(calls) > 12 and np.ndim(loss) == 1:  # the single rows of the stack part
            return np.zeros((10**5, 1))
        return solution(t, loss, target)

    passed, message = _evaluate(check, answer)
    assert not passed and "one number" in message, message


def _solution(chapter_file, name):
    """The book's solution function ``name`` of ``chapter_file`` (its imports and definitions only)."""
    import ast
    import math

    import igrlib as igr
    from igrlib.coursework.student import find_exercises

    nb = nbformat.read(pathlib.Path(__file__).resolve().parents[1] / "book" / chapter_file, as_version=4)
    (exercise,) = [e for e in find_exercises(nb) if e["answer"] == name]
    tree = ast.parse(exercise["solution"])
    tree.body = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef))]
    namespace = {"np": np, "math": math, "igr": igr}
    exec(compile(tree, chapter_file, "exec"), namespace)
    return namespace[name]


# ---------------------------------------------------------------- values the checks' conversions misread

SOLUTIONS = {  # check: (chapter, answer)
    "demo-square": (None, None),
    "steepest-quadratic-flow": ("01_steepest_descent.ipynb", "quadratic_flow"),
    "steepest-dissipation": ("01_steepest_descent.ipynb", "dissipated"),
    "modeq-riccati": ("03_modified_equation.ipynb", "modified_rhs"),
    "modeq-hhg-curl": ("03_modified_equation.ipynb", "hhg_curl"),
    "penalty-flow-end": ("04_implicit_penalty.ipynb", "flow_end"),
    "penalty-stable-arc": ("04_implicit_penalty.ipynb", "stable_arc"),
    "experiments-power-iteration": ("05_experiments.ipynb", "top_eigenvalue"),
    "experiments-crossing-time": ("05_experiments.ipynb", "crossing_time"),
    "beyond-flood-pair": ("07_sgd_momentum.ipynb", "descent_ascent"),
    "beyond-sgd-extra-penalty": ("07_sgd_momentum.ipynb", "sgd_extra_penalty"),
    "beyond-terms-needed": ("06_beyond_gd.ipynb", "terms_needed"),
}


def with_imaginary_part(value):
    """``value`` (a number, an array, a pair of numbers or None) with 5i added to every number."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(np.complex128(v + 5j) for v in value)
    return np.asarray(value) + 5j


@pytest.mark.parametrize("name", sorted(SOLUTIONS))
def test_a_right_real_part_with_an_imaginary_part_fails(name):
    """``float()`` of a numpy complex, and ``np.asarray(..., dtype=float)`` of a complex array, drop
    the imaginary part with a mere warning: the book's solution plus 5i passed."""
    chapter_file, answer = SOLUTIONS[name]
    solution = (lambda x: x * x) if chapter_file is None else _solution(chapter_file, answer)
    check = _registry()[name]
    assert _evaluate(check, solution)[0], "the control: the solution itself passes"
    passed, message = _evaluate(check, lambda *args: with_imaginary_part(solution(*args)))
    assert not passed and ("real" in message or "whole number" in message), message


def test_an_answer_that_overwrites_its_input_does_not_pass_the_grader(tmp_path):
    """demo-square compared the answer with x**2 of the very array it handed the answer: zeroing x
    and returning zeros passed, also in the grader (which replays changes made to array arguments).
    The instructors' page offers this check as the example to copy."""
    source = "def square(x):\n    x[:] = 0.0\n    return x.copy()"
    rows = graded(tmp_path, "demo-square", "square", "x", source)
    assert rows[0].status == "FAIL", rows


def test_a_complex_answer_does_not_pass_the_grader(tmp_path):
    source = "def square(x):\n    return x * x + 1000j"
    rows = graded(tmp_path, "demo-square", "square", "x", source)
    assert rows[0].status == "FAIL" and "real" in rows[0].message, rows


# ---------------------------------------------------------------- answers that just call the library

BYPASSES = {
    # "without integrating ... not an ODE solver": the numerical flow itself, run long enough
    "penalty-flow-end by gradient_flow": (
        "penalty-flow-end",
        "flow_end",
        "theta0, x, y",
        "def flow_end(theta0, x, y):\n"
        "    return igr.gradient_flow(igr.two_param(x, y), theta0, [0.0, 400.0 / x**2])[-1]",
        "igrlib.gradient_flow is switched off",
    ),
    # the principal logarithm, taken by the library's one function that takes it
    "principal-rate by series.log_rates": (
        "beyond-principal-rate",
        "principal_rate",
        "lam, lr",
        "def principal_rate(lam, lr):\n    return igr.series.log_rates(np.asarray(lam, dtype=float), lr)",
        "igrlib.series.log_rates is switched off",
    ),
}
EIGENSOLVERS = {
    "scipy.linalg.eigvals": "scipy.linalg.eigvals(H).real.max()",
    "scipy.linalg.eig": "scipy.linalg.eig(H)[0].real.max()",
    "scipy.linalg.svdvals": "scipy.linalg.svdvals(H).max()",
    "scipy.linalg.schur": "np.diag(scipy.linalg.schur(H)[0]).max()",
    "scipy.sparse.linalg.eigs": "scipy.sparse.linalg.eigs(H, k=1)[0].real.max()",
}
for _name, _expression in EIGENSOLVERS.items():
    # the matrix from one product per column, then any eigensolver numpy's and scipy's eigh did not cover
    BYPASSES[f"power-iteration by {_name}"] = (
        "experiments-power-iteration",
        "top_eigenvalue",
        "hvp, v0, iters",
        "import scipy.linalg, scipy.sparse.linalg\n"
        "def top_eigenvalue(hvp, v0, iters):\n"
        "    H = np.column_stack([hvp(e) for e in np.eye(v0.size)])\n"
        f"    return float({_expression})",
        "is switched off",
    )


# gd is switched off, "count the steps ... not by running gradient descent": SGD with one batch is GD
BYPASSES["steps-to-tol by sgd with one batch"] = (
    "euler-steps-to-tol",
    "steps_to_tol",
    "lam, lr, tol",
    "import math\n"
    "def steps_to_tol(lam, lr, tol):\n"
    "    if abs(1 - lr * lam) >= 1:\n"
    "        return math.inf\n"
    "    n = int(math.log(tol) / math.log(max(abs(1 - lr * lam), 1e-300))) + 2\n"
    "    path = igr.sgd([igr.quadratic([[lam]])], [1.0], lr, n, rng=np.random.default_rng(0))\n"
    "    return int(np.flatnonzero(np.abs(np.reshape(path, -1)) <= tol)[0])",
    "igrlib.sgd is switched off",
)
# "from this formula, using igr.hessian and igr.d3": central differences of H H g, as the check
# itself computes them, are no use of the formula
BYPASSES["hhg-curl by finite differences"] = (
    "modeq-hhg-curl",
    "hhg_curl",
    "loss, theta",
    "def hhg_curl(loss, theta):\n"
    "    def F(th):\n"
    "        return igr.hvp(loss, th, igr.hvp(loss, th, loss.grad(th)))\n"
    "    e1, e2, eps = np.eye(2)[0], np.eye(2)[1], 1e-5\n"
    "    d1 = (F(theta + eps * e1) - F(theta - eps * e1)) / (2 * eps)\n"
    "    d2 = (F(theta + eps * e2) - F(theta - eps * e2)) / (2 * eps)\n"
    "    return float(d1[1] - d2[0])",
    "at theta only",
)


@pytest.mark.parametrize("case", sorted(BYPASSES))
def test_an_answer_that_calls_the_library_for_the_exercise_fails(tmp_path, case):
    check, answer, params, source, text = BYPASSES[case]
    rows = graded(tmp_path, check, answer, params, source)
    assert rows[0].status == "FAIL" and text in rows[0].message, rows


# ---------------------------------------------------------------- a record the grader had to cut short


def test_an_answer_called_more_often_than_the_grader_records_is_not_taken_for_tampering(monkeypatch):
    """A check may call the answer a number of times that depends on what it returns (modeq-riccati
    integrates the answer's field: a field with sin(3e5 y) in its h**2 term takes 104,000 calls and
    passes the self-check). The record keeps ``MAX_CALLS`` calls; the grader said the notebook had
    changed igrlib's checks."""
    monkeypatch.setattr(_replay, "MAX_CALLS", 20)

    def check(answer):
        return all(answer(float(k)) == k * k for k in range(30)), "squares"

    recorder = _replay.Recorder(lambda x: x * x)
    assert _evaluate(check, recorder)[0]
    calls = _replay.decode_calls(json.loads(json.dumps(recorder.calls)))
    status, message = _replay.verdict(check, calls, _evaluate)
    assert status == "ERROR" and "more than 20 times" in message and "change" not in message, message


# ---------------------------------------------------------------- the channel


def test_messages_on_the_channel_cannot_extend_a_cells_time_limit(tmp_path):
    """A cell that sends the grader 'ready' every 0.3 s is never interrupted: it runs to the wall-clock
    limit, and the exercise after it is not checked."""
    from test_grade_verdict import CHANNEL

    keep_alive = CHANNEL + "import time\nwhile True:\n    forge({'kind': 'ready'})\n    time.sleep(0.3)"
    rows = graded(tmp_path, "demo-square", "square", "x", "def square(x):\n    return x * x", keep_alive, wall=5)
    assert rows[0].status == "PASS", rows


# ---------------------------------------------------------------- forged records that hold


def _demo_record(x, **call):
    """A record of one call of ``square`` on demo-square's input ``x``, with ``call``'s entries."""
    return [{"args": _replay.fingerprint([x], {}), "callbacks": [], "after": [], **call}]


FORGED = {
    # exceptions the grader must not re-raise as such: an exit, an interrupt
    "SystemExit replayed": (dict(raised={"ename": "SystemExit", "message": "", "line": 1}), "FAIL", "SystemExit"),
    "KeyboardInterrupt replayed": (
        dict(raised={"ename": "KeyboardInterrupt", "message": "", "line": 1}),
        "FAIL",
        "KeyboardInterrupt",
    ),
    # right values in another byte order: a claim of the right values, nothing more
    "big-endian right values": (lambda x: dict(result=_replay.encode((x**2).astype(">f8"))), "PASS", "right"),
    "right values as strings": (lambda x: dict(result=[f"{v!r}" for v in (x**2).tolist()]), "FAIL", "real numbers"),
    "right values as complex": (lambda x: dict(result=_replay.encode(x**2 + 0j)), "FAIL", "real numbers"),
    "a dict": (dict(result={"t": "dict", "k": [0], "v": [1.0]}), "FAIL", "real numbers"),
    "a 0-d array": (dict(result=_replay.encode(np.array(1.0))), "FAIL", "same shape"),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_a_forged_record_claims_values_and_nothing_else(name):
    entries, status, text = FORGED[name]
    x = np.random.default_rng(7).normal(size=5)
    record = _demo_record(x, **(entries(x) if callable(entries) else entries))
    calls = _replay.decode_calls(json.loads(json.dumps(record)))
    got = _replay.verdict(_registry()["demo-square"], calls, _evaluate)
    assert got[0] == status and text in got[1], got


def test_an_int_beyond_the_floats_is_not_a_number_the_checks_can_compare():
    """euler-steps-to-tol read 10**400 through plain_real, whose float() raised OverflowError: the
    student was told "your code raised OverflowError" at a line of the check."""
    from igrlib.coursework.checks import plain_real, real_number

    assert plain_real(10**400) is None and real_number(-(10**400)) is None and plain_real(10**300) == 1e300
    passed, message = _evaluate(_registry()["euler-steps-to-tol"], lambda lam, lr, tol: 10**400)
    assert not passed and "raised" not in message, message


def test_hidden_checks_run_the_answer_with_the_exercises_routines_switched_off(tmp_path):
    """An instructor's hidden check ran the answer unguarded: the answer that calls igr.gradient_flow,
    refused by the public penalty-flow-end, passed hidden:penalty-flow-end."""
    extra = (
        "import numpy as np\n"
        "@register('penalty-flow-end')\n"
        "def _(answer):\n"
        "    got = answer(np.array([1.5, 0.5]), 1.0, 1.0)\n"
        "    return bool(abs(got[0] * got[1] - 1.0) < 1e-6), 'on the hyperbola'\n"
    )
    source = BYPASSES["penalty-flow-end by gradient_flow"][3]
    rows = graded(tmp_path, "penalty-flow-end", "flow_end", "theta0, x, y", source, extra=extra)
    assert [r[:2] for r in rows] == [("penalty-flow-end", "FAIL"), ("hidden:penalty-flow-end", "FAIL")], rows
    assert "igrlib.gradient_flow is switched off" in rows[1].message, rows


def _grade_with(python, *args):
    import subprocess

    return subprocess.run([python, "-m", "igrlib.coursework.grade", *map(str, args)], capture_output=True, text=True)


@pytest.mark.coursework
def test_a_file_planted_in_the_graders_environment_stops_the_grading(tmp_path, private_python):
    """Submission A writes a .pth file into site-packages, which would run at the start of the
    process grading submission B (here it would only exit; it could as well rewrite B's record).
    The grader sees the environment changed after A, says so, and grades nothing after it."""
    python, site = private_python
    planted = site / "zz_planted.pth"
    payload = "import os; os.path.exists('submission.ipynb') and os._exit(3)"
    plant = f"import pathlib\npathlib.Path({str(planted)!r}).write_text({payload + chr(10)!r})"
    reference, a, b = (tmp_path / name for name in ("reference", "a", "b"))
    for folder in (reference, a, b):
        folder.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    solved = "def square(x):\n    return x * x"
    nbformat.write(chapter("demo-square", "square", "x", solved, plant), a / "ch.ipynb")
    nbformat.write(chapter("demo-square", "square", "x", solved), b / "ch.ipynb")
    grades = tmp_path / "grades.csv"
    done = _grade_with(python, a / "ch.ipynb", b / "ch.ipynb", "--reference", reference, "--csv", grades)
    assert done.returncode == 0, done.stderr
    assert planted.exists(), "the attack did not run"
    rows = grades.read_text().splitlines()
    assert any(
        r.startswith(str(a / "ch.ipynb")) and "grader's Python environment changed" in r and planted.name in r
        for r in rows
    ), rows
    assert [r for r in rows if r.startswith(str(b / "ch.ipynb"))] == [
        f"{b / 'ch.ipynb'},(notebook),ERROR,0,0,not graded: {a / 'ch.ipynb'} changed the grader's environment"
    ], rows


@pytest.mark.coursework
def test_the_grading_process_runs_no_pth_file(tmp_path, private_python):
    """The runner starts without the site module: a .pth file in site-packages does not run in it."""
    python, site = private_python
    probe = "import os; os.path.exists('submission.ipynb') and open('pth-ran', 'w').close()\n"
    (site / "zz_probe.pth").write_text(probe)
    reference = tmp_path / "reference"
    reference.mkdir()
    nbformat.write(chapter("demo-square", "square", "x"), reference / "ch.ipynb")
    check = "import os\nassert not os.path.exists('pth-ran'), 'a .pth file ran'"
    solved = "def square(x):\n    return x * x"
    submission = tmp_path / "ch.ipynb"
    nbformat.write(chapter("demo-square", "square", "x", solved, check), submission)
    grades = tmp_path / "grades.csv"
    done = _grade_with(python, submission, "--reference", reference, "--csv", grades)
    assert done.returncode == 0, done.stderr
    rows = grades.read_text().splitlines()[1:]
    assert rows == [f"{submission},demo-square,PASS,1,1,square(x) is right on fresh inputs"], rows


def test_judging_a_record_has_a_time_limit():
    """Whatever a record makes the grader's copy of a check do, judging it stops at the time limit."""
    import time

    from igrlib.coursework.grade import _judge

    def slow_check(answer):
        answer(1.0)
        time.sleep(30)  # stands for a cost the record imposes
        return True, "done"

    recorder = _replay.Recorder(lambda x: x)
    _evaluate(lambda answer: (answer(1.0) == 1.0, "recorded"), recorder)
    record = json.loads(json.dumps(recorder.calls))
    start = time.monotonic()
    status, message = _judge(slow_check, record, [1, 2, 0], limit=0.5)
    assert time.monotonic() - start < 5
    assert (status, message) == ("ERROR", "judging the record of your function's results took over 0.5 s; not graded")
    assert _judge(lambda answer: (answer(1.0) == 1.0, "fine"), record, [1, 2, 0], limit=5) == ("PASS", "fine")
