"""What crosses between the grader and the process that runs a submission: plain data and handles.

When grading, the check runs in the grader's process and the student's code in another one
(:mod:`igrlib.coursework._runner`, sandboxed). The check's ``answer`` is a :class:`RemoteAnswer`:
calling it sends the arguments to that process, which calls the student's function and sends
back what it returned, or the exception it raised. Only plain data crosses (JSON numbers,
strings and lists; numpy arrays saved with ``allow_pickle=False``; never pickle). A function
the check hands to the answer (a Hessian-vector product, the methods of a :class:`~igrlib.Loss`)
crosses as a handle: the student's code gets a stand-in that asks the grader to call the real
one (on arguments of one shape and bounded size, see :func:`_unbounded`), so a loss whose value
the check hides stays hidden. The check's inputs are all the
submission ever sees; its expected values, its random state and its code stay here.
"""

from __future__ import annotations

import base64
import builtins
import collections
import io
import json
import math
import types

import numpy as np

from ..losses import Loss

__all__ = ["Lost", "NotPlainData", "RemoteAnswer", "Unreadable", "decode", "encode", "exception"]

MAX_DEPTH = 32  # nesting of lists, tuples and dicts in one value
MAX_INT_BITS = 13_000  # about 3,900 digits: Python reads and writes at most 4,300 as text (JSON)
MAX_SHARED_HASH = 8  # keys of one dict that may share a hash: n such keys cost n**2 / 2 comparisons to insert
MAX_HANDED = 100_000  # numbers in one argument of a call of a handed function (a stack of 2,001 points is 10,000)
_PLAIN_KINDS = "biufc"  # numpy dtype kinds that are numbers or booleans
_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType)


class Lost(BaseException):
    """The submission's process ran out of time, died or sent nonsense: ``status`` and ``message``
    are the exercise's row. A ``BaseException``, so that no ``except Exception`` in a check stops it."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


class NotPlainData(BaseException):
    """The answer returned something that is not plain data: a failed answer, with the reason."""


class Unreadable:
    """Stands for a value that is not plain data (an object, a float subclass...)."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return f"<a {self.kind}>"


def _array(value):
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def encode(value, handles=None, depth=0):
    """``value`` as JSON-ready plain data; anything else as ``{"t": "other", "v": type name}``.

    Types are kept exactly: ``int``, ``float``, ``bool``, ``None``, ``str``, ``complex``,
    ``list``, ``tuple``, ``dict``, numpy arrays and scalars of numbers or booleans. A subclass
    of any of them (a float with a rigged ``__eq__``) is not plain data. With a list ``handles``
    (the grader's side), functions and :class:`~igrlib.Loss` objects are appended to it and sent
    as handles.
    """
    kind = type(value)
    if kind is int and value.bit_length() > MAX_INT_BITS:
        return {"t": "other", "v": "whole number of more than 3,900 digits"}
    if value is None or kind in (bool, int, float, str):
        return value
    if depth >= MAX_DEPTH:
        return {"t": "other", "v": "value nested too deeply"}
    if kind is list:
        return [encode(v, handles, depth + 1) for v in value]
    if kind is tuple:
        return {"t": "tuple", "v": [encode(v, handles, depth + 1) for v in value]}
    if kind is dict:
        if _crowded(value):
            return {"t": "other", "v": "dict whose keys share one hash"}
        keys = [encode(k, handles, depth + 1) for k in value]
        return {"t": "dict", "k": keys, "v": [encode(v, handles, depth + 1) for v in value.values()]}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    if kind is np.ndarray and value.dtype.kind in _PLAIN_KINDS and value.dtype.fields is None:
        return {"t": "array", "v": _array(value)}
    if isinstance(value, np.generic) and kind.__module__ == "numpy" and value.dtype.kind in _PLAIN_KINDS:
        return {"t": "scalar", "v": _array(np.asarray(value))}
    if handles is not None and kind is Loss:
        return {"t": "loss", "v": [encode(f, handles, depth + 1) for f in value]}
    if handles is not None and isinstance(value, _FUNCTIONS):
        handles.append(value)
        return {"t": "fn", "v": len(handles) - 1}
    if isinstance(value, _FUNCTIONS):
        return {"t": "other", "v": "function " + str(getattr(value, "__qualname__", "?"))[:100]}
    return {"t": "other", "v": kind.__name__[:100]}


