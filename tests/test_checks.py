"""igrlib.coursework.checks: the mechanics of igr.check, on a check registered here.

The book runs the chapters' checks."""

import inspect
import sys
import types

import numpy as np
import pytest

import igrlib as igr
import igrlib.coursework.checks as checks
from igrlib.coursework.checks import available_checks, run_check

NAME = "test-mechanics-sum"


def _sum_check(answer):
    """Passes when answer(a, b) returns a + b on a few inputs."""
    for a, b in [(2, 3), (-1.5, 0.25), (10, -10)]:
        got = answer(a, b)
        if got != a + b:
            return False, f"answer({a}, {b}) returned {got}; read the exercise again"
    return True, "adds correctly"


@pytest.fixture
def registered(monkeypatch):
    """A check module of the tests' own, found like a chapter's."""
    module = types.ModuleType("igrlib.coursework.checks.test_mechanics")
    module.CHECKS = {NAME: _sum_check}
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return NAME


def test_pass(registered, capsys):
    assert igr.check(registered, lambda a, b: a + b) is None
    assert capsys.readouterr().out == f"[PASS] {NAME}: adds correctly\n"
    result = checks.run_check(registered, lambda a, b: a + b)
    assert result and tuple(result) == (True, "adds correctly")


def test_a_long_message_is_printed_within_the_column(monkeypatch, capsys):
    message = "your answer agrees with the reference on every one of the fresh cases " * 3
    module = types.ModuleType("igrlib.coursework.checks.test_long")
    module.CHECKS = {"long-message": lambda answer: (True, message)}
    monkeypatch.setitem(sys.modules, module.__name__, module)
    igr.check("long-message", None)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 3 and max(map(len, lines)) <= checks.PRINT_WIDTH
    assert lines[0].startswith("[PASS] long-message: your answer")
    assert all(line.startswith(" " * 7) and not line.startswith(" " * 8) for line in lines[1:])
    assert " ".join(" ".join(lines).split()) == f"[PASS] long-message: {message.strip()}"


def test_fail_prints_the_hint(registered, capsys):
    igr.check(registered, lambda a, b: a - b)
    assert capsys.readouterr().out == f"[FAIL] {NAME}: answer(2, 3) returned -1; read the exercise again\n"
    result = checks.run_check(registered, lambda a, b: a - b)
    assert not result and result[0] is False


def test_todo_for_an_untouched_stub(registered, capsys):
    def stub(a, b):
        # YOUR CODE HERE
        raise NotImplementedError

    igr.check(registered, stub)
    out = capsys.readouterr().out
    assert out.startswith(f"[TODO] {NAME}: ") and "NotImplementedError" in out
    assert not checks.run_check(registered, stub)


def test_an_answer_that_raises_is_reported_with_its_line(registered, capsys):
    def broken(a, b):
        return a / 0

    line = inspect.getsourcelines(broken)[1] + 1  # the line of "return a / 0"
    igr.check(registered, broken)
    out = capsys.readouterr().out
    assert out.startswith(f"[FAIL] {NAME}: your code raised ZeroDivisionError")
    assert f"(line {line})" in out


def test_an_error_inside_numpy_is_reported_at_the_answer_line(registered, capsys):
    def singular(a, b):
        return np.linalg.solve(np.zeros((2, 2)), np.ones(2))

    line = inspect.getsourcelines(singular)[1] + 1  # numpy raises, but the line to fix is the call
    igr.check(registered, singular)
    out = capsys.readouterr().out
    assert out.startswith(f"[FAIL] {NAME}: your code raised LinAlgError") and f"(line {line})" in out


def test_unknown_name_lists_the_known_checks(registered, capsys):
    igr.check("no-such-check", lambda a, b: a + b)
    out = capsys.readouterr().out
    assert out.startswith("[FAIL] no-such-check: no check named 'no-such-check'") and NAME in out


