"""igrlib.coursework.checks: the mechanics of igr.check, on a check registered here.

The book runs the chapters' checks."""

import inspect

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
def registered():
    checks.register(NAME)(_sum_check)
    try:
        yield NAME
    finally:
        checks._REGISTRY.pop(NAME, None)  # leave the registry as the chapters' checks made it


def test_pass(registered, capsys):
    assert igr.check(registered, lambda a, b: a + b) is None
    assert capsys.readouterr().out == f"[PASS] {NAME}: adds correctly\n"
    result = checks.run_check(registered, lambda a, b: a + b)
    assert result and tuple(result) == (True, "adds correctly")


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
    checks.register(NAME)(_sum_check)  # registering the same function again is harmless
    with pytest.raises(ValueError, match="registered twice"):
        checks.register(NAME)(lambda answer: (True, ""))


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
