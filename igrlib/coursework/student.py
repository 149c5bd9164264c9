"""The student edition of the book's notebooks, and how exercises are found in a notebook.

``python -m igrlib.coursework.student OUTDIR NOTEBOOK [...]`` (``make student``) writes, for
each chapter, a copy with every cell tagged ``solution`` removed and the outputs
of the exercise cells (stubs tagged ``exercise`` and the ``igr.check`` lines)
cleared. Everything else is kept: prose, figures, kernelspec, the imports. The
copy records the exercises it contains in its metadata (``metadata.igrlib.checks``) so
that :mod:`igrlib.coursework.grade` knows what to grade even if a student deletes a cell.

The cell layout of an exercise is described in ``CONTRIBUTING.md``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import pathlib
import re
import sys
from urllib.parse import quote

from .plain import Numbers, plain_markdown

__all__ = ["book_numbers", "find_checks", "find_exercises", "student_edition", "write_student_edition"]

SOLUTION_TAG = "solution"
EXERCISE_TAG = "exercise"


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def find_checks(source):
    """The ``igr.check(name, answer)`` calls in a piece of code, as (name, answer source) pairs.

    Only calls whose first argument is a string literal count. Code that does not
    parse (a student's syntax error, or nesting too deep for the parser) has no checks.

    Examples
    --------
    >>> find_checks('igr.check("euler-order", my_slope)')
    [('euler-order', 'my_slope')]
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # a student's code, however hostile
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) != 2:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0]
        if name == "check" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((first.value, ast.get_source_segment(source, node.args[1])))
    return found


def _functions(source):
    """Top-level function definitions in ``source``: name -> argument signature (a string)."""
    tree = ast.parse(source)
    return {node.name: ast.unparse(node.args) for node in tree.body if isinstance(node, ast.FunctionDef)}


def find_exercises(nb):
    """The code exercises of a notebook (a dict as read by ``json`` or ``nbformat``).

    Returns
    -------
    list of dict
        One per ``igr.check`` call, in order, with keys ``check`` (its name),
        ``answer`` (the source of the answer expression), ``stub`` and
        ``solution`` (the sources of the nearest preceding cells tagged
        ``exercise`` and ``solution``, or None).
    """
    found = []
    stub = solution = None
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = _tags(cell)
        if EXERCISE_TAG in tags:
            stub, solution = _source(cell), None
        elif SOLUTION_TAG in tags:
            solution = _source(cell)
        for name, answer in find_checks(_source(cell)):
            found.append({"check": name, "answer": answer, "stub": stub, "solution": solution})
            stub = solution = None
    return found


def check_stub_matches_solution(exercise):
    """Raise ValueError unless the exercise's stub and solution define the same functions
    with the same signatures, and the stub raises NotImplementedError."""
    name = exercise["check"]
    if exercise["stub"] is None or exercise["solution"] is None:
        raise ValueError(f"exercise {name!r} needs a stub cell tagged 'exercise' and a solution cell tagged 'solution'")
    stub, solution = _functions(exercise["stub"]), _functions(exercise["solution"])
    if not stub:
        raise ValueError(f"the stub of exercise {name!r} defines no function")
    if stub != solution:
        raise ValueError(f"exercise {name!r}: stub defines {stub}, solution defines {solution}")
    if "NotImplementedError" not in exercise["stub"]:
        raise ValueError(f"the stub of exercise {name!r} must raise NotImplementedError")


# Sphinx reads directive names case-blind: ``{Solution}`` is a solution too
_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*\{(solution|solution-start|solution-end)\}", re.IGNORECASE)
# what may still be a solution after the cut: a directive in any case, or in reStructuredText (eval-rst)
_LEAK = re.compile(r"\{solution|\.\.\s+solution(-start|-end)?\s*::", re.IGNORECASE)