def _load_array(text):
    if type(text) is not str:
        raise ValueError("an array must be a base64 string")
    raw = base64.b64decode(text, validate=True)
    buffer = io.BytesIO(raw)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    shape, _, dtype = read_header[np.lib.format.read_magic(buffer)](buffer)
    if math.prod(shape) * dtype.itemsize != len(raw) - buffer.tell():  # before numpy allocates it
        raise ValueError(f"an array of shape {shape} whose data has another size")
    value = np.load(io.BytesIO(raw), allow_pickle=False)
    if value.dtype.kind not in _PLAIN_KINDS or value.dtype.fields is not None:
        raise ValueError(f"an array of dtype {value.dtype} is not plain data")
    return value


def _crowded(keys):
    """Whether more than ``MAX_SHARED_HASH`` of ``keys`` have the same hash (the hashes, ints below
    2**61 - 1 in size, hash to themselves, so counting them takes linear time)."""
    counts = collections.Counter(map(hash, keys))
    return bool(counts) and max(counts.values()) > MAX_SHARED_HASH


def decode(data, stand_in=None, depth=0):
    """The value :func:`encode` wrote as ``data``; ``ValueError`` if ``data`` is not such a value.

    Handles are read only with ``stand_in`` (the submission's side): ``stand_in(index)`` is the
    function that asks the grader to call the function of that handle.
    """
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if depth > MAX_DEPTH:  # encode() writes "other" at MAX_DEPTH
        raise ValueError("a value nested too deeply")
    if kind is list:
        return [decode(v, stand_in, depth + 1) for v in data]
    if kind is not dict or type(data.get("t")) is not str:
        raise ValueError(f"not an encoded value: {type(data).__name__}")
    tag, v = data["t"], data.get("v")
    if tag == "tuple" and type(v) is list:
        return tuple(decode(x, stand_in, depth + 1) for x in v)
    if tag == "dict" and type(v) is list and type(data.get("k")) is list and len(v) == len(data["k"]):
        keys = [decode(k, stand_in, depth + 1) for k in data["k"]]
        if any(type(k) not in (int, float, str, bool, type(None)) for k in keys):
            raise ValueError("a dict key that is not a number or a string")
        if _crowded(keys):  # ints k * (2**61 - 1) all hash alike: building the dict would stall the grader
            raise ValueError(f"more than {MAX_SHARED_HASH} keys of a dict share one hash")
        return dict(zip(keys, (decode(x, stand_in, depth + 1) for x in v)))
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
    if stand_in is not None and tag == "fn" and type(v) is int:
        return stand_in(v)
    if stand_in is not None and tag == "loss" and type(v) is list and len(v) == len(Loss._fields):
        return Loss(*(decode(x, stand_in, depth + 1) for x in v))
    raise ValueError(f"unknown tag {tag!r}")


def unreadable(value, depth=0):
    """The first :class:`Unreadable` inside ``value``, or None."""
    if isinstance(value, Unreadable):
        return value
    if isinstance(value, (list, tuple)) and depth <= MAX_DEPTH:
        return next(filter(None, (unreadable(v, depth + 1) for v in value)), None)
    if isinstance(value, dict) and depth <= MAX_DEPTH:
        return next(filter(None, (unreadable(v, depth + 1) for v in value.values())), None)
    return None


def raised(exc, line=None):
    """An exception as plain data: its name, message, and the line of the student's code."""
    return {"ename": type(exc).__name__[:100], "message": str(exc)[:500], "line": line}


def exception(raised):
    """The exception to raise for one sent as plain data: a built-in exception of the same name
    (so that a check, or the student's code, can catch it), else a plain ``Exception``; it carries
    the original name and line. ``ValueError`` if ``raised`` is malformed."""
    if type(raised) is not dict or type(raised.get("ename")) is not str or type(raised.get("message")) is not str:
        raise ValueError("a malformed exception")
    if raised.get("line") is not None and type(raised["line"]) is not int:
        raise ValueError("a malformed line number")
    cls = getattr(builtins, raised["ename"], None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)) or issubclass(
        cls,
        (OSError, UnicodeError, StopIteration, StopAsyncIteration),  # the last two end loops silently
    ):
        cls = Exception
    try:
        exc = cls(raised["message"])
    except Exception:  # an exception class whose constructor needs other arguments
        exc = Exception(raised["message"])
    exc.answer_ename, exc.answer_line = raised["ename"], raised["line"]
    return exc


