r"""Self-checks for the code exercises: ``igr.check(name, answer)``.

Every code exercise in the book ends with a line such as
``igr.check("euler-richardson", richardson_end)``. The check calls the
student's answer on fresh inputs and compares the behaviour (values, shapes,
orders, invariants) with what the mathematics requires. It prints one line,

``[PASS] name: message``, ``[FAIL] name: hint`` or ``[TODO] name: ...``,

and never reveals the answer. ``[TODO]`` means the stub still raises
``NotImplementedError``. The grader (``python -m igrlib.coursework.grade``) runs the same
checks in its own process, where the student's code cannot reach them: there ``answer`` calls
the student's function remotely (:mod:`igrlib.coursework._remote`), with plain data, or
functions and :class:`~igrlib.Loss` objects the student's code can only call. Checks draw
their inputs afresh at every run from :func:`fresh_rng`.

Each chapter's checks live in a module of this package and are registered with
:func:`register`; :func:`check` finds them all.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import numbers
import os
import pkgutil
import sys
import sysconfig
import textwrap
import traceback
import types

import numpy as np

__all__ = [
    "check",
    "register",
    "available_checks",
    "CheckResult",
    "fresh_rng",
    "plain_real",
    "real_number",
    "real_array",
]


# Code in these directories is not the student's: igrlib itself, the standard library and the
# installed packages (numpy, scipy, ...). An error is reported at the last line outside them.
_LIBRARY_DIRS = tuple(
    os.path.join(os.path.realpath(path), "")
    for path in [
        os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
        *map(sysconfig.get_path, ("stdlib", "platlib", "purelib")),
    ]
)


def _answer_line(exc):
    """The line number where ``exc`` was raised in the student's code (innermost frame outside libraries)."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not os.path.realpath(f.filename).startswith(_LIBRARY_DIRS)]
    return (own or frames)[-1].lineno


class CheckResult(tuple):
    """``(passed, message)`` of one check; true when passed."""

    def __new__(cls, passed, message):
        return super().__new__(cls, (bool(passed), str(message)))

    def __bool__(self):
        return self[0]


WHY = "do yourself what it does"
# check() prints its outcome in lines of at most this many characters (longer words stay whole).
PRINT_WIDTH = 76


def register(name, *, without=(), why=WHY):
    """Decorator: register ``fn(answer) -> (passed, message)`` as the check ``name``.

    ``without`` names the routines the exercise asks the student to do without, as
    ``"module.function"`` strings (``"igrlib.gradient_flow"``, ``"scipy.integrate.solve_ivp"``).
    While the answer runs they raise ``PermissionError`` saying ``"<routine> is switched off
    here: this exercise asks you to <why>"``, and so does every function defined at the top level
    of a check module (its helpers, case tables and checks), where those modules are importable
    (the self-check, and grading with ``--no-sandbox``). A Python function is switched off by its
    code (every reference to it), a class by its ``__init__`` (and its bases'), any other routine
    (compiled: LAPACK's) by its name in its module; when grading, all are looked up before the
    submission's first cell runs. This stops an answer that calls the routine; it
    cannot stop one that computes the same with a copy made beforehand, with the module's source
    compiled again, with a routine not listed, or after changing this module's own functions in
    its process (see the instructors' page). In the self-check the originals are kept to be
    restored, so code reached through frames or ``gc`` can switch them on; when grading, none is kept.
    """
    without = tuple(without)
    for routine in without:
        if not isinstance(routine, str) or "." not in routine:
            raise ValueError(f"without: {routine!r} is not a 'module.function' name")
    if not isinstance(why, str) or not why:
        raise ValueError(f"why: {why!r} is not a sentence saying why the routines are switched off")

    def wrap(fn):
        fn.check_name, fn.without, fn.why = name, without, why
        own = fn.__globals__.setdefault("CHECKS", {})  # the defining module's own table, read by _registry()
        if own.get(name, fn) is not fn:
            raise ValueError(f"a check named {name!r} is registered twice")
        own[name] = fn
        return fn

    return wrap


def plain_real(value):
    """``value`` as a float if it is a plain real number, else None.

    Plain means ``int``, ``float`` or a numpy scalar of those kinds, exactly (no ``bool``, no
    subclass): a class with a rigged ``__eq__`` or ``__float__`` is not a number here. Nor is an
    int beyond the range of floats (``float()`` would raise ``OverflowError``).
    """
    kind = type(value)
    if kind is int and abs(value) > sys.float_info.max:
        return None
    if kind in (int, float) or (
        kind.__module__ == "numpy" and isinstance(value, (numbers.Real,)) and not isinstance(value, (bool, np.bool_))
    ):
        return float(value)
    return None


