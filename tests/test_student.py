"""The student edition: solutions removed, stubs kept, sources untouched, every exercise well formed."""

import json
import pathlib
import re

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


# --- The student edition's markdown: plain Markdown with the website's numbers ------------------

def test_myst_becomes_plain_markdown_with_the_books_numbers(tmp_path):
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    (tmp_path / "references.bib").write_text(
        "@article{one2020,\n  author = {Smith, Ann and Jones, Bob},\n  title = {A},\n  year = {2020}\n}\n"
        "@book{two1999,\n  author = {Lee, C. and Kim, D. and Park, E.},\n  title = {B},\n  year = {1999}\n}\n")
    (tmp_path / "notation.md").write_text("# Notation\n\nSymbols.\n")
    first = nbformat.v4.new_notebook(cells=[
        md("# One\n\n$$\na = b\n$$ (eq-a)\n\n$$ c = d $$ (eq-c)"),
        code("plot()", metadata={"mystnb": {"figure": {"name": "fig-a", "caption": "A figure."}}}),
    ])
    second = nbformat.v4.new_notebook(cells=[
        md("(sec-start)=\n## Start\n\n$$\nx = y\n$$ (eq-x)\n\n"
           "{doc}`01_one` gave {eq}`eq-c`; here {eq}`eq-x`, see {numref}`fig-a` and {numref}`fig-b`,\n"
           "{cite}`two1999,one2020` and {py:func}`igr.euler(h) <igrlib.euler>`, {py:func}`igrlib.flow`,\n"
           "{doc}`notation`, {doc}`the first chapter <01_one>`, {ref}`ex-two`."),
        code("plot()", metadata={"mystnb": {"figure": {"name": "fig-b", "caption": "B."}}}),
        md("{prf:ref}`thm-b` holds.\n\n```{prf:theorem} Big {eq}`eq-x`\n:label: thm-b\n\nTrue.\n```\n\n"
           "```{prf:proof}\nObvious.\n```"),
        md("````{exercise} First\n:label: ex-one\n:class: full\n\nWrite\n\n```python\n{eq}`kept` :label: kept\n```\n"
           "````\n\n```{exercise}\n:label: ex-two\n\nUse {numref}`ex-one`.\n```"),
    ])
    from igrlib.coursework.plain import Numbers, plain_markdown

    numbers = Numbers([(tmp_path / "01_one.ipynb", first), (tmp_path / "02_two.ipynb", second)], book_dir=tmp_path)
    plain = [plain_markdown(c.source, numbers) for c in second.cells if c.cell_type == "markdown"]
    assert plain[0] == (
        "## Start\n\n$$\nx = y\n\\tag{2.1}\n$$\n\n"
        "Chapter 1 gave (1.2); here (2.1), see Fig. 1.1 and Fig. 2.1,\n"
        "[Lee et al., 1999, Smith and Jones, 2020] and `igr.euler(h)`, `igrlib.flow()`,\n"
        "the page 'Notation', the first chapter, Exercise 2.2.")
    assert plain[1] == "Theorem 2.1 holds.\n\n**Theorem 2.1** (Big (2.1))\n\nTrue.\n\n*Proof.*\n\nObvious."
    assert plain[2] == ("**Exercise 2.1** (First)\n\nWrite\n\n```python\n{eq}`kept` :label: kept\n```\n\n"
                        "**Exercise 2.2**\n\nUse Exercise 2.1.")
    first_plain = plain_markdown(first.cells[0].source, numbers)
    assert first_plain == "# One\n\n$$\na = b\n\\tag{1.1}\n$$\n\n$$ c = d \\tag{1.2} $$"


# MyST that Colab, VS Code and GitHub show as source: a role, a directive fence, a directive
# option, a target, a labelled display formula.
RAW_MYST = re.compile(
    r"\{[A-Za-z][\w:+-]*\}`|^[ \t]*(`{3,}|~{3,}|:{3,})[ \t]*\{|^[ \t]*:[\w-]+:|^[ \t]*\([^()\s]+\)=[ \t]*$"
    r"|\$\$[ \t]*\([^()\s]+\)[ \t]*$",
    re.M,
)


