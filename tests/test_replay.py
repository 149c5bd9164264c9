"""igrlib.coursework._replay: an answer's results as plain data, and the grader's replay of them."""

import base64
import io
import json
import math

import numpy as np
import pytest

from igrlib.coursework import _replay
from igrlib.coursework.checks import _evaluate, _guarded, plain_real
from igrlib.losses import quadratic


def roundtrip(value):
    return _replay.decode(json.loads(json.dumps(_replay.encode(value))))


def same(a, b):
    """Equal, with exactly the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return same(list(a), list(b)) and same(list(a.values()), list(b.values()))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    return a == b or (a != a and b != b)


PLAIN = [
    1,
    -(2**70),
    1.5,
    math.inf,
    math.nan,
    True,
    None,
    "text",
    2 + 3j,
    (1, 2.0),
    [np.float64(2.5), np.int32(3), np.bool_(True), np.complex128(1j)],
    {"a": np.arange(3), 2: [1.0]},
    np.array([[1.0, np.nan], [np.inf, -0.0]]),
    np.zeros((0, 3), dtype=np.float32),
    np.array(4.0),
]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_data_comes_back_with_its_exact_type(value):
    assert same(roundtrip(value), value)


class Rigged(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


NOT_PLAIN = {
    "float subclass": Rigged(1.0),
    "ndarray subclass": np.arange(3).view(np.matrix),
    "object array": np.array([print], dtype=object),
    "structured array": np.zeros(2, dtype=[("a", float)]),
    "function": print,
    "Loss": quadratic([[1.0]]),
    "generator": (i for i in range(3)),
}


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_anything_else_comes_back_as_unreadable(name):
    value = roundtrip(NOT_PLAIN[name])
    assert isinstance(value, _replay.Unreadable) and plain_real(value) is None


def npy(array, **kwargs):
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return base64.b64encode(buffer.getvalue()).decode()


MALFORMED = {
    "pickled object array": {"t": "array", "v": npy(np.array([print], dtype=object), allow_pickle=True)},
    "structured array": {"t": "array", "v": npy(np.zeros(2, dtype=[("a", float)]))},
    "not base64": {"t": "array", "v": "!!"},
    "not npy": {"t": "array", "v": base64.b64encode(b"hello").decode()},
    "a scalar of shape (2,)": {"t": "scalar", "v": npy(np.zeros(2))},
    "unknown tag": {"t": "pickle", "v": ""},
    "untagged dict": {"a": 1},
    "list as a dict key": {"t": "dict", "k": [[1]], "v": [1]},
    "nested too deeply": json.loads("[" * 100 + "]" * 100),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_data_is_refused(name):
    with pytest.raises(ValueError):
        _replay.decode(MALFORMED[name])


# ---------------------------------------------------------------- record, then replay elsewhere


def record_then_judge(check, answer, without=()):
    """The verdict of ``check`` made, as the grader makes it, from a record of ``answer`` sent as JSON."""
    recorder = _replay.Recorder(_guarded(answer, without))
    direct = _evaluate(check, recorder)
    calls = _replay.decode_calls(json.loads(json.dumps(recorder.calls)))
    return direct, _replay.verdict(check, calls, _evaluate)


def spying_check(answer):
    """Hands the answer a function and an array; looks at both afterwards."""
    seen = []

    def double(v):
        seen.append(v)
        return 2 * v

    a = np.ones(3)
    got = answer(double, a, scale=2.0)
    ok = seen == [1.0, 3.0] and a.tolist() == [5.0, 1.0, 1.0] and plain_real(got) == 7.0
    return ok, f"seen {seen}, a = {a.tolist()}, got {got!r}"


def good(f, a, *, scale):
    a[0] = 5.0
    return f(1.0) + f(3.0) * scale / 2 - 1.0


def test_calls_to_handed_functions_and_changes_to_arrays_are_replayed():
    direct, (status, message) = record_then_judge(spying_check, good)
    assert direct[0] and status == "PASS", message


def test_a_wrong_answer_gets_the_same_hint_as_in_the_self_check():
    def lazy(f, a, *, scale):
        return 7.0  # never calls f, leaves a alone

    direct, (status, message) = record_then_judge(spying_check, lazy)
    assert status == "FAIL" and message == direct[1] == "seen [], a = [1.0, 1.0, 1.0], got 7.0"


def test_exceptions_keep_their_name_and_line():
    class Mine(Exception):
        pass

    def broken(f, a, *, scale):
        raise Mine("no")

    def stub(f, a, *, scale):
        raise NotImplementedError

    direct, (status, message) = record_then_judge(spying_check, broken)
    assert status == "FAIL" and message == direct[1] and message.startswith("your code raised Mine: no (line ")
    direct, (status, message) = record_then_judge(spying_check, stub)
    assert status == "TODO" and "TODO: " + message == direct[1]


def test_routines_switched_off_stay_off_in_the_record():
    def check(answer):
        return answer(4.0) == 2.0, "sqrt"

    direct, (status, message) = record_then_judge(check, lambda x: np.linalg.norm([x]) ** 0.5, ["numpy.linalg.norm"])
    assert status == "FAIL" and "PermissionError" in message and "numpy.linalg.norm is switched off here" in message


def test_a_record_that_runs_out_or_was_made_on_other_inputs_is_an_error():
    def check(answer):
        return answer(1.0) == 1.0 and answer(2.0) == 4.0, "squares"

    recorder = _replay.Recorder(lambda x: x * x)
    recorder(1.0)
    calls = _replay.decode_calls(json.loads(json.dumps(recorder.calls)))
    status, message = _replay.verdict(check, calls, _evaluate)
    assert status == "ERROR" and "recorded only 1" in message

    recorder = _replay.Recorder(lambda x: x * x)
    recorder(1.5), recorder(2.0)
    calls = _replay.decode_calls(json.loads(json.dumps(recorder.calls)))
    status, message = _replay.verdict(check, calls, _evaluate)
    assert status == "ERROR" and "other inputs" in message


def test_a_check_cannot_swallow_the_replays_error():
    def careless(answer):
        try:
            answer(1.0)
        except Exception:
            return True, "swallowed"
        return False, "no"

    assert _replay.verdict(careless, [], _evaluate)[0] == "ERROR"


@pytest.mark.parametrize(
    "calls",
    [
        "not a list",
        [{"result": 1}],
        [{"args": "0"}],
        [{"args": "0", "result": 1, "after": [[-1, 1]]}],
        [{"args": "0", "result": 1, "callbacks": [[0, [1]]]}],
        [{"args": "0", "raised": {"ename": 1, "message": "x", "line": 1}}],
    ],
)
def test_malformed_records_are_refused(calls):
    with pytest.raises(ValueError):
        _replay.decode_calls(calls)


def test_switching_routines_off_is_a_guard_not_a_boundary():
    """What the instructors' page says: an answer that deliberately keeps a copy of a switched-off
    routine from before the check gets past the switch (as copying the library's source would);
    the grader judges the values, not how they were computed."""
    import types

    copy = types.FunctionType(json.dumps.__code__, json.dumps.__globals__, "copy", json.dumps.__defaults__)
    copy.__kwdefaults__ = json.dumps.__kwdefaults__

    def check(answer):
        return answer([1]) == "[1]", "dumps"

    direct, (status, _) = record_then_judge(check, json.dumps, ["json.dumps"])
    assert status == "FAIL" and "json.dumps is switched off" in direct[1]
    direct, (status, _) = record_then_judge(check, copy, ["json.dumps"])
    assert status == "PASS"