def real_number(value):
    """``value`` as a float if it is one real number, else None.

    One real number is a plain real (see :func:`plain_real`) or a numpy array of shape ``()``
    holding an integer or a float. ``float()`` itself would take the real part of a numpy complex
    number (with a mere warning), a string of digits, or ``True``; here they are None.
    """
    if type(value) is np.ndarray and value.shape == () and value.dtype.kind in "iuf":
        return float(value)
    return plain_real(value)


def real_array(value):
    """``value`` as a float ndarray if it holds real numbers (or booleans) only, else None.

    ``numpy.asarray(value, dtype=float)`` would drop the imaginary part of a complex array (with
    a mere warning) and read strings of digits as numbers; here complex numbers, strings, objects
    and ragged lists are None.
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists, objects numpy cannot read
        return None
    return array.astype(float) if array.dtype.kind in "biuf" else None


def _blocker(name, message):
    """A code object named ``name`` that raises ``PermissionError(message)`` (no closure: it
    replaces the code of functions that have none)."""

    def blocked(*args, **kwargs):
        raise PermissionError("MESSAGE")

    code = blocked.__code__
    consts = tuple(message if c == "MESSAGE" else c for c in code.co_consts)
    return code.replace(co_name=name, co_qualname=name, co_consts=consts)


def _resolve(routine):
    """``(owner, name, routine)``: the routine and where it is found (a class: its ``__init__``)."""
    module, _, attr = routine.rpartition(".")
    try:
        owner = importlib.import_module(module)
        fn = getattr(owner, attr)
    except (ImportError, AttributeError):
        return None
    if isinstance(fn, type):
        return fn, "__init__", fn.__init__  # an ODE solver's class: no instance can be made
    fn = getattr(fn, "_implementation", fn)  # numpy's dispatchers call a Python function
    return owner, attr, inspect.unwrap(fn)


def _check_helpers():
    """Every function defined at the top level of the check modules: their helpers, case tables
    and checks."""
    return [
        f
        for module in _check_modules()
        for f in [*vars(module).values(), *getattr(module, "CHECKS", {}).values()]
        if isinstance(f, types.FunctionType) and f.__module__ == module.__name__
    ]


def _hold(names):
    """What :func:`_routines` may switch off, looked up now: a tuple of ``(name, owner, attr,
    routine)`` for the routines ``names`` that exist and ``importlib.reload``, and of
    ``(None, None, None, f)`` for each of the checks' helpers.

    The grader's process for a submission holds these before any of its cells runs, so that what
    a cell does later to modules (``sys.modules``, attributes, ``__wrapped__``) does not change
    which objects are switched off: the objects held are (in a tuple, which no cell can change).
    """
    held = [(name, *found) for name in [*names, "importlib.reload"] if (found := _resolve(name)) is not None]
    return tuple(held + [(None, None, None, f) for f in _check_helpers()])


def _block(owner, name, fn, message):
    """Make the routine raise ``PermissionError(message)``; return what undoes it.

    A Python function is blocked by its code (every reference to it); a class by its ``__init__``,
    set on it and on each class it inherits an ``__init__`` from (so that deleting one gives none
    back); any other routine (compiled code: LAPACK's, numpy's) by its name in its module."""
    blocker = _blocker(name if owner is not None else fn.__name__, message)
    undo = []

    def replace(where):
        value = vars(where).get(name, _MISSING)
        setattr(where, name, types.FunctionType(blocker, {}))
        undo.append(lambda: delattr(where, name) if value is _MISSING else setattr(where, name, value))

    if isinstance(owner, type):
        replace(owner)
        for base in owner.__mro__[1:-1]:  # not object
            if name in vars(base):
                replace(base)
    elif isinstance(fn, types.FunctionType) and not fn.__code__.co_freevars:
        code, fn.__code__ = fn.__code__, blocker
        undo.append(lambda: setattr(fn, "__code__", code))
    elif owner is not None:
        replace(owner)
    return lambda: [step() for step in reversed(undo)]


_MISSING = object()


@contextlib.contextmanager
def _blocked(routines):
    """Within this block, each ``(owner, name, routine, message)`` of ``routines`` raises
    ``PermissionError(message)`` (see :func:`_block`)."""
    undo = []
    try:
        for routine in routines:
            undo.append(_block(*routine))
        yield
    finally:
        for step in reversed(undo):
            step()


def _routines(held, without, why=WHY):
    """``(owner, name, routine, message)`` of what an answer runs without: of the routines of
    ``held`` (see :func:`_hold`) named in ``without``, ``importlib.reload`` and the checks' own
    helpers."""
    routines = []
    for name, owner, attr, fn in held:
        if name is None:
            message = f"the check's own {fn.__name__} is switched off while your function runs: use your own code"
        elif name in without or name == "importlib.reload":
            message = f"{name} is switched off here: this exercise asks you to {why}"
        else:
            continue
        routines.append((owner, attr, fn, message))
    return routines


def _guarded(answer, without, why=WHY):
    """``answer`` wrapped so that while it runs the routines ``without`` and the checks' helpers
    raise ``PermissionError``, with a message naming the routine and saying ``why``."""
    if not callable(answer):
        return answer
    routines = _routines(_hold(without), without, why)

    @functools.wraps(answer)
    def call(*args, **kwargs):
        with _blocked(routines):
            return answer(*args, **kwargs)

    return call


def _switch_off(held, without, why=WHY):
    """Block the routines of ``held`` named in ``without`` (and the rest :func:`_routines` adds) for
    good, keeping nothing that could undo it (the grader's process for one exercise, see
    :mod:`igrlib.coursework._runner`)."""
    for routine in _routines(held, without, why):
        _block(*routine)


def _check_modules():
    """The chapter modules of this package (imported on first use), and any other module in it."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return [m for n, m in sorted(sys.modules.items()) if n.startswith(__name__ + ".") and m is not None]