def _without_code_blocks(text):
    return re.sub(r"^[ \t]*(`{3,}|~{3,})[^{\n]*\n.*?^[ \t]*\1[ \t]*$", "", text, flags=re.M | re.S)


@pytest.fixture(scope="module")
def student_book(tmp_path_factory):
    """The student edition of the whole book, as `make student` writes it."""
    out = tmp_path_factory.mktemp("student")
    return {path.name: nbformat.read(path, as_version=4) for path in write_student_edition(CHAPTERS, out)}


def test_no_student_notebook_keeps_raw_myst(student_book):
    assert len(student_book) == len(CHAPTERS) >= 8
    for name, nb in student_book.items():
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                found = [m.group(0) for m in RAW_MYST.finditer(_without_code_blocks(cell.source))]
                assert not found, f"{name}: raw MyST {found} in\n{cell.source[:300]}"


def test_the_student_edition_numbers_every_exercise_and_keeps_what_the_grader_reads(student_book):
    for i, chapter in enumerate(CHAPTERS, start=1):
        source = nbformat.read(chapter, as_version=4)
        count = sum(len(re.findall(r"^(?:`{3,}|:{3,})\{exercise\}", c.source, re.M))
                    for c in source.cells if c.cell_type == "markdown")
        nb = student_book[chapter.name]
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert re.findall(r"^\*\*Exercise (\d+\.\d+)\*\*", text, re.M) == [f"{i}.{k}" for k in range(1, count + 1)]
        # the grader reads the chapter and the checks from the metadata, the stubs by their tag
        assert nb.metadata["igrlib"]["chapter"] == chapter.name
        assert nb.metadata["igrlib"]["checks"] == [[e["check"], e["answer"]] for e in find_exercises(source)]
        stubs = [c.source for c in source.cells if "exercise" in c.metadata.get("tags", [])]
        assert [c.source for c in nb.cells if "exercise" in c.metadata.get("tags", [])] == stubs


def _website_numbers(html):
    """label -> number of each equation, figure, exercise and theorem on a built page."""
    found = {label: number for number, label in
             re.findall(r'<span class="eqno">\(([\d.]+)\)<a class="headerlink" href="#equation-([^"]+)"', html)}
    for label, number in re.findall(r'id="([^"]+)"[^>]*>\s*(?:<[^>]+>\s*)*?<(?:p|figcaption)[^>]*>\s*(?:<p>)?'
                                    r'<span class="caption-number">[A-Za-z.]+ ([\d.]+) </span>', html):
        found[label] = number
    for label, number in re.findall(r'<figure[^>]*id="([^"]+)".*?<span class="caption-number">Fig. ([\d.]+) ',
                                    html, re.S):
        found.setdefault(label, number)
    return found


def test_the_student_numbers_are_the_websites():
    """The numbers the student edition prints are those of the built website (_build/html)."""
    from igrlib.coursework.student import book_numbers

    site = ROOT / "_build" / "html" / "book"
    pages = [site / f"{p.stem}.html" for p in CHAPTERS]
    if not all(p.is_file() and p.stat().st_mtime >= c.stat().st_mtime for p, c in zip(pages, CHAPTERS, strict=True)):
        pytest.skip("the website is not built or older than the chapters: run `make book`")
    numbers = book_numbers(CHAPTERS)
    website = {}
    for page in pages:
        website.update(_website_numbers(page.read_text(encoding="utf-8")))
    ours = {label: entry[1] for label, entry in numbers.labels.items()}
    assert len(ours) > 100
    assert {k: v for k, v in ours.items() if website.get(k) != v} == {}


def test_keep_myst_for_a_book_built_from_the_edition(tmp_path):
    """`make pdf` builds the student PDF with Sphinx from the edition: there the MyST stays."""
    from igrlib.coursework.student import main

    chapter = CHAPTERS[1]
    assert main(["--keep-myst", str(tmp_path / "myst"), str(chapter)]) == 0
    assert main([str(tmp_path / "plain"), str(chapter)]) == 0
    kept, plain = (nbformat.read(tmp_path / d / chapter.name, as_version=4) for d in ("myst", "plain"))
    assert any("{exercise}" in c.source for c in kept.cells)
    assert not any("{exercise}" in c.source for c in plain.cells)


