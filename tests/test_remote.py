"""igrlib.coursework._remote: what crosses between the grader and the submission's process.

``loopback(answer)`` is the grader's view of ``answer`` (a RemoteAnswer) with the submission's
process replaced by this one: every message goes through JSON as over the pipe, and a function
handed to the answer is called back through its handle."""

import base64
import io
import json
import math

import numpy as np
import pytest

from igrlib import Loss, quadratic
from igrlib.coursework import _remote
from igrlib.coursework.checks import _evaluate, _guarded


class _Loopback:
    def __init__(self, answer):
        self.answer, self.replies, self.remote = answer, [], None

    def _stand_in(self, handle):
        def call(*args, **kwargs):
            request = {"handle": handle, "args": _remote.encode(list(args)), "kwargs": _remote.encode(kwargs)}
            self.remote._call_back(json.loads(_remote.dumps(request)))
            reply = self.replies.pop()
            if "raised" in reply:
                raise _remote.exception(reply["raised"])
            return _remote.decode(reply["value"], self._stand_in)

        return call

    def send(self, message):
        message = json.loads(_remote.dumps(message))
        if message["op"] != "call":
            self.replies.append(message)  # the grader's reply to a call back
            return
        try:
            args = _remote.decode(message["args"], self._stand_in)
            result = self.answer(*args, **_remote.decode(message["kwargs"], self._stand_in))
            self.replies.append({"kind": "return", "value": _remote.encode(result)})
        except Exception as exc:
            self.replies.append({"kind": "raise", "raised": _remote.raised(exc, 7)})

    def receive(self, deadline=None):
        return json.loads(_remote.dumps(self.replies.pop()))


def loopback(answer):
    """``answer`` as the grader calls it (see the module's docstring)."""
    kernel = _Loopback(answer)
    kernel.remote = _remote.RemoteAnswer(kernel, math.inf)
    return kernel.remote


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


PLAIN = [
    None, True, 3, -2.5, "text", 2**100, complex(1, -2), [1, [2.0, None]], (1, (2, "x")), {"a": 1, 2: [3]},
    np.arange(6.0).reshape(2, 3), np.array([1 + 2j]), np.array([True, False]), np.float32(1.5), np.int64(-3),
    float("nan"), float("inf"),
]  # fmt: skip


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_data_comes_back_with_its_exact_type(value):
    back = _remote.decode(json.loads(_remote.dumps(_remote.encode(value))))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    elif value == value:  # not NaN
        assert back == value


class Rigged(float):
    def __eq__(self, other):
        return True


NOT_PLAIN = {
    "float subclass": Rigged(1.0),
    "object": object(),
    "object array": np.array([object()]),
    "function": len,
    "deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
    "huge int": 10**5000,
}


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_anything_else_is_unreadable_and_fails_the_answer(name):
    back = _remote.decode(json.loads(_remote.dumps(_remote.encode(NOT_PLAIN[name]))))
    assert _remote.unreadable(back) is not None
    with pytest.raises(_remote.NotPlainData, match="cannot read"):
        loopback(lambda: NOT_PLAIN[name])()