def _registry():
    """``{name: check}`` built afresh from the ``CHECKS`` table of every check module (filled by
    :func:`register` in the module that defines the check; there is no package-wide registry)."""
    found = {}
    for module in _check_modules():
        for name, fn in getattr(module, "CHECKS", {}).items():
            if name in found and found[name] is not fn:
                raise ValueError(f"a check named {name!r} is registered twice")
            found[name] = fn
    return found


def available_checks():
    """Sorted names of every registered check."""
    return sorted(_registry())


def _collector(registry):
    """A ``register`` decorator that fills ``registry`` (a dict) instead of the public one."""

    def register_into(name):
        def wrap(fn):
            if name in registry:
                raise ValueError(f"a check named {name!r} is registered twice")
            registry[name] = fn
            return fn

        return wrap

    return register_into


def fresh_rng():
    """A random generator for a check's inputs, with new entropy at every run."""
    return np.random.default_rng()


def run_check(name, answer):
    """Run check ``name`` on ``answer`` and return a :class:`CheckResult`; never raises."""
    registry = _registry()
    if name not in registry:
        return CheckResult(False, f"no check named {name!r}; known checks: {', '.join(sorted(registry))}")
    fn = registry[name]
    return _evaluate(fn, _guarded(answer, getattr(fn, "without", ()), getattr(fn, "why", WHY)))


def _evaluate(fn, answer):
    """Run the check function ``fn`` on ``answer``; a :class:`CheckResult`, never an exception.

    An exception the student's code raised in the grader's sandbox (see
    :mod:`igrlib.coursework._remote`) carries the name and line it had there.
    """
    try:
        passed, message = fn(answer)
    except NotImplementedError:
        return CheckResult(False, "TODO: not attempted yet (the stub still raises NotImplementedError)")
    except Exception as exc:  # the student's code may fail in any way; report it, do not crash
        ename = getattr(exc, "answer_ename", type(exc).__name__)
        line = getattr(exc, "answer_line", None) or _answer_line(exc)
        return CheckResult(False, f"your code raised {ename}: {exc} (line {line})")
    if type(message) is not str:
        return CheckResult(False, "the check returned a message that is not a string")
    return CheckResult(type(passed) in (bool, np.bool_) and passed, message)


def check(name, answer):
    """Check an exercise answer and print the outcome: ``[PASS]``, ``[FAIL]`` or ``[TODO]``, the
    check's name and its message, wrapped at PRINT_WIDTH characters (the book's column).

    Parameters
    ----------
    name : str
        The exercise's check name, as given in the exercise.
    answer : object
        Usually the function the exercise asks for; the check calls it.

    Returns
    -------
    None
        The outcome is printed; :func:`run_check` returns it instead.
    """
    passed, message = run_check(name, answer)
    if passed:
        status = "PASS"
    elif message.startswith("TODO:"):
        status, message = "TODO", message[len("TODO: ") :]
    else:
        status = "FAIL"
    print(textwrap.fill(f"[{status}] {name}: {message}", PRINT_WIDTH, subsequent_indent=" " * 7,
                        break_long_words=False, break_on_hyphens=False))
