"""The PDFs of the book (`make pdf`), read back with `pdftotext` (poppler-utils).

`_build/pdf/book.pdf` is the book; `_build/pdf/book-student.pdf` is the student edition, without
solutions. Every chapter title, exercise title and captioned figure is checked against the
sources, the student PDF against solution sentences taken from the notebooks, and both for
unresolved references and for TeX, MyST or HTML source left in the text.

Without the PDFs, or with PDFs older than the chapters, the tests are skipped with the reason;
with CI=true or IGR_REQUIRE_PDF=1 (set by .ci/run) they fail instead.
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shutil
import subprocess
import unicodedata

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
PDF_DIR = ROOT / "_build" / "pdf"
BOOK = PDF_DIR / "book.pdf"
STUDENT = PDF_DIR / "book-student.pdf"
PDFS = {"book": BOOK, "student": STUDENT}

EXERCISE = re.compile(r"^(?:`{3,}|:{3,})\{exercise\}[ \t]*(.*)$", re.M)
# Source that must not reach a reader: TeX, MyST roles and fences, HTML.
RAW = ["\\begin{", "\\end{", "$$", "\\frac", "\\label", "\\ref{", "\\mathrm", "\\left", "\\tfrac", "\\theta",
       "{eq}", "{numref}", "{cite}", "{doc}", "{prf:ref}", "{py:func}", "{ref}", "```", ":::",
       "<div", "<img", "<script", "<input", "<span", "</"]


def _required():
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("IGR_REQUIRE_PDF", "") == "1"


def _unavailable(reason):
    if _required():
        pytest.fail(f"{reason}; required here (CI=true or IGR_REQUIRE_PDF=1)", pytrace=False)
    pytest.skip(reason)


def _sources():
    """Every page of the table of contents (path), root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", []):
        names += [entry["file"] for entry in part.get("chapters", [])]
    paths = []
    for name in names:
        path = next(p for p in (ROOT / f"{name}.ipynb", ROOT / f"{name}.md") if p.is_file())
        paths.append(path)
    return paths


def _chapters():
    return [p for p in _sources() if p.suffix == ".ipynb"]


def _markdown(path):
    """The markdown of a page: its markdown cells (with their tags) or the .md file."""
    if path.suffix == ".md":
        return [(path.read_text(), set())]
    nb = nbformat.read(path, as_version=4)
    return [(c.source, set(c.metadata.get("tags", []))) for c in nb.cells if c.cell_type == "markdown"]


def normalise(text):
    """Text as compared: compatibility forms (ligatures, math italics), case folded, without
    spaces, hyphens or quotes (LaTeX breaks and curls them), digits and math symbols (pdftotext
    puts a formula's exponents and radical signs in the middle of the nearby words)."""
    text = unicodedata.normalize("NFKC", text).replace("\u2026", "...")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Sm")
    return re.sub(r"[\s\d\-\u2010-\u2015\u00ad'\"\u2018\u2019\u201c\u201d`]+", "", text).casefold()


def _plain_pieces(title):
    """The pieces of a title outside math and markup, as they read in a PDF."""
    pieces = re.split(r"\$[^$]*\$|\{[a-z:]+\}`[^`]*`", title)
    pieces = [re.sub(r"[*_`]", "", p) for p in pieces]
    return [p for p in pieces if len(normalise(p)) >= 3]


def chapter_titles():
    titles = []
    for path in _sources()[1:]:  # the front page's title is the book's
        for text, _ in _markdown(path):
            match = re.search(r"^# (.+)$", text, re.M)
            if match:
                titles.append((path.name, match.group(1).strip()))
                break
    return titles


def exercise_titles():
    titles = []
    for path in _sources():
        for text, _ in _markdown(path):
            titles += [(path.name, t.strip()) for t in EXERCISE.findall(text) if t.strip()]
    return titles


def solution_sentences():
    """From each markdown cell tagged `solution`, its longest clause of plain prose (between math,
    code and markup), if 25 characters or more: text the book PDF must show and the student PDF
    must not."""
    found = []
    for path in _chapters():
        for text, tags in _markdown(path):
            if "solution" not in tags:
                continue
            prose = "\n".join(line for line in text.splitlines()
                              if not re.match(r"\s*(`{3,}|:{3,}|:[a-z-]+:)", line))
            prose = re.sub(r"\$\$.*?\$\$", "|", prose, flags=re.S)
            pieces = re.split(r"\$[^$]*\$|`[^`]*`|[*_\[\]{}\\<>|#]", prose)
            # A clause of a piece without its first and last words: the words next to math
            # are where pdftotext may put a formula's characters.
            clauses = [" ".join(c.split()[1:-1]) for p in pieces for c in re.split(r"(?<=[.;:!?])\s+", p)]
            longest = max(clauses, key=len, default="")
            if len(longest) >= 25:
                found.append((path.name, longest))
    return found