class RemoteAnswer:
    """The student's answer, as the check in the grader's process sees it.

    Parameters
    ----------
    kernel : object
        The submission's process: ``send(message)`` and ``receive(deadline)`` (a dict, or raises
        :class:`Lost`).
    deadline : float
        ``time.monotonic()`` by which the whole check must be done.
    """

    def __init__(self, kernel, deadline):
        self.kernel, self.deadline = kernel, deadline
        self.handles = []  # the functions handed to the answer so far, by handle

    def __call__(self, *args, **kwargs):
        self.kernel.send(
            {"op": "call", "args": encode(list(args), self.handles), "kwargs": encode(kwargs, self.handles)}
        )
        while True:
            reply = self.kernel.receive(self.deadline)
            kind = reply.get("kind")
            try:
                if kind == "callback":
                    self._call_back(reply)
                    continue
                if kind == "raise":
                    error = exception(reply.get("raised"))
                elif kind == "return":
                    value = decode(reply.get("value"))
                    if unreadable(value):
                        raise NotPlainData(
                            f"your function returned {unreadable(value)!r}, which the grader cannot read: "
                            "return numbers, numpy arrays, or lists and tuples of them"
                        )
                    return value
                else:
                    raise ValueError(f"unexpected message {str(kind)[:30]!r}")
            except Exception as exc:  # anything wrong in what the submission's process sent
                raise Lost("ERROR", f"the notebook's process sent a malformed message ({exc})") from None
            raise error

    def _call_back(self, message):
        """Call the handed function the submission's code asked for, and send what it returned."""
        index = message.get("handle")
        if type(index) is not int or not 0 <= index < len(self.handles):
            raise ValueError("a call of a function the check did not hand over")
        args, kwargs = decode(message.get("args")), decode(message.get("kwargs"))
        if type(args) is not list or kwargs != {} or unreadable(args):
            refusal = TypeError("pass numbers and numpy arrays, by position, to the functions the check gives")
            reply = {"raised": raised(refusal)}
        elif (refusal := _unbounded(args)) is not None:
            reply = {"raised": raised(refusal)}
        else:
            try:
                value = self.handles[index](*(np.asarray(a) for a in args))
                reply = {"value": encode(value, self.handles)}
            except Exception as exc:  # the check's function refused these inputs: the student's code sees why
                reply = {"raised": raised(exc)}
        self.kernel.send({"op": "reply", **reply})


def _unbounded(args):
    """Why a handed function is not called on ``args`` here (a ``ValueError``), or None.

    Each argument is a number or an array of numbers, all of one shape, each of at most
    ``MAX_HANDED`` numbers. The check's functions (a loss's value, gradient, Hessian-vector
    product...) return no more numbers than they are given on such arguments, and so cost the
    grader in proportion to the message that asked for them; arguments that broadcast against each
    other (shapes ``(K, 1, d)`` and ``(1, K, d)``) would make the grader build ``K * K * d``.
    """
    not_numbers = ValueError("the functions the check gives take numbers and arrays of numbers")
    try:
        arrays = [np.asarray(a) for a in args]
    except (TypeError, ValueError):  # ragged lists
        return not_numbers
    if any(a.dtype.kind not in _PLAIN_KINDS for a in arrays):
        return not_numbers
    shapes = sorted({a.shape for a in arrays})
    if len(shapes) > 1:
        listed = ", ".join(str(s) for s in shapes)
        return ValueError(
            f"the functions the check gives take arrays of one shape (theta, u, v... alike, as a point or "
            f"a stack of points; no broadcasting between them); got shapes {listed}"
        )
    if arrays and arrays[0].size > MAX_HANDED:
        return ValueError(
            f"the functions the check gives take at most {MAX_HANDED:,} numbers an argument; got {arrays[0].size:,}"
        )
    return None


def dumps(message):
    """One message as a line of JSON."""
    return (json.dumps(message, allow_nan=True) + "\n").encode()
