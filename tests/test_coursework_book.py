"""The whole book as coursework: the solution edition scores every exercise, the student edition none.

This runs every chapter twice in a fresh kernel (a few minutes), so it runs in
`make coursework` (and CI), not in `make test`: set IGR_COURSEWORK=1 to run it.
"""

import pathlib

import nbformat
import pytest

from igrlib.coursework.grade import grade
from igrlib.coursework.student import find_exercises, write_student_edition

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))

pytestmark = pytest.mark.coursework  # skipped unless IGR_COURSEWORK=1 (tests/conftest.py)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_solution_edition_passes_and_student_edition_is_all_todo(chapter, tmp_path):
    expected = [e["check"] for e in find_exercises(nbformat.read(chapter, as_version=4))]
    if not expected:
        pytest.skip(f"{chapter.name} has no code exercises")
    chapters = {chapter.name: nbformat.read(chapter, as_version=4)}
    rows = grade(chapter, chapters=chapters, timeout=120)
    assert [(r.exercise, r.status) for r in rows] == [(name, "PASS") for name in expected], rows

    (student,) = write_student_edition([chapter], tmp_path / "student", book_dir=ROOT / "book")
    rows = grade(student, chapters=chapters, timeout=120)
    assert [(r.exercise, r.status) for r in rows] == [(name, "TODO") for name in expected], rows
