"""Grade submitted notebooks: ``python -m igrlib.coursework.grade SUBMISSION.ipynb [...] [--csv FILE]``.

Each submission runs top to bottom in a fresh kernel, in a temporary folder,
with a time limit per cell. Then, in the same kernel, every exercise's check is
run once more on the student's answer, each in a cell of its own (so one
endless loop costs one exercise). The report gives, per exercise, one of

- ``PASS`` / ``FAIL``: the check's verdict and message;
- ``TODO``: the stub still raises ``NotImplementedError``;
- ``ERROR``: the answer could not be found or the check could not run (a deleted
  or renamed exercise cell, a syntax error, an exception);
- ``TIMEOUT``: the check ran past the time limit;
- ``KERNEL DIED``: the kernel died (the offending cell is reported and skipped).

A submission that is not a valid notebook is reported as such; the other
submissions are still graded. Submissions are never modified.

Grading runs the students' code with your permissions: run it in a throwaway
environment (a container or a separate user account), never on a machine with
data you care about.

Which exercises a notebook has is read from the student edition's metadata
(written by :mod:`igrlib.coursework.student`); failing that, from the chapter of the same
name in ``--reference`` (default ``book/``); failing that, from the submission's
own ``igr.check`` lines.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import secrets
import sys
import tempfile

from .student import find_checks, find_exercises

__all__ = ["grade", "main"]

DEFAULT_TIMEOUT = 60  # seconds per cell


def _expected_checks(nb, path, reference):
    meta = nb.get("metadata", {}).get("igrlib", {}).get("checks")
    if meta:
        return [tuple(item) for item in meta]
    if reference is not None:
        ref = pathlib.Path(reference) / pathlib.Path(path).name
        if ref.is_file():
            import nbformat

            return [(e["check"], e["answer"]) for e in find_exercises(nbformat.read(ref, as_version=4))]
    return [pair for cell in nb["cells"] if cell["cell_type"] == "code" for pair in find_checks(cell["source"])]


def _probe_cell(nbformat, name, answer, marker):
    """A cell that runs check ``name`` on the student's ``answer`` and prints the verdict as JSON."""
    code = (
        "import json as _igr_json\n"
        "from igrlib.coursework.checks import run_check as _igr_run_check\n"
        "try:\n"
        f"    _igr_answer = {answer}\n"
        "except Exception as _igr_exc:\n"
        f"    _igr_why = {('could not find the answer ' + answer + ': ')!r}\n"
        "    _igr_result = ['ERROR', _igr_why + type(_igr_exc).__name__ + ': ' + str(_igr_exc)]\n"
        "else:\n"
        f"    _igr_ok, _igr_msg = _igr_run_check({name!r}, _igr_answer)\n"
        "    _igr_todo = _igr_msg.startswith('TODO: ')\n"
        "    _igr_status = 'PASS' if _igr_ok else ('TODO' if _igr_todo else 'FAIL')\n"
        "    _igr_result = [_igr_status, _igr_msg[6:] if _igr_todo else _igr_msg]\n"
        f"print({marker!r} + _igr_json.dumps([{name!r}] + _igr_result))\n"
    )
    return nbformat.v4.new_code_cell(code)


def _run(nb, timeout, workdir):
    """Execute ``nb`` in a fresh kernel, cell by cell. Return the index of the cell during
    which the kernel died, or None."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=True,
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, index)
            except DeadKernelError:
                return index
    return None


def _answer_is_valid_python(answer):
    try:
        compile(answer, "<answer>", "eval")
    except (SyntaxError, ValueError, TypeError):
        return False
    return True


def grade(path, *, timeout=DEFAULT_TIMEOUT, reference="book"):
    """Grade one submission.

    Returns
    -------
    list of (check, status, message)
        One row per exercise; a submission that cannot be run gives one row with check ``"-"``.
    """
    import nbformat

    path = pathlib.Path(path)
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except Exception as exc:  # unreadable, not JSON, not a notebook
        return [("-", "ERROR", f"not a valid notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")]

    expected = _expected_checks(nb, path, reference)
    if not expected:
        return [("-", "ERROR", "no exercises found to grade")]

    marker = f"@@igrlib-grade-{secrets.token_hex(8)}@@"
    bad = [(name, "ERROR", f"the answer {answer!r} is not a Python expression") for name, answer in expected
           if not _answer_is_valid_python(answer)]
    probes = [(name, answer) for name, answer in expected if _answer_is_valid_python(answer)]
    n_own = len(nb.cells)
    nb.cells += [_probe_cell(nbformat, name, answer, marker) for name, answer in probes]

    notes = {}
    skipped = set()
    with tempfile.TemporaryDirectory(prefix="igrlib-grade-") as workdir:
        for _ in range(len(nb.cells) + 1):  # each kernel death removes one cell: bounded
            for cell in nb.cells:
                cell["outputs"] = []
            died = _run(nb, timeout, workdir)
            if died is None:
                break
            if died >= n_own:
                name = probes[died - n_own][0]
                notes[name] = ("KERNEL DIED", "the kernel died while checking this exercise")
            else:
                skipped.add(died)
            nb.cells[died] = nbformat.v4.new_code_cell("pass  # skipped by the grader: the kernel died here")

    rows = list(bad)
    for offset, (name, _) in enumerate(probes):
        if name in notes:
            rows.append((name, *notes[name]))
            continue
        cell = nb.cells[n_own + offset]
        verdict = None
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                for line in out.get("text", "").splitlines():
                    if line.startswith(marker):
                        verdict = json.loads(line[len(marker) :])
            elif out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt":
                verdict = [name, "TIMEOUT", f"the check did not finish within {timeout} s (an endless loop?)"]
        if verdict is None:
            verdict = [name, "ERROR", "the check produced no verdict"]
        rows.append(tuple(verdict))
    for index, cell in enumerate(nb.cells[:n_own]):
        for out in cell.get("outputs", []):
            expected = ("NotImplementedError", "KeyboardInterrupt")  # unfilled stubs; time-outs, reported above
            if out.get("output_type") == "error" and out.get("ename") not in expected:
                rows.append(("-", "ERROR", f"cell {index + 1} raised {out['ename']}: {out.get('evalue', '')}"[:300]))
    if skipped:
        cells = ", ".join(str(i + 1) for i in sorted(skipped))
        rows.append(("-", "KERNEL DIED", f"the kernel died in cell(s) {cells}; they were skipped and the rest re-run"))
    return rows


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m igrlib.coursework.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", nargs="+", help="submitted .ipynb files")
    parser.add_argument("--csv", metavar="FILE", help="also write the results as CSV (one row per exercise)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="time limit per cell, in seconds")
    parser.add_argument("--reference", default="book", help="folder of the original chapters (default: book)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")

    all_rows = []
    for sub in args.submissions:
        rows = grade(sub, timeout=args.timeout, reference=args.reference)
        passed = sum(status == "PASS" for _, status, _ in rows)
        graded = sum(name != "-" for name, _, _ in rows)
        print(f"\n{sub}: {passed}/{graded} exercises pass")
        print(_table([("exercise", "status", "message"), *rows]))
        all_rows += [(sub, *row) for row in rows]
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["submission", "exercise", "status", "message"])
            writer.writerows(all_rows)
        print(f"\nwrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
