"""The process that runs one submission for the grader (``python -I -B -m igrlib.coursework._runner``,
inside the sandbox, see ``grade._command``).

It does what the grader asks, one request at a time, each a line of JSON on stdin, and answers
each with a line of JSON on the original stdout (the student's ``print`` goes to ``/dev/null``):

- first, ``{"op": "hold", "routines": [...]}``: look up every routine the exercises may switch
  off, before any of the submission's code runs, and keep the objects
  (:func:`igrlib.coursework.checks._hold`); answer ``{"kind": "ready"}``.
- ``{"op": "cell", "source": ...}``: run a code cell; answer ``{"kind": "cell", "ename", "evalue"}``.
- ``{"op": "find", "answer": ..., "without": [...], "why": ...}``: find the answer of an exercise
  (an expression, e.g. ``square``); answer ``{"kind": "missing", "message": ...}``, or fork a copy
  of this process for the exercise, in which the held routines named in ``without`` are switched
  off for good (:func:`igrlib.coursework.checks._switch_off`), and which answers ``{"kind": "found"}``.
- ``{"op": "call", "args", "kwargs"}``: call that answer; answer ``{"kind": "return", "value"}`` or
  ``{"kind": "raise", "raised"}``. While it runs, a function the check handed over asks the grader
  with ``{"kind": "callback", "handle", "args", "kwargs"}`` and reads ``{"op": "reply", ...}``.
- ``{"op": "done"}``: the copy answers ``{"kind": "done"}`` and ends; this process goes on (it
  says ``{"kind": "died"}`` if the copy died instead).

The check itself never runs here: the grader calls the answer remotely
(:class:`igrlib.coursework._remote.RemoteAnswer`) and judges what comes back.
"""

import json
import os
import sys


def _main():
    requests = os.fdopen(os.dup(0), "rb")
    channel = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    # the builtins the site module adds (help, exit...), which -S would leave out
    import site

    site.setquit(), site.setcopyright(), site.sethelper()

    from IPython.core.inputtransformer2 import TransformerManager

    from igrlib.coursework import _remote
    from igrlib.coursework.checks import _answer_line, _hold, _switch_off

    def send(message):
        channel.write(_remote.dumps(message))
        channel.flush()

    def receive():
        line = requests.readline()
        if not line:
            os._exit(0)  # the grader is gone
        return json.loads(line)

    def stand_in(handle):
        def call(*args, **kwargs):
            send(
                {
                    "kind": "callback",
                    "handle": handle,
                    "args": _remote.encode(list(args)),
                    "kwargs": _remote.encode(kwargs),
                }
            )
            reply = receive()
            if "raised" in reply:
                raise _remote.exception(reply["raised"])
            return _remote.decode(reply.get("value"), stand_in)

        return call

    def get_ipython():
        raise RuntimeError("IPython magics are not available when grading")

    def display(*objs, **kwargs):
        """Jupyter's display(), which chapters call without importing it: nothing is shown here."""

    transform = TransformerManager().transform_cell
    namespace = {"__name__": "__main__", "get_ipython": get_ipython, "display": display}
    held = _hold(receive()["routines"])  # before any of the submission's code runs
    send({"kind": "ready"})
    while True:
        request = receive()
        op = request.get("op")
        if op == "cell":
            try:
                exec(compile(transform(request["source"]), f"<cell {request['index'] + 1}>", "exec"), namespace)
            except BaseException as exc:  # noqa: BLE001 -- the student's code may raise anything
                send({"kind": "cell", "ename": type(exc).__name__, "evalue": str(exc)[:500]})
            else:
                send({"kind": "cell", "ename": None, "evalue": ""})
        elif op == "find":
            try:
                value = eval(compile(request["answer"], "<answer>", "eval"), namespace)
            except BaseException as exc:  # noqa: BLE001
                message = f"could not find the answer {request['answer']}: {type(exc).__name__}: {exc}"
                send({"kind": "missing", "message": message[:500]})
                continue
            pid = os.fork()
            if pid:  # this process waits while a copy of it answers the exercise's calls, then goes on
                _, status = os.waitpid(pid, 0)
                if status != 0:
                    send({"kind": "died"})
                continue
            # the copy: the routines the exercise forbids are off for good, and nothing here could
            # switch them on again (no original is kept); its state ends with the exercise
            _switch_off(held, request["without"], request["why"])
            del held  # the originals of what was replaced are kept nowhere (gc finds none)
            answer = value if callable(value) else _NotCallable(value)
            send({"kind": "found"})
            while (request := receive()).get("op") == "call":
                try:
                    args = _remote.decode(request["args"], stand_in)
                    result = answer(*args, **_remote.decode(request["kwargs"], stand_in))
                    reply = {"kind": "return", "value": _remote.encode(result)}
                except BaseException as exc:  # noqa: BLE001
                    line = _answer_line(exc) if exc.__traceback__ is not None else None
                    reply = {"kind": "raise", "raised": _remote.raised(exc, line)}
                send(reply)
            send({"kind": "done"})
            os._exit(0)


class _NotCallable:
    """An answer that is not a function: calling it raises the error Python would."""

    def __init__(self, value):
        self.value = value

    def __call__(self, *args, **kwargs):
        raise TypeError(f"'{type(self.value).__name__}' object is not callable")


if __name__ == "__main__":
    _main()
