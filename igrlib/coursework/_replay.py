"""An answer's results, recorded where the student's code runs and judged where it cannot reach.

When grading, the student's code runs in its own process (:mod:`igrlib.coursework._runner`).
There the check is run with a :class:`Recorder` around the answer: every call of the answer
is written down as plain data (JSON numbers, strings and lists; numpy arrays saved with
``allow_pickle=False``; never pickle), together with a fingerprint of the inputs it was given,
what it did to its array arguments, the calls it made to functions the check handed it, and
the exception it raised, if any. Only that record leaves the process: no verdict.

The grader runs its own copy of the same check with :func:`replay` as the answer: a function
that returns, call after call, the recorded results. The check draws the same inputs (both
sides seed it alike, see :func:`igrlib.coursework.checks.seeded`) and so makes the same calls;
a call whose inputs do not match the record, or a record that runs out, ends the check with
``ERROR``. A forged record can therefore only claim what the student's own answer returned.
"""

from __future__ import annotations

import base64
import builtins
import collections
import hashlib
import io
import json
import types

import numpy as np

from .checks import _answer_line

__all__ = ["Recorder", "ReplayError", "decode_calls", "encode", "fingerprint", "replay"]

MAX_DEPTH = 32  # nesting of lists, tuples and dicts in one value
MAX_CALLS = 100_000  # recorded calls of the answer in one check
MAX_INT_BITS = 13_000  # about 3,900 digits: Python reads and writes at most 4,300 as text (JSON)
MAX_SHARED_HASH = 8  # keys of one dict that may share a hash: n such keys cost n**2 / 2 comparisons to insert


class ReplayError(BaseException):
    """The record cannot be replayed (missing, malformed, or made on other inputs).

    A ``BaseException``, so that no ``except Exception`` in a check can swallow it.
    """


class NotPlainData(ReplayError):
    """The answer returned something that is not plain data: a failed answer, not a grading error."""