MALFORMED = {
    "unknown tag": {"t": "pickle", "v": ""},
    "function from the submission": {"t": "fn", "v": 0},
    "loss from the submission": {"t": "loss", "v": [None] * 4},
    "object array": {"t": "array", "v": base64.b64encode(_npy(np.array([None, 1]))).decode()},
    "colliding keys": {"t": "dict", "k": [k * (2**61 - 1) for k in range(1, 20)], "v": [0] * 19},
    "bad complex": {"t": "complex", "v": ["1", 2]},
    "nested": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_data_from_the_submission_is_refused(name):
    with pytest.raises(ValueError):
        _remote.decode(MALFORMED[name])


@pytest.mark.parametrize("shape", [(10**12,), (2**31, 2**31), (3 * 10**8,)])
def test_an_array_header_announcing_a_huge_array_is_refused_at_once(shape):
    data = _npy(np.zeros(3))
    header = data.replace(b"(3,)", repr(shape).encode())[: -3 * 8]
    with pytest.raises(ValueError):
        _remote.decode({"t": "array", "v": base64.b64encode(header).decode()})


def test_functions_and_losses_cross_as_handles_the_check_calls():
    loss = quadratic(np.diag([1.0, 3.0]))
    asked = []

    def hvp(v):
        asked.append(v)
        return np.array([2.0, 0.0]) if v[0] else np.array([0.0, 5.0])

    def answer(loss_there, fn, theta):
        assert type(loss_there) is Loss and loss_there.value is not loss.value
        return loss_there.grad(theta), fn([1.0, 0.0]), loss_there.value(theta)

    grad, product, value = loopback(answer)(loss, hvp, np.array([1.0, 1.0]))
    assert np.array_equal(grad, [1.0, 3.0]) and np.array_equal(product, [2.0, 0.0]) and value == 2.0
    assert len(asked) == 1 and type(asked[0]) is np.ndarray and np.array_equal(asked[0], [1.0, 0.0])


def test_a_hidden_method_stays_hidden_and_its_error_reaches_the_answer():
    def hidden(theta):
        raise ValueError("this check hides loss.value")

    loss = quadratic(np.eye(2))

    def answer(loss):
        try:
            loss.value(np.zeros(2))
        except ValueError as exc:
            return str(exc)

    assert loopback(answer)(Loss(hidden, loss.grad)) == "this check hides loss.value"


def test_exceptions_keep_their_name_and_line():
    def answer(x):
        raise ZeroDivisionError("no")

    fn = loopback(answer)
    with pytest.raises(ZeroDivisionError) as info:
        fn(1)
    assert info.value.answer_ename == "ZeroDivisionError" and info.value.answer_line == 7
    assert (
        _remote.exception({"ename": "NotImplementedError", "message": "", "line": None}).__class__
        is NotImplementedError
    )
    # a name that is no built-in exception, or one of the system's, comes back as a plain Exception
    assert type(_remote.exception({"ename": "FileNotFoundError", "message": "", "line": None})) is Exception


def test_a_wrong_answer_gets_the_same_hint_as_in_the_self_check():
    from igrlib.coursework.checks import _registry

    fn = _registry()["demo-square"]
    direct = _evaluate(fn, _guarded(lambda x: 2 * x, ()))
    assert _evaluate(fn, loopback(lambda x: 2 * x)) == direct and not direct[0]


def test_a_handed_function_takes_plain_arguments_by_position_only():
    """Keyword arguments could have reached a check's own defaults (a counter, the matrix)."""
    calls = []

    def hvp(v):
        calls.append(v)
        return v

    def answer(fn):
        refused = []
        for call in (lambda: fn([1.0], calls=[]), lambda: fn([1.0], [2.0]), lambda: fn(object())):
            try:
                call()
            except TypeError as exc:
                refused.append(str(exc))
        return refused

    refused = loopback(answer)(hvp)
    assert len(refused) == 3 and "by position" in refused[0] and "by position" in refused[2], refused
    assert calls == []


def test_a_handed_function_is_not_called_on_arguments_that_broadcast_or_are_too_large():
    """``loss.d3(t, u, u)`` with t of shape (K, 1, d) and u of shape (1, K, d) made the grader build
    K x K x d numbers (K = 6,000, d = 2: 2.3 GB) from some 0.2 MB sent; the call is refused
    before the check's function runs, and the student's code is told why."""
    calls = []

    def d3(theta, u, v):
        calls.append(1)
        return np.zeros(np.broadcast_shapes(np.shape(theta), np.shape(u), np.shape(v)))

    def answer(fn):
        outcomes = []
        big = np.zeros((_remote.MAX_HANDED // 2 + 1, 2))
        for args in [
            (np.zeros((1500, 1, 2)), np.zeros((1, 1500, 2)), np.zeros((1, 1500, 2))),
            (np.zeros(2), np.eye(2), np.eye(2)),
            (big, big, big),
            (np.zeros(2), [1.0, [2.0]], np.zeros(2)),
            (np.zeros((3, 2)), np.ones((3, 2)), np.ones((3, 2))),
        ]:
            try:
                outcomes.append(np.shape(fn(*args)))
            except ValueError as exc:
                outcomes.append(str(exc))
        return outcomes

    broadcast, against_a_stack, too_large, ragged, stack = loopback(answer)(d3)
    assert "one shape" in broadcast and "(1, 1500, 2), (1500, 1, 2)" in broadcast, broadcast
    assert "one shape" in against_a_stack, against_a_stack
    assert "at most 100,000 numbers" in too_large, too_large
    assert "numbers and arrays of numbers" in ragged, ragged
    assert stack == (3, 2) and len(calls) == 1  # a stack of points, all of one shape, is fine


def test_stop_iteration_from_the_answer_cannot_end_a_checks_loop_early():
    """Raised inside ``list(map(answer, cases))``, StopIteration would cut the list short silently."""
    for name in ("StopIteration", "StopAsyncIteration"):
        assert type(_remote.exception({"ename": name, "message": "", "line": None})) is Exception
