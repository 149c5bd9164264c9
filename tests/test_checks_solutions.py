"""Every code exercise's solution, taken from its chapter, passes its check (and the stub is TODO).

The solutions are read from the notebooks, not copied here, so a chapter's solution and its
check cannot drift apart unnoticed."""

import ast
import math
import pathlib

import nbformat
import numpy as np
import pytest
from test_remote import loopback

import igrlib as igr
from igrlib.coursework.checks import _evaluate, _guarded, _registry, run_check
from igrlib.coursework.student import find_exercises

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _statements(source):
    """The imports, function definitions and call-free assignments of ``source`` (not the prints
    and experiments that use the chapter's state)."""
    keep = []
    for node in ast.parse(source).body:
        simple = isinstance(node, ast.Assign) and not any(isinstance(n, ast.Call) for n in ast.walk(node))
        if simple or isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
            keep.append(ast.unparse(node))
    return keep


def _definitions(nb):
    """What a solution may use from the chapter's ordinary code cells, without running its experiments."""
    keep = []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "code" and not tags & {"exercise", "solution"}:
            try:
                keep += _statements(cell.source)
            except SyntaxError:
                continue
    return keep


EXERCISES = []
for _chapter in sorted((ROOT / "book").glob("*.ipynb")):
    _nb = nbformat.read(_chapter, as_version=4)
    EXERCISES += [(_definitions(_nb), exercise) for exercise in find_exercises(_nb)]


def _answer(context, source, answer):
    namespace = {"np": np, "igr": igr, "math": math}
    for statement in context:
        try:
            exec(compile(statement, "<earlier cells>", "exec"), namespace)
        except Exception:  # needs what the chapter computes; a solution that needs it fails below
            pass
    exec(compile("\n".join(_statements(source)), "<solution>", "exec"), namespace)
    return eval(answer, namespace)


@pytest.mark.parametrize("context, exercise", EXERCISES, ids=[e["check"] for _, e in EXERCISES])
def test_the_chapters_solution_passes_and_its_stub_is_todo(context, exercise):
    passed, message = run_check(exercise["check"], _answer(context, exercise["solution"], exercise["answer"]))
    assert passed, message
    passed, message = run_check(exercise["check"], _answer(context, exercise["stub"], exercise["answer"]))
    assert not passed and message.startswith("TODO: "), message


@pytest.mark.parametrize("context, exercise", EXERCISES, ids=[e["check"] for _, e in EXERCISES])
def test_the_graders_remote_calls_agree_with_the_self_check(context, exercise):
    """Called as the grader calls it (plain data through JSON, handed functions called back): the
    verdict of the self-check."""
    fn = _registry()[exercise["check"]]
    for which, status in (("solution", True), ("stub", False)):
        answer = _guarded(_answer(context, exercise[which], exercise["answer"]), fn.without, fn.why)
        passed, message = _evaluate(fn, loopback(answer))
        assert passed is status, message