def _strip_solutions(cells):
    """``cells`` without solution directives, whatever their tags.

    A ``{solution}`` block is cut out of its cell (an unclosed one up to the cell's end);
    everything from a ``{solution-start}`` to its ``{solution-end}`` is cut, across cells.
    Cells left empty are dropped.
    """
    kept, inside = [], False
    for cell in cells:
        lines = _source(cell).splitlines(keepends=True)
        out, fence = [], None
        for line in lines:
            if fence is not None:  # the body of a directive: up to its closing fence
                stripped = line.strip()
                if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                    fence = None
                continue
            match = _FENCE.match(line)
            if match:
                fence, kind = match.group(1), match.group(2).lower()
                inside = {"solution-start": True, "solution-end": False}.get(kind, inside)
                continue
            if not inside:
                out.append(line)
        text = "".join(out)
        if text.strip() or not lines:
            cell["source"] = text
            if cell.get("attachments"):  # an image of a cut solution goes with it
                used = {k for k in cell["attachments"] if f"attachment:{k}" in text or f"attachment:{quote(k)}" in text}
                cell["attachments"] = {k: v for k, v in cell["attachments"].items() if k in used}
            kept.append(cell)
    if inside:
        raise ValueError("a {solution-start} directive has no {solution-end}")
    return kept


def student_edition(nb, chapter=None, numbers=None):
    """Return the student edition of a notebook (a new object; ``nb`` is not changed).

    ``chapter`` (the chapter's file name) is recorded in the metadata, so that the grader can
    tell which chapter a renamed submission answers. With ``numbers`` (a
    :class:`igrlib.coursework.plain.Numbers` of the whole book), the markdown cells are
    turned into plain Markdown with the book's numbers; without, they keep their MyST.
    """
    out = copy.deepcopy(nb)
    out["cells"] = _strip_solutions([c for c in out["cells"] if SOLUTION_TAG not in _tags(c)])
    leaks = [i for i, c in enumerate(out["cells"]) if _LEAK.search(_source(c))]
    if leaks:
        raise ValueError(f"the student edition would still contain a solution directive in cell(s) {leaks}")
    for cell in out["cells"]:
        if cell["cell_type"] == "code" and (EXERCISE_TAG in _tags(cell) or find_checks(_source(cell))):
            cell["outputs"] = []
            cell["execution_count"] = None
    if numbers is not None:
        for cell in out["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = plain_markdown(_source(cell), numbers)
    meta = out["metadata"].setdefault("igrlib", {})
    meta["checks"] = [[e["check"], e["answer"]] for e in find_exercises(nb)]
    if chapter is not None:
        meta["chapter"] = chapter
    return out


def book_numbers(notebooks):
    """The website's numbers (:class:`igrlib.coursework.plain.Numbers`) of the book the
    notebooks belong to: every chapter in their folders (``NN_name.ipynb``), so that a
    reference to another chapter resolves when only one chapter is written."""
    import json

    folders = {pathlib.Path(p).resolve().parent for p in notebooks}
    paths = sorted({p for folder in folders for p in folder.glob("[0-9]*.ipynb")}
                   | {pathlib.Path(p).resolve() for p in notebooks})
    chapters = [(p, json.loads(p.read_text(encoding="utf-8"))) for p in paths]
    book_dir = pathlib.Path(notebooks[0]).resolve().parent if notebooks else None
    return Numbers(chapters, book_dir=book_dir)


def write_student_edition(notebooks, outdir, *, book_dir="book", plain=True):
    """Write the student edition of each notebook into ``outdir``; return the written paths.

    Refuses to write inside ``book_dir`` (the sources), and never modifies the inputs. With
    ``plain`` (the default) the markdown is plain Markdown with the book's numbers.
    """
    import nbformat

    outdir = pathlib.Path(outdir).resolve()
    notebooks = [pathlib.Path(p) for p in notebooks]
    protected = {pathlib.Path(book_dir).resolve(), *(p.resolve().parent for p in notebooks)}
    for src in protected:
        if outdir == src or src in outdir.parents:
            raise ValueError(f"refusing to write the student edition inside the sources ({src}); choose another OUTDIR")
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = book_numbers(notebooks) if plain else None
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for exercise in find_exercises(nb):
            check_stub_matches_solution(exercise)
        target = outdir / path.name
        try:
            edition = student_edition(nb, path.name, numbers)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        nbformat.write(edition, target)
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m igrlib.coursework.student", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="folder for the student edition (not inside book/)")
    parser.add_argument("notebooks", nargs="+", help="chapter notebooks")
    parser.add_argument("--keep-myst", action="store_true",
                        help="keep the MyST markdown (for a book built from the edition) instead of plain Markdown")
    args = parser.parse_args(argv)
    try:
        written = write_student_edition(args.notebooks, args.outdir, plain=not args.keep_myst)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
