"""The process that runs one submission for the grader (``python -I -S -B``, see ``grade._command``).

It reads a job (JSON on stdin), runs the student's code cells in order, then, for
every exercise, runs the check on the answer with a :class:`~igrlib.coursework._replay.Recorder`
around it, and sends the *record* of the answer's calls (plain data: what the student's
function returned for the check's inputs), never a verdict: the grader judges the record
with its own copy of the check (:func:`igrlib.coursework._replay.verdict`). Messages go
to the grader through a copy of the original stdout, one JSON line each, prefixed with a
nonce the grader chose; the student's ``print`` and ``sys.stdout`` go to ``/dev/null``.

Job keys: ``nonce``, ``seed`` (ints: the checks' inputs, see
:func:`igrlib.coursework.checks.seeded`), ``cells`` (list of str), ``skip`` (cell indices
not to run), ``probes`` (list of ``[check, answer]``), ``done`` (probe indices already
reported), ``extra`` (source of the instructor's hidden checks, or ``""``),
``max_message`` (bytes: a larger record is not sent).
"""

import json
import os
import sys


def _main():
    job = json.loads(sys.stdin.read())
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    nonce = job.pop("nonce")

    def send(**message):
        channel.write(nonce + json.dumps(message) + "\n")

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # the builtins the site module adds (help, exit, quit, copyright...), without the rest of
    # what it does: it processes no .pth file when imported under -S
    import site

    site.setquit(), site.setcopyright(), site.sethelper()

    from igrlib.coursework import _replay, checks

    hidden = {}
    if job.get("extra"):
        exec(compile(job["extra"], "<extra checks>", "exec"), {"register": checks._collector(hidden)})
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell

    def get_ipython():
        raise RuntimeError("IPython magics are not available when grading")

    namespace = {"__name__": "__main__", "get_ipython": get_ipython}
    sys.stdout = open(os.devnull, "w")
    send(kind="ready")
    for index, source in enumerate(job["cells"]):
        if index in job["skip"]:
            continue
        send(kind="start", cell=index)
        try:
            exec(compile(transform(source), f"<cell {index + 1}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 -- the student's code may raise anything
            send(kind="end", cell=index, ename=type(exc).__name__, evalue=str(exc)[:500])
        else:
            send(kind="end", cell=index, ename=None, evalue="")
    for index, (name, answer) in enumerate(job["probes"]):
        if index in job["done"]:
            continue
        send(kind="start", probe=index)
        try:
            value = eval(compile(answer, "<answer>", "eval"), namespace)
        except BaseException as exc:  # noqa: BLE001
            send(
                kind="end",
                probe=index,
                missing=f"could not find the answer {answer}: {type(exc).__name__}: {exc}"[:500],
            )
            continue
        try:  # the student's code may have broken anything here; the grader judges what comes back
            check = name.removeprefix("hidden:")
            public = checks._registry().get(check)
            fn = hidden.get(check) if name != check else public
            # a hidden check runs the answer with the routines its exercise switches off, as the public one
            without, why = getattr(public, "without", ()), getattr(public, "why", checks.WHY)
            answer = checks._guarded(value, without, why) if callable(value) else _NotCallable(value)
            recorder = _replay.Recorder(answer)
            with checks.seeded([*job["seed"], index]):
                checks._evaluate(fn, recorder)  # its verdict is not sent: the grader makes its own
            record = json.dumps(recorder.calls)
        except BaseException as exc:  # noqa: BLE001 -- e.g. KeyboardInterrupt from the grader
            send(kind="end", probe=index, ename=type(exc).__name__, evalue=str(exc)[:500])
            continue
        if len(record) > job["max_message"]:
            send(kind="end", probe=index, oversized=len(record))
        else:
            channel.write(f'{nonce}{{"kind": "end", "probe": {index}, "calls": {record}}}\n')
    send(kind="finished")
    channel.flush()
    os._exit(0)


class _NotCallable:
    """An answer that is not a function: calling it raises the error Python would."""

    def __init__(self, value):
        self.value = value

    def __call__(self, *args, **kwargs):
        raise TypeError(f"'{type(self.value).__name__}' object is not callable")


if __name__ == "__main__":
    _main()