class Unreadable:
    """Stands for a value that is not plain data (an object, a float subclass...)."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return f"<a {self.kind}>"


# --------------------------------------------------------------------------- plain data

_PLAIN_KINDS = "biufc"  # numpy dtype kinds that are numbers or booleans


def _array(value):
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode(value, depth=0):
    """``value`` as JSON-ready plain data; anything else as ``{"t": "other", "v": type name}``.

    Types are kept exactly: ``int``, ``float``, ``bool``, ``None``, ``str``, ``complex``,
    ``list``, ``tuple``, ``dict``, numpy arrays and scalars of numbers or booleans. A subclass
    of any of them (a float with a rigged ``__eq__``) is not plain data.
    """
    kind = type(value)
    if kind is int and value.bit_length() > MAX_INT_BITS:
        return {"t": "other", "v": "whole number of more than 3,900 digits"}
    if value is None or kind in (bool, int, float, str):
        return value
    if depth >= MAX_DEPTH:
        return {"t": "other", "v": "value nested too deeply"}
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"t": "tuple", "v": [encode(v, depth + 1) for v in value]}
    if kind is dict:
        if _crowded(value):
            return {"t": "other", "v": "dict whose keys share one hash"}
        return {
            "t": "dict",
            "k": [encode(k, depth + 1) for k in value],
            "v": [encode(v, depth + 1) for v in value.values()],
        }
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    if kind is np.ndarray and value.dtype.kind in _PLAIN_KINDS and value.dtype.fields is None:
        return {"t": "array", "v": _array(value)}
    if isinstance(value, np.generic) and kind.__module__ == "numpy" and value.dtype.kind in _PLAIN_KINDS:
        return {"t": "scalar", "v": _array(np.asarray(value))}
    if isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType)):
        return {"t": "other", "v": "function " + getattr(value, "__qualname__", "?")}
    return {"t": "other", "v": kind.__name__[:100]}


def _load_array(text):
    if type(text) is not str:
        raise ValueError("an array must be a base64 string")
    value = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    if value.dtype.kind not in _PLAIN_KINDS or value.dtype.fields is not None:
        raise ValueError(f"an array of dtype {value.dtype} is not plain data")
    return value


def _crowded(keys):
    """Whether more than ``MAX_SHARED_HASH`` of ``keys`` have the same hash (the hashes, ints below
    2**61 - 1 in size, hash to themselves, so counting them takes linear time)."""
    counts = collections.Counter(map(hash, keys))
    return bool(counts) and max(counts.values()) > MAX_SHARED_HASH


def decode(data, depth=0):
    """The value :func:`encode` wrote as ``data``; ``ValueError`` if ``data`` is not such a value."""
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if depth >= MAX_DEPTH:
        raise ValueError("a value nested too deeply")
    if kind is list:
        return [decode(v, depth + 1) for v in data]
    if kind is not dict or type(data.get("t")) is not str:
        raise ValueError(f"not an encoded value: {type(data).__name__}")
    tag, v = data["t"], data.get("v")
    if tag == "tuple" and type(v) is list:
        return tuple(decode(x, depth + 1) for x in v)
    if tag == "dict" and type(v) is list and type(data.get("k")) is list and len(v) == len(data["k"]):
        keys = [decode(k, depth + 1) for k in data["k"]]
        if any(type(k) not in (int, float, str, bool, type(None)) for k in keys):
            raise ValueError("a dict key that is not a number or a string")
        if _crowded(keys):  # ints k * (2**61 - 1) all hash alike: building the dict would stall the grader
            raise ValueError(f"more than {MAX_SHARED_HASH} keys of a dict share one hash")
        return dict(zip(keys, (decode(x, depth + 1) for x in v)))
    if tag == "complex" and type(v) is list and len(v) == 2 and all(type(x) in (int, float) for x in v):
        return complex(*v)
    if tag == "array":
        return _load_array(v)
    if tag == "scalar":
        value = _load_array(v)
        if value.ndim != 0:
            raise ValueError("a numpy scalar must have shape ()")
        return value[()]
    if tag == "other" and type(v) is str:
        return Unreadable(v[:100])
    raise ValueError(f"unknown tag {tag!r}")


def fingerprint(args, kwargs):
    """A digest of the plain data in a call's arguments (functions and objects by their type)."""
    text = json.dumps([encode(list(args)), encode(dict(sorted(kwargs.items())))], sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- the submission's side


def _is_function(value):
    return isinstance(value, (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.LambdaType))


class Recorder:
    """The answer, wrapped so that every call is recorded in :attr:`calls` as plain data.

    Parameters
    ----------
    answer : callable
        The student's answer (already guarded against the routines it must do without).
    """

    def __init__(self, answer):
        self.answer = answer
        self.calls = []

    def __call__(self, *args, **kwargs):
        record = {"args": fingerprint(args, kwargs), "callbacks": []}
        if len(self.calls) < MAX_CALLS:
            self.calls.append(record)
        given = list(args)
        for i, arg in enumerate(args):
            if _is_function(arg):
                given[i] = self._spy(arg, i, record["callbacks"])
        try:
            result = self.answer(*given, **kwargs)
        except Exception as exc:
            record["raised"] = _raised(exc)
            raise
        finally:
            record["after"] = [[i, encode(a)] for i, a in enumerate(args) if type(a) is np.ndarray]
        record["result"] = encode(result)
        return result

    @staticmethod
    def _spy(fn, index, log):
        def spy(*args, **kwargs):
            if len(log) < MAX_CALLS:
                log.append([index, encode(list(args)), encode(kwargs)])
            return fn(*args, **kwargs)

        return spy


def _raised(exc):
    """What the answer raised: the exception's name, message and the line in the student's code."""
    line = _answer_line(exc) if exc.__traceback__ is not None else None
    return {"ename": type(exc).__name__[:100], "message": str(exc)[:500], "line": line}


# --------------------------------------------------------------------------- the grader's side


def decode_calls(calls):
    """Check and decode a record sent by the submission's process; ``ValueError`` if malformed."""
    if type(calls) is not list or len(calls) > MAX_CALLS:
        raise ValueError("the record is not a list of calls")
    decoded = []
    for call in calls:
        if type(call) is not dict or type(call.get("args")) is not str:
            raise ValueError("a call without the fingerprint of its inputs")
        raised = call.get("raised")
        if raised is not None:
            if (
                type(raised) is not dict
                or type(raised.get("ename")) is not str
                or type(raised.get("message")) is not str
            ):
                raise ValueError("a malformed exception")
            if raised.get("line") is not None and type(raised["line"]) is not int:
                raise ValueError("a malformed line number")
        elif "result" not in call:
            raise ValueError("a call with neither a result nor an exception")
        after = call.get("after", [])
        callbacks = call.get("callbacks", [])
        if type(after) is not list or type(callbacks) is not list or len(callbacks) > MAX_CALLS:
            raise ValueError("malformed arguments")
        decoded.append(
            {
                "args": call["args"],
                "raised": raised,
                "result": decode(call.get("result")),
                "after": [(_index(i), decode(v)) for i, v in map(_pair, after)],
                "callbacks": [(_index(c[0]), decode(c[1]), decode(c[2])) for c in map(_triple, callbacks)],
            }
        )
    return decoded


def _pair(item):
    if type(item) is not list or len(item) != 2:
        raise ValueError("malformed arguments")
    return item


def _triple(item):
    if type(item) is not list or len(item) != 3:
        raise ValueError("a malformed call of a function handed to the answer")
    return item


def _index(i):
    if type(i) is not int or not 0 <= i < 1000:
        raise ValueError("a malformed argument index")
    return i


def _exception(raised):
    """The exception to raise in the check for a recorded one: a built-in exception of the same
    name (so a check can catch it), else a plain ``Exception``; it carries the student's line."""
    cls = getattr(builtins, raised["ename"], None)
    if raised["ename"] == "NotImplementedError":
        return NotImplementedError(raised["message"])
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or issubclass(cls, (OSError, UnicodeError)):
        cls = Exception
    try:
        exc = cls(raised["message"])
    except Exception:  # an exception class whose constructor needs other arguments
        exc = Exception(raised["message"])
    exc.answer_ename, exc.answer_line = raised["ename"], raised["line"]
    return exc


def replay(calls):
    """An answer that returns, call after call, the results recorded in ``calls`` (from :func:`decode_calls`)."""
    made = [0]  # calls made so far

    def answer(*args, **kwargs):
        k = made[0]
        made[0] += 1
        if k >= len(calls) >= MAX_CALLS:  # the Recorder keeps no more
            raise ReplayError(
                f"the check called your function more than {MAX_CALLS} times, more than the grader records "
                "(a right answer needs far fewer calls)"
            )
        if k >= len(calls):
            raise ReplayError(
                f"the check needs the result of call {k + 1} of your function, but the notebook's process "
                f"recorded only {len(calls)} (did the notebook change igrlib's checks?)"
            )
        call = calls[k]
        if fingerprint(args, kwargs) != call["args"]:
            raise ReplayError(
                f"call {k + 1} of your function was recorded on other inputs than the check's "
                "(did the notebook change igrlib's checks?)"
            )
        for index, fn_args, fn_kwargs in call["callbacks"]:
            if index < len(args) and _is_function(args[index]) and type(fn_args) is list and type(fn_kwargs) is dict:
                try:
                    args[index](*fn_args, **{str(key): v for key, v in fn_kwargs.items()})
                except Exception:  # the answer saw this failure and went on; its result says how
                    pass
        for index, value in call["after"]:
            if index < len(args) and type(args[index]) is np.ndarray and type(value) is np.ndarray:
                if value.shape == args[index].shape:
                    np.copyto(args[index], value, casting="unsafe")
        if call["raised"] is not None:
            raise _exception(call["raised"])
        result = call["result"]
        if _unreadable(result):
            raise NotPlainData(
                f"your function returned {_unreadable(result)!r}, which the grader cannot read: "
                "return numbers, numpy arrays, or lists and tuples of them"
            )
        return result

    return answer


def _unreadable(value, depth=0):
    """The first :class:`Unreadable` inside ``value``, or None."""
    if isinstance(value, Unreadable):
        return value
    if isinstance(value, (list, tuple)) and depth < MAX_DEPTH:
        return next(filter(None, (_unreadable(v, depth + 1) for v in value)), None)
    if isinstance(value, dict) and depth < MAX_DEPTH:
        return next(filter(None, (_unreadable(v, depth + 1) for v in value.values())), None)
    return None


def verdict(fn, calls, evaluate):
    """``(status, message)`` of the check ``fn`` on the recorded ``calls`` (already decoded).

    ``evaluate(fn, answer)`` runs a check as the self-check does (a :class:`CheckResult`).
    """
    try:
        passed, message = evaluate(fn, replay(calls))
    except NotPlainData as exc:
        return "FAIL", str(exc)
    except ReplayError as exc:
        return "ERROR", str(exc)
    if passed is True:
        return "PASS", message
    if message.startswith("TODO: "):
        return "TODO", message[len("TODO: ") :]
    return "FAIL", message