def test_registry(registered):
    names = checks.available_checks()
    assert NAME in names and names == sorted(names)
    namespace = {}
    exec("def a(answer):\n    return True, ''\ndef b(answer):\n    return True, ''", namespace)
    checks.register("test-twice")(namespace["a"])
    checks.register("test-twice")(namespace["a"])  # the same function twice: harmless
    with pytest.raises(ValueError, match="registered twice"):
        checks.register("test-twice")(namespace["b"])
    other = types.ModuleType("igrlib.coursework.checks.test_other")
    other.CHECKS = {NAME: namespace["b"]}
    sys.modules[other.__name__] = other
    try:
        with pytest.raises(ValueError, match="registered twice"):
            checks.available_checks()
    finally:
        del sys.modules[other.__name__]


def test_importing_a_check_module_changes_no_registry():
    before = checks.available_checks()
    namespace = {}
    exec("def elsewhere(answer):\n    return True, ''", namespace)
    checks.register("test-elsewhere")(namespace["elsewhere"])  # a module outside the package
    assert namespace["CHECKS"] == {"test-elsewhere": namespace["elsewhere"]}
    assert checks.available_checks() == before and "test-elsewhere" not in before


def test_check_result():
    passed, message = checks.CheckResult(1, 42)
    assert passed is True and message == "42"
    assert not checks.CheckResult(0, "no") and checks.CheckResult(True, "yes")


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("name", available_checks())
def test_every_check_reports_an_untouched_stub_as_todo(name):
    passed, message = run_check(name, _stub)
    assert not passed and message.startswith("TODO:")


# ---- answers that call igrlib or the checks instead of doing the exercise -------------------


def _without():
    return [(name, routine) for name in available_checks() for routine in checks._registry()[name].without]


def test_every_routine_an_exercise_forbids_exists():
    for name, routine in _without():
        assert callable(checks._resolve(routine)[2]), f"{name}: {routine} is not a routine (renamed?)"


@pytest.mark.parametrize("name, routine", _without(), ids="{0[0]}:{0[1]}".format)
def test_an_answer_that_calls_a_forbidden_routine_fails(name, routine):
    def answer(*args, **kwargs):
        return checks._resolve(routine)[2](*args, **kwargs)

    passed, message = run_check(name, answer)
    why = checks._registry()[name].why
    assert not passed and "PermissionError" in message, message
    assert f"{routine} is switched off here: this exercise asks you to {why}" in message, message


def test_every_exercise_that_switches_routines_off_says_why_in_its_own_words():
    whys = [checks._registry()[name].why for name in available_checks() if checks._registry()[name].without]
    assert checks.WHY not in whys and len(set(whys)) == len(whys), whys
    with pytest.raises(ValueError, match="why"):
        checks.register("test-no-reason", without=("igrlib.gd",), why="")


def test_an_answer_that_reads_the_checks_own_cases_fails():
    from igrlib.coursework.checks import experiments

    def crossing_time(t, loss, target):
        t_, losses, targets, want = experiments._crossing_cases()
        return want[0]

    passed, message = run_check("experiments-crossing-time", crossing_time)
    assert not passed and "the check's own _crossing_cases" in message, message


def test_the_blocked_routines_work_again_afterwards():
    run_check("beyond-principal-rate", lambda lam, lr: igr.principal_factor(lam, lr))
    assert np.isfinite(igr.principal_factor(0.5))
    from igrlib.coursework.checks import experiments

    assert len(experiments._crossing_cases()) == 4


class _Rigged(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def test_a_number_with_a_rigged_eq_is_not_a_number():
    assert checks.plain_real(_Rigged(3.0)) is None and checks.plain_real(True) is None
    assert checks.plain_real(np.float64(2.5)) == 2.5 and checks.plain_real(7) == 7.0
    passed, message = run_check("euler-steps-to-tol", lambda lam, lr, tol: _Rigged(1.0))
    assert not passed and "return a number of steps" in message
