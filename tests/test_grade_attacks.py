"""The grader attacked as a hostile student would: crafted answers and records that must not pass,
must not stall the grader's own process, and must be reported for what they are.

Each submission is a one-exercise notebook built here for a real check of the book; it is graded
by :func:`igrlib.coursework.grade.grade` exactly as ``python -m igrlib.coursework.grade`` does
(the answer runs in the sandbox; the check runs here and calls it remotely)."""

import pathlib

import nbformat
import numpy as np
import pytest
from test_grade import TIMEOUT

from igrlib.coursework.checks import _evaluate, _registry, run_check
from igrlib.coursework.grade import grade, reference_chapters

pytestmark = pytest.mark.usefixtures("sandbox")  # the grader sandboxes every submission


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


# ---------------------------------------------------------------- checks whose cost the answer chose


@pytest.mark.coursework
def test_a_huge_number_of_terms_is_judged_without_building_the_series(tmp_path):
    """``beyond-terms-needed`` summed the series to the answer's number of terms: 10**9 terms asked
    for some 30 GB in the grader's process (which has no memory limit), 10**12 a MemoryError
    reported as the student's own."""
    source = "def terms_needed(x, tol):\n    return 10**12"
    rows = graded(tmp_path, "beyond-terms-needed", "terms_needed", "x, tol", source)
    assert rows[0].status == "FAIL" and "already enough" in rows[0].message, rows
    assert "MemoryError" not in rows[0].message


@pytest.mark.coursework
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


@pytest.mark.coursework
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


@pytest.mark.coursework
def test_an_answer_that_overwrites_its_input_does_not_pass_the_grader(tmp_path):
    """demo-square compared the answer with x**2 of the very array it handed the answer: zeroing x
    and returning zeros passed, also in the grader (which replays changes made to array arguments).
    The instructors' page offers this check as the example to copy."""
    source = "def square(x):\n    x[:] = 0.0\n    return x.copy()"
    rows = graded(tmp_path, "demo-square", "square", "x", source)
    assert rows[0].status == "FAIL", rows


@pytest.mark.coursework
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


@pytest.mark.coursework
@pytest.mark.parametrize("case", sorted(BYPASSES))
def test_an_answer_that_calls_the_library_for_the_exercise_fails(tmp_path, case):
    check, answer, params, source, text = BYPASSES[case]
    rows = graded(tmp_path, check, answer, params, source)
    assert rows[0].status == "FAIL" and text in rows[0].message, rows


# ---------------------------------------------------------------- a record the grader had to cut short


# ---------------------------------------------------------------- the channel


# ---------------------------------------------------------------- forged records that hold


def test_an_int_beyond_the_floats_is_not_a_number_the_checks_can_compare():
    """euler-steps-to-tol read 10**400 through plain_real, whose float() raised OverflowError: the
    student was told "your code raised OverflowError" at a line of the check."""
    from igrlib.coursework.checks import plain_real, real_number

    assert plain_real(10**400) is None and real_number(-(10**400)) is None and plain_real(10**300) == 1e300
    passed, message = _evaluate(_registry()["euler-steps-to-tol"], lambda lam, lr, tol: 10**400)
    assert not passed and "raised" not in message, message


@pytest.mark.coursework
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


# ---------------------------------------------------------------- reading what the check computes

