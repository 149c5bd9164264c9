"""The process that runs one submission for the grader (``python -I -m igrlib.coursework._runner``).

It reads a job (JSON on stdin), imports the checks *before* any of the student's
code runs and keeps its own copy of them, runs the student's code cells in order,
then evaluates every exercise's answer and runs the kept check on it. Progress and
verdicts go to the grader through a private copy of the original stdout, one JSON
line each, prefixed with a nonce the grader chose; the student's ``print`` and
``sys.stdout`` go to ``/dev/null``. Patching ``run_check``, the registry or
``sys.stdout`` from a cell therefore changes nothing the grader reads.

Job keys: ``nonce``, ``cells`` (list of str), ``skip`` (cell indices not to run),
``probes`` (list of ``[check, answer]``), ``done`` (probe indices already reported),
``extra`` (source of the instructor's hidden checks, or ``""``).
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

    from igrlib.coursework import checks

    public = checks._registry_snapshot()
    evaluate = checks._evaluate
    extra = {}
    if job.get("extra"):
        hidden = {}
        exec(compile(job["extra"], "<extra checks>", "exec"), {"register": checks._collector(hidden)})
        extra = {name: (fn, ()) for name, fn in hidden.items()}
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
        registry = extra if name.startswith("hidden:") else public
        fn, without = registry.get(name.removeprefix("hidden:"), (None, ()))
        if fn is None:
            status, message = "ERROR", f"no check named {name!r}"
        else:
            try:
                value = eval(compile(answer, "<answer>", "eval"), namespace)
            except BaseException as exc:  # noqa: BLE001
                status = "ERROR"
                message = f"could not find the answer {answer}: {type(exc).__name__}: {exc}"
            else:
                try:
                    passed, message = evaluate(fn, value, without)
                except BaseException as exc:  # noqa: BLE001 -- e.g. KeyboardInterrupt from the grader
                    send(kind="end", probe=index, ename=type(exc).__name__, evalue=str(exc)[:500])
                    continue
                passed = passed is True
                message = message if type(message) is str else "the check returned a message that is not a string"
                todo = message.startswith("TODO: ")
                status = "PASS" if passed else ("TODO" if todo else "FAIL")
                message = message[len("TODO: ") :] if todo else message
        send(kind="end", probe=index, ename=None, status=status, message=message[:1000])
    send(kind="finished")
    channel.flush()
    os._exit(0)


if __name__ == "__main__":
    _main()