def figure_captions():
    """The captions of the chapters' figures (cells with mystnb figure metadata)."""
    found = []
    for path in _chapters():
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            figure = cell.metadata.get("mystnb", {}).get("figure", {})
            if cell.cell_type == "code" and figure.get("caption"):
                found.append((path.name, figure["caption"]))
    return found


@functools.cache
def _pdftotext(path):
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module", params=sorted(PDFS))
def pdf(request):
    """(name, path, text) of each PDF, checked to be newer than every page's source."""
    if shutil.which("pdftotext") is None:
        _unavailable("pdftotext not found (apt-get install poppler-utils)")
    path = PDFS[request.param]
    if not path.is_file():
        _unavailable(f"{path.relative_to(ROOT)} not built: run `make pdf`")
    stale = [p.name for p in _sources() if p.stat().st_mtime > path.stat().st_mtime]
    if stale:
        _unavailable(f"{path.relative_to(ROOT)} is older than {', '.join(stale)}: run `make pdf`")
    return request.param, path, _pdftotext(path)


def test_the_sources_give_enough_to_check():
    """The lists below are taken from the notebooks; if a change of layout emptied them, every
    other test here would pass without checking anything."""
    assert len(chapter_titles()) == len(_sources()) - 1
    assert len(exercise_titles()) >= 3 * len(_chapters())
    assert {name for name, _ in solution_sentences()} == {p.name for p in _chapters()}
    assert len(figure_captions()) >= len(_chapters())


def test_page_count(pdf):
    name, path, _ = pdf
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    print(f"{path.relative_to(ROOT)}: {pages} pages")
    assert pages > 100


def _titles_missing(text, titles):
    """The (page, title) pairs whose plain pieces do not all appear in the PDF's text."""
    flat = normalise(text)
    return [f"{page}: {title}" for page, title in titles
            if not all(normalise(p) in flat for p in _plain_pieces(title))]


def test_every_chapter_title(pdf):
    name, _, text = pdf
    missing = _titles_missing(text, chapter_titles())
    assert not missing, f"{name} PDF lacks chapter titles: {missing}"


def _bibliography_pages():
    """The pages of the table of contents that only hold the bibliography: LaTeX prints the
    works in a chapter of their own at the end, so the page itself is not printed."""
    pages = [p for p in _sources() if p.suffix == ".md"]
    return {p.stem for p in pages if re.search(r"^[`:]{3,}\{bibliography\}", p.read_text(), re.M)
            and not re.sub(r"^#.*$|[`:]{3,}.*$", "", p.read_text(), flags=re.M).strip()}


def _contents_lines(text):
    def plain(line):
        line = unicodedata.normalize("NFKC", line).translate({0x2019: "'", 0x2010: "-"})
        return " ".join(line.split())

    return plain, {plain(line) for line in text.splitlines()}


def test_numbered_chapters_then_lettered_appendices(pdf):
    """The contents list the front page's text as the Preface, the numbered parts' chapters as
    1, 2, ..., the unnumbered part's pages (unnumbered on the website) as appendices A, B, ...,
    not as further chapters, and the bibliography once, unnumbered."""
    name, _, text = pdf
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    titles = {path.stem: title for path, (_, title) in zip(_sources()[1:], chapter_titles(), strict=True)}
    numbered, appendices = [], []
    bibliography = _bibliography_pages()
    for part in toc["parts"]:
        pages = [pathlib.Path(e["file"]).name for e in part["chapters"]]
        (numbered if part.get("numbered") else appendices).extend(titles[p] for p in pages if p not in bibliography)
    assert numbered and appendices and bibliography
    plain, lines = _contents_lines(text)
    expected = [f"{k} {t}" for k, t in enumerate(numbered, 1) if "$" not in t]
    expected += [f"{chr(ord('A') + k)} {t}" for k, t in enumerate(appendices)]
    missing = [e for e in expected if plain(e) not in lines]
    assert not missing, f"{name} PDF contents lack the lines {missing}"
    as_chapters = {plain(f"{len(numbered) + 1 + k} {t}") for k, t in enumerate(appendices)}
    assert not lines & as_chapters, f"{name} PDF numbers appendices as chapters: {lines & as_chapters}"
    numbered_bibliography = [line for line in lines if re.fullmatch(r"(\w|\d+) Bibliography( \d+)?", line)]
    assert not numbered_bibliography, f"{name} PDF has an empty numbered bibliography chapter: {numbered_bibliography}"
    contents = text.split("\f")[:12]  # the contents are on the first pages
    assert sum(bool(re.search(r"^Bibliography\b", page, re.M)) for page in contents) == 1