FRAME_READER = (
    "import sys\n"
    "def _loot(name):\n"
    "    frame = sys._getframe(1)\n"
    "    while frame is not None:\n"
    "        if name in frame.f_locals:\n"
    "            return frame.f_locals[name]\n"
    "        frame = frame.f_back\n"
    "    return float('nan')\n"
)
READERS = {
    # the expected value, from the frame of the check that called the answer
    "hhg-curl: want from the caller's frame": (
        "modeq-hhg-curl",
        "hhg_curl",
        "loss, theta",
        FRAME_READER + "def hhg_curl(loss, theta):\n    return float(_loot('want'))",
    ),
    "crossing-time: want from the caller's frame": (
        "experiments-crossing-time",
        "crossing_time",
        "t, loss, target",
        FRAME_READER + "def crossing_time(t, loss, target):\n"
        "    want = _loot('want')\n    i = _loot('i')\n    return float(want[i])",
    ),
    # the real loss the check hides, from the caller's frame or the stand-in's closure
    "steepest-dissipation: the hidden loss's value": (
        "steepest-dissipation",
        "dissipation",
        "loss, theta0, T",
        FRAME_READER + "def dissipation(loss, theta0, T):\n"
        "    real = _loot('loss')\n"
        "    for cell in loss.grad.__closure__ or ():\n"
        "        real = cell.cell_contents if hasattr(cell.cell_contents, 'value') else real\n"
        "    end = igr.gradient_flow(real, theta0, [0.0, T])[-1]\n"
        "    return float(real.value(theta0) - real.value(end))",
    ),
}
# a generic learner: the check run again in the notebook's process, with its random state rewound,
# and the expected value read by a tracer as the check returns
LEARNER = (
    "import sys\n"
    "import numpy as np\n"
    "import igrlib.coursework.checks as checks\n"
    "def _learn(name, args):\n"
    "    seen = {}\n"
    "    def tracer(frame, event, arg):\n"
    "        if event == 'return' and 'want' in frame.f_locals:\n"
    "            seen['want'] = frame.f_locals['want']\n"
    "        return tracer\n"
    "    checks._seeds[:] = getattr(checks, '_seeds', [])[:1]\n"
    "    sys.settrace(tracer)\n"
    "    try:\n"
    "        checks.run_check(name, lambda *a: 0)\n"
    "    finally:\n"
    "        sys.settrace(None)\n"
    "    return seen.get('want', 0)\n"
)
for _check, _answer, _params in [
    ("euler-steps-to-tol", "steps_to_tol", "lam, lr, tol"),
    ("penalty-flow-end", "flow_end", "theta0, x, y"),
    ("beyond-terms-needed", "terms_needed", "x, tol"),
    ("beyond-sgd-extra-penalty", "sgd_extra_penalty", "losses, theta, lr"),
]:
    READERS[f"{_check}: a learner re-running the check"] = (
        _check,
        _answer,
        _params,
        LEARNER + f"def {_answer}(*args):\n    return _learn({_check!r}, args)",
    )


@pytest.mark.coursework
@pytest.mark.parametrize("case", sorted(READERS))
def test_an_answer_reading_what_the_check_computes_does_not_pass(tmp_path, case):
    check, answer, params, source = READERS[case]
    rows = graded(tmp_path, check, answer, params, source)
    assert rows[0].status in ("FAIL", "ERROR"), rows


# ---------------------------------------------------------------- routines switched off, and what is left

GAPS = {
    "steepest-quadratic-flow by the DOP853 class": (
        "steepest-quadratic-flow",
        "quadratic_flow",
        "A, b, theta0, t",
        "from scipy.integrate import DOP853\n"
        "def quadratic_flow(A, b, theta0, t):\n"
        "    out = [theta0]\n"
        "    for t1 in t[1:]:\n"
        "        s = DOP853(lambda _, th: b - A @ th, 0.0, theta0, t1, rtol=1e-12, atol=1e-14)\n"
        "        while s.status == 'running':\n"
        "            s.step()\n"
        "        out.append(s.y)\n"
        "    return np.array(out)",
    ),
    "power-iteration by LAPACK's dsyevd": (
        "experiments-power-iteration",
        "top_eigenvalue",
        "hvp, v0, iters",
        "import scipy.linalg.lapack as lapack\n"
        "def top_eigenvalue(hvp, v0, iters):\n"
        "    H = np.column_stack([hvp(e) for e in np.eye(v0.size)])\n"
        "    return float(lapack.dsyevd(H)[0].max())",
    ),
    "steps-to-tol by igrlib.descent reloaded": (
        "euler-steps-to-tol",
        "steps_to_tol",
        "lam, lr, tol",
        "import importlib, math\n"
        "import igrlib.descent\n"
        "def steps_to_tol(lam, lr, tol):\n"
        "    gd = importlib.reload(igrlib.descent).gd\n"
        "    if abs(1 - lr * lam) >= 1:\n"
        "        return math.inf\n"
        "    n = int(math.log(tol) / math.log(max(abs(1 - lr * lam), 1e-300))) + 2\n"
        "    return int(np.flatnonzero(np.abs(gd(igr.quadratic([[lam]]), [1.0], lr, n)[:, 0]) <= tol)[0])",
    ),
}


@pytest.mark.coursework
@pytest.mark.parametrize("case", sorted(GAPS))
def test_routines_reached_another_way_are_switched_off_too(tmp_path, case):
    check, answer, params, source = GAPS[case]
    rows = graded(tmp_path, check, answer, params, source)
    assert rows[0].status == "FAIL" and "is switched off" in rows[0].message, rows


