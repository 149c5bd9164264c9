"""The student edition: solutions removed, stubs kept, sources untouched, every exercise well formed."""

import json
import pathlib

import nbformat
import pytest

from igrlib.coursework.student import (
    check_stub_matches_solution,
    find_exercises,
    student_edition,
    write_student_edition,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))


def demo_notebook(stub="def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError"):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        code("import igrlib as igr", execution_count=1),
        md("```{exercise} Square\n:label: ex-demo-square\n\nWrite `square(x)`.\n```"),
        code(stub, metadata={"tags": ["exercise"]}, execution_count=2),
        md("```{solution-start} ex-demo-square\n:class: dropdown\n```", metadata={"tags": ["solution"]}),
        code("def square(x):\n    return x**2", metadata={"tags": ["solution"]}, execution_count=3),
        md("```{solution-end}\n```", metadata={"tags": ["solution"]}),
        code('igr.check("demo-square", square)', execution_count=4,
             outputs=[nbformat.v4.new_output("stream", name="stdout", text="[PASS] demo-square: ok\n")]),
    ]
    return nb


def test_student_edition_removes_solutions_and_clears_exercise_outputs():
    nb = demo_notebook()
    before = json.dumps(nb, sort_keys=True)
    out = student_edition(nb)
    assert json.dumps(nb, sort_keys=True) == before, "the source notebook must not change"
    assert all("solution" not in c.metadata.get("tags", []) for c in out.cells)
    assert len(out.cells) == len(nb.cells) - 3
    stub = [c for c in out.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(stub) == 1 and "NotImplementedError" in stub[0].source
    check_cell = out.cells[-1]
    assert check_cell.outputs == [] and check_cell.execution_count is None
    assert out.cells[0].execution_count == 1, "cells other than exercises keep their outputs"
    assert out.metadata["kernelspec"]["name"] == "python3"
    assert out.metadata["igrlib"]["checks"] == [["demo-square", "square"]]


def test_refuses_to_write_inside_the_sources(tmp_path):
    src = tmp_path / "book"
    src.mkdir()
    nbformat.write(demo_notebook(), src / "ch.ipynb")
    with pytest.raises(ValueError, match="inside the sources"):
        write_student_edition([src / "ch.ipynb"], src / "student", book_dir=src)
    written = write_student_edition([src / "ch.ipynb"], tmp_path / "student", book_dir=src)
    assert [p.name for p in written] == ["ch.ipynb"]


@pytest.mark.parametrize(
    "stub, problem",
    [
        ("def square(y):\n    raise NotImplementedError", "stub defines"),
        ("def sq(x):\n    raise NotImplementedError", "stub defines"),
        ("def square(x):\n    return None", "must raise NotImplementedError"),
    ],
)
def test_mismatched_stubs_are_refused(stub, problem):
    (exercise,) = find_exercises(demo_notebook(stub))
    with pytest.raises(ValueError, match=problem):
        check_stub_matches_solution(exercise)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_code_exercise_of_the_book_has_a_matching_stub_and_solution(chapter):
    nb = nbformat.read(chapter, as_version=4)
    for exercise in find_exercises(nb):
        check_stub_matches_solution(exercise)
    out = student_edition(nb)
    assert not [c for c in out.cells if "solution" in c.metadata.get("tags", [])]
    assert not [c.source for c in out.cells if "{solution" in c.source], "a solution directive leaked"
    kept = {c.source for c in out.cells}
    assert {c.source for c in nb.cells if c.cell_type == "code" and "exercise" in c.metadata.get("tags", [])} <= kept


def untagged(nb):
    """``nb`` with the ``solution`` tags removed (as in two cells of chapter 5 once)."""
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            del cell.metadata["tags"]
    return nb


def test_solution_directives_are_stripped_whatever_their_tags():
    md = nbformat.v4.new_markdown_cell
    nb = untagged(demo_notebook())
    nb.cells[1:1] = [
        md("Prose before.\n\n````{solution} ex-a\n:class: dropdown\n\n"
           "```python\nsecret_one()\n```\n````\nProse after."),
        md(":::{solution} ex-b\nsecret_two\n:::"),
        md("```{solution}\nsecret_three, never closed"),
    ]
    out = student_edition(nb)
    text = "\n".join(c.source for c in out.cells)
    assert "secret" not in text and "{solution" not in text and "return x**2" not in text
    assert "Prose before." in text and "Prose after." in text
    assert [c.source for c in out.cells if "exercise" in c.metadata.get("tags", [])] == [
        "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError"]


def test_an_unclosed_solution_start_is_refused():
    nb = demo_notebook()
    del nb.cells[5]  # the {solution-end}
    with pytest.raises(ValueError, match="no {solution-end}"):
        student_edition(untagged(nb))