def _pages(text):
    return text.split("\f")


def test_the_front_page_has_a_heading_and_running_heads(pdf):
    """The front page's text starts under the heading "Preface" (in the contents too), and its
    pages' running heads name it, not the contents."""
    name, _, text = pdf
    pages = _pages(text)
    front = (ROOT / "book" / "intro.md").read_text().split("\n\n")[1]
    first_words = normalise(" ".join(front.split()[:8]))
    start = next(i for i, page in enumerate(pages) if first_words in normalise(page))
    assert "preface" in pages[start].casefold(), f"{name} PDF: no heading over the front page's text"
    contents = [line.strip() for page in pages[:start] for line in page.splitlines()]
    assert "Preface" in contents, f"{name} PDF: no Preface in the contents"
    parts = [i for i in range(start, len(pages)) if re.search(r"^Part\b", pages[i], re.M | re.I)]
    end = parts[0] if parts else len(pages)
    heads = [i for i in range(start, end) if re.search(r"\bCONTENTS\b", pages[i])]
    assert not heads, f"{name} PDF: pages {heads} of the front page's text are headed CONTENTS"


def test_the_title_page_shows_the_version_not_a_date(pdf):
    name, _, text = pdf
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    title_page = _pages(text)[0]
    assert f"Version {version}" in title_page, f"{name} PDF's title page lacks the version {version}"
    months = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}, \d{4}"
    assert not re.search(months, title_page), f"{name} PDF's title page shows a date"


def test_references_to_chapters_are_numbered(pdf):
    """A reference to a chapter reads "Chapter 2", not the chapter's bare title (which gives
    nothing to find it by on paper): every chapter the sources refer to without their own text
    is named by its number, and no chapter title stands alone in parentheses."""
    name, _, text = pdf
    chapters = [p.stem for p in _chapters()]
    referred = set()
    for path in _sources():
        for source, tags in _markdown(path):
            if name == "student" and "solution" in tags:
                continue
            referred |= {t for t in re.findall(r"\{doc\}`([^`<>]+)`", source) if t in chapters}
    assert referred
    flat = " ".join(text.split())
    missing = [c for c in sorted(referred) if f"Chapter {chapters.index(c) + 1}" not in flat]
    assert not missing, f"{name} PDF never names {missing} by number"
    flat = flat.replace("\u2019", "'")
    bare = [t for _, t in chapter_titles() if "$" not in t and f"({' '.join(t.split())})" in flat]
    assert not bare, f"{name} PDF refers to chapters by their bare titles: {bare}"


# Wording that only makes sense on the website (or in a notebook), and that print must not show.
WEB_ONLY = ["rocket icon", "download icon", "build this website", "slider below the figure", "slider below",
            "slider under", "stay folded until you open them"]


def test_no_web_only_wording(pdf):
    name, _, text = pdf
    flat = " ".join(text.split()).casefold()
    found = [w for w in WEB_ONLY if w in flat]
    assert not found, f"{name} PDF prints web-only wording: {found}"


def _printed_lines(low=60, high=105):
    """Lines of the chapters' printed output (stdout) between ``low`` and ``high`` characters:
    long enough to have wrapped at the size of code, short enough to fit at the size of output."""
    found = []
    for path in _chapters():
        for cell in nbformat.read(path, as_version=4).cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stdout":
                    found += [(path.name, line) for line in out["text"].splitlines() if low <= len(line) <= high]
    return found