# --- make student-release: the student edition ready to publish ----------------------------------

def test_student_release_is_a_launchable_folder_and_zip(tmp_path):
    import subprocess
    import sys
    import zipfile

    from igrlib.coursework.release import ENVIRONMENT, launch_links, write_release

    out = tmp_path / "release"
    files = write_release(CHAPTERS, out, repository="https://github.com/me/course", branch="term-2", root=ROOT,
                          book_dir=ROOT / "book")
    names = {p.relative_to(out).as_posix() for p in files}
    assert {c.name for c in CHAPTERS} | set(ENVIRONMENT) | {"README.md", "igrlib/__init__.py"} <= names
    for chapter in CHAPTERS:  # the student edition, not the book's chapters
        nb = nbformat.read(out / chapter.name, as_version=4)
        assert nb.metadata["igrlib"]["chapter"] == chapter.name
        assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    for name in ENVIRONMENT:  # Binder builds the book's locked environment
        assert (out / name).read_bytes() == (ROOT / name).read_bytes()
    assert (out / "postBuild").stat().st_mode & 0o111
    readme = (out / "README.md").read_text()
    for chapter in CHAPTERS:
        links = launch_links("https://github.com/me/course", "term-2", chapter.name)
        assert f"({links['binder']})" in readme and f"({links['colab']})" in readme
        assert links["binder"].endswith(f"/v2/gh/me/course/term-2?urlpath=lab/tree/{chapter.name}")
    with zipfile.ZipFile(out.with_suffix(".zip")) as archive:
        assert set(archive.namelist()) == names
    # the release's own igrlib (what postBuild installs) imports from the folder
    run = subprocess.run([sys.executable, "-c", "import igrlib, pathlib; print(pathlib.Path(igrlib.__file__).parent)"],
                         cwd=out, capture_output=True, text=True, env={"PYTHONPATH": str(out), "PATH": ""})
    assert pathlib.Path(run.stdout.strip()) == out / "igrlib", run.stderr


def test_student_release_refuses_to_replace_anything_else(tmp_path):
    from igrlib.coursework.release import launch_links, write_release

    kept = tmp_path / "work"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a student release"):
        write_release(CHAPTERS[:1], kept, repository="https://github.com/me/course", branch="student", root=ROOT)
    assert (kept / "notes.txt").read_text() == "mine"
    for bad in ("https://gitlab.com/me/course", "https://github.com/me", "me/course"):
        with pytest.raises(ValueError, match="repository"):
            launch_links(bad, "student", "01.ipynb")
    with pytest.raises(ValueError, match="branch"):
        launch_links("https://github.com/me/course", "a b", "01.ipynb")


def test_make_student_release_points_at_the_books_repository():
    import subprocess

    import yaml

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    dry = subprocess.run(["make", "-n", "student-release"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"--repository {url} --branch student" in dry
    assert all(c.relative_to(ROOT).as_posix() in dry for c in CHAPTERS)


def test_the_instructors_page_can_be_followed_literally():
    """Every chapter of the table of contents is in the course table; the page runs `make student`
    before it sends anyone to _build/student/, and each make target it names exists."""
    import yaml

    page = (ROOT / "book" / "instructors.md").read_text()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [pathlib.PurePosixPath(e["file"]).name for part in toc["parts"] if part.get("numbered")
                for e in part["chapters"]]
    table = page.split("## Which chapters for which course", 1)[1].split("\n\n", 2)[1]
    missing = [c for c in chapters if f"{{doc}}`{c}`" not in table and f"`{c}.ipynb`" not in table]
    assert not missing, f"chapters missing from the course table: {missing}"
    assert page.index("make student") < page.index("_build/student/")
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([\w-]+)", page)) | set(re.findall(r"^\s*make ([\w-]+)", page, re.M))
    assert named and named <= targets, f"make targets the page names but the Makefile lacks: {named - targets}"