# gd's original code, found through gc (closures, lists, tuples) or up the interpreter's frames
RESTORER = """
import gc, math, sys, types
import igrlib as igr
def _codes(value):
    if isinstance(value, types.FunctionType):
        return [c.cell_contents for c in value.__closure__ or () if isinstance(c.cell_contents, types.CodeType)]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, types.CodeType)] + [
            v[1] for v in value if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], types.CodeType)]
    return [v for v in value.values() if isinstance(v, types.CodeType)] if isinstance(value, dict) else []
def _restore():
    frame, found = sys._getframe(), []
    while frame is not None:
        found += _codes(dict(frame.f_locals))
        frame = frame.f_back
    for holder in gc.get_objects():
        found += _codes(holder)
    for code in found:
        if code.co_name == 'gd' and code.co_filename.endswith('descent.py'):
            igr.gd.__code__ = code
def steps_to_tol(lam, lr, tol):
    _restore()
    if abs(1 - lr * lam) >= 1:
        return math.inf
    n = int(math.log(tol) / math.log(max(abs(1 - lr * lam), 1e-300))) + 2
    return int(np.flatnonzero(np.abs(igr.gd(igr.quadratic([[lam]]), [1.0], lr, n)[:, 0]) <= tol)[0])
"""


@pytest.mark.coursework
def test_a_switched_off_routine_cannot_be_switched_on_again_through_gc_or_frames(tmp_path):
    """Where the answer runs beside the switched-off routine's original code (the self-check), it
    finds that code and passes; in the grader, the exercise's process keeps no original."""
    namespace = {"np": np}
    exec(RESTORER, namespace)
    assert run_check("euler-steps-to-tol", namespace["steps_to_tol"])[0], "the attack works in the self-check"
    rows = graded(tmp_path, "euler-steps-to-tol", "steps_to_tol", "lam, lr, tol", RESTORER)
    assert rows[0].status == "FAIL" and "igrlib.gd is switched off" in rows[0].message, rows


# ---------------------------------------------------------------- checks that trusted too much

WEAK = {
    # the principal logarithm plus 2 pi i / h: every exp(n h mu) is still right
    "principal-rate on another branch": (
        "beyond-principal-rate",
        "principal_rate",
        "lam, lr",
        "def principal_rate(lam, lr):\n"
        "    return np.log((1 - lr * np.asarray(lam, dtype=float)).astype(complex)) / lr + 2j * np.pi / lr",
        "principal logarithm",
    ),
    # a field that remembers where each flow starts and answers y0^2 + h^3 along it
    "riccati by a stateful field": (
        "modeq-riccati",
        "modified_rhs",
        "y, lr",
        "state = {'y0': None, 'calls': 0}\n"
        "def modified_rhs(y, lr):\n"
        "    if lr == 0.0:\n"
        "        return y * y\n"
        "    state['calls'] += 1\n"
        "    if state['y0'] is None or state['calls'] > 400:\n"
        "        state['y0'], state['calls'] = y, 0\n"
        "    return state['y0'] ** 2 + lr**3",
        "",
    ),
    # the stacked part was compared with the answer's own single-row times only
    "crossing-time: zeros for a stack": (
        "experiments-crossing-time",
        "crossing_time",
        "t, loss, target",
        "def crossing_time(t, loss, target):\n"
        "    loss = np.asarray(loss, dtype=float)\n"
        "    if loss.ndim > 1:\n"
        "        return np.zeros(loss.shape[:-1])\n"
        "    below = np.flatnonzero(loss <= target)\n"
        "    if below.size == 0:\n"
        "        return float('nan')\n"
        "    k = below[0]\n"
        "    if k == 0:\n"
        "        return float(t[0])\n"
        "    return float(t[k - 1] + (t[k] - t[k - 1]) * (loss[k - 1] - target) / (loss[k - 1] - loss[k]))",
        "stack",
    ),
}


@pytest.mark.coursework
@pytest.mark.parametrize("case", sorted(WEAK))
def test_answers_the_checks_once_accepted_fail(tmp_path, case):
    check, answer, params, source, text = WEAK[case]
    rows = graded(tmp_path, check, answer, params, source)
    assert rows[0].status == "FAIL" and text in rows[0].message, rows