def test_printed_output_keeps_its_lines(pdf):
    """A printed line that fits the page at the output's type size is one line in the PDF
    (not wrapped with a continuation mark, which breaks a table's columns)."""
    name, path, _ = pdf
    if name != "book":
        pytest.skip("the student edition clears the exercises' outputs; the book PDF is checked")
    layout = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], check=True,
                            capture_output=True, text=True).stdout
    squeeze = lambda s: " ".join(unicodedata.normalize("NFKC", s).split())  # noqa: E731
    shown = {squeeze(line) for line in layout.splitlines()}
    lines = _printed_lines()
    assert len(lines) > 20
    broken = [f"{page}: {line}" for page, line in lines if squeeze(line) not in shown]
    assert len(broken) <= len(lines) // 10, f"{name} PDF wraps {len(broken)} of {len(lines)} output lines: {broken[:5]}"


def test_every_exercise_title(pdf):
    name, _, text = pdf
    missing = _titles_missing(text, exercise_titles())
    assert not missing, f"{name} PDF lacks exercises: {missing}"


def test_every_figure_with_its_caption(pdf):
    name, path, text = pdf
    flat = normalise(text)
    missing = [f"{page}: {caption[:60]}" for page, caption in figure_captions()
               if not all(normalise(p)[:40] in flat for p in _plain_pieces(caption)[:1])]
    assert not missing, f"{name} PDF lacks figures: {missing}"
    images = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True).stdout
    count = len(images.splitlines()) - 2  # two header lines
    assert count >= len(figure_captions()), f"{count} images for {len(figure_captions())} figures"


def test_solutions_in_the_book_only(pdf):
    name, _, text = pdf
    flat = normalise(text)
    sentences = solution_sentences()
    shown = [f"{page}: {s}" for page, s in sentences if normalise(s) in flat]
    if name == "book":
        missing = sorted(set(map(": ".join, sentences)) - set(shown))
        assert not missing, f"book PDF lacks solutions: {missing}"
        assert text.count("Solution to Exercise") == len(exercise_titles())
    else:
        assert not shown, f"the student PDF shows solutions: {shown}"
        assert "Solution to" not in text


def test_no_unresolved_reference(pdf):
    name, _, text = pdf
    lines = [line for line in text.splitlines() if "??" in line]
    assert not lines, f"{name} PDF has unresolved references: {lines[:5]}"


def test_no_source_left_in_the_text(pdf):
    """No TeX, MyST or HTML source in the text; code listings may hold TeX inside Python strings
    (matplotlib labels), so a token after a quote on its line is allowed."""
    name, _, text = pdf
    bad = []
    for line in text.splitlines():
        for token in RAW:
            at = line.find(token)
            if at >= 0 and not re.search(r"[\"']", line[:at]):
                bad.append(line.strip())
    assert not bad, f"{name} PDF shows source: {bad[:5]}"


def test_bibliography(pdf):
    """Every work the book cites is listed, with its title."""
    name, _, text = pdf
    bib = (ROOT / "book" / "references.bib").read_text()
    cited = set()
    for path in _sources():
        for source, _ in _markdown(path):
            for keys in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", source):
                cited.update(k.strip() for k in keys.split(","))
    assert len(cited) >= 10
    flat = normalise(text)
    missing = []
    for key in sorted(cited):
        entry = re.search(r"@\w+\{" + re.escape(key) + r",(.*?)\n\}", bib, re.S)
        assert entry, f"{key} is cited but not in references.bib"
        title = re.search(r"^\s*title\s*=\s*[{\"](.+?)[}\"],?\s*$", entry.group(1), re.M).group(1)
        words = re.sub(r"[{}\\$]", "", title)
        if normalise(words)[:30] not in flat:
            missing.append(f"{key}: {words}")
    assert not missing, f"{name} PDF's bibliography lacks {missing}"


def test_exercises_numbered_as_on_the_website(pdf):
    """Exercise k of chapter i is Exercise i.k (sphinx-jupyterbook-latex alone gives i.s.k,
    by section; site_assets/igr_pdf.py restores the website's numbers)."""
    name, _, text = pdf
    expected = set()
    for i, path in enumerate(_chapters(), start=1):
        count = sum(len([t for t in EXERCISE.findall(source) if t.strip()]) for source, _ in _markdown(path))
        expected |= {f"{i}.{k}" for k in range(1, count + 1)}
    found = set(re.findall(r"^Exercise (\d+(?:\.\d+)+) \(", text, re.M))
    assert found == expected
