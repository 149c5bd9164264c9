"""The book's MyST markdown as plain Markdown, with the website's numbers.

JupyterLab renders the chapters' MyST (exercise boxes, ``{eq}`` references) through the
``jupyterlab-myst`` extension; Colab, VS Code and GitHub's preview cannot load it and show the
source. The student edition (:mod:`igrlib.coursework.student`) therefore turns every directive
and role into plain Markdown:

- ``{exercise}`` and sphinx-proof directives become a bold heading, ``**Exercise 2.3** (title)``,
  followed by their body; other directives keep their body under their name in bold;
- ``$$ ... $$ (label)`` gets the equation's number as ``\\tag{2.5}``; ``(label)=`` targets go;
- ``{eq}`` is ``(2.5)``, ``{numref}`` and ``{ref}`` ``Fig. 2.3`` or ``Exercise 2.3``,
  ``{prf:ref}`` ``Theorem 2.1``, ``{cite}`` ``[Barrett and Dherin, 2021]`` (all as the website
  shows them), ``{doc}`` ``chapter 3`` (or the page's title), ``{py:func}`` inline code.

The numbers are the website's: chapter ``n`` is the notebook whose name starts with ``n_``
(``02_euler.ipynb``; the order of the table of contents), and equations (labelled display
math), figures (code cells with ``mystnb.figure.name``), exercises and each kind of theorem are
counted in their chapter, in order.
"""

from __future__ import annotations

import pathlib
import re

__all__ = ["Numbers", "plain_markdown"]

# An opening fence: indentation, three or more backticks, tildes or colons, then {name} and an argument.
_OPEN = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})[ \t]*\{(?P<name>[A-Za-z][\w:.-]*)\}[ \t]*(?P<arg>.*)$"
)
# Any fence (a code block's, with or without a language): its characters and what follows.
_ANY_FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,}|:{3,})(?P<rest>.*)$")
_OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):(?P<value>.*)$")
_ROLE = re.compile(r"\{(?P<name>[A-Za-z][\w:+-]*)\}`(?P<text>[^`]*)`")
_TARGET = re.compile(r"^[ \t]*\((?P<label>[^()\s]+)\)=[ \t]*$")
_MATH_LABEL = re.compile(r"^(?P<head>.*\$\$)[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$")

# sphinx-proof's directives (prf:theorem, ...): each kind has its own counter
_PROOF_KINDS = ("theorem", "lemma", "definition", "remark", "conjecture", "corollary", "algorithm",
                "example", "property", "observation", "proposition", "assumption", "axiom", "criterion")
_NUMREF_FORMAT = {"figure": "Fig. {number}", "exercise": "Exercise {number}"}


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _split_title(text):
    """``'title <target>'`` -> (``'title'``, ``'target'``); ``'target'`` -> (None, ``'target'``)."""
    match = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", text, re.S)
    if match:
        return match.group(1), match.group(2).strip()
    return None, text.strip()


def _directives(text):
    """(name, argument, options) of every directive in ``text``, outer ones first, in order."""
    found = []
    for line in text.splitlines():
        match = _OPEN.match(line)
        if match:
            found.append((match.group("name").lower(), match.group("arg").strip()))
    return found


def _options_of(text):
    """The ``:label:`` of each directive of ``text``, in order (None for a directive without one)."""
    labels, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if _OPEN.match(line):
            label = None
            for follow in lines[i + 1:]:
                option = _OPTION.match(follow)
                if not option:
                    break
                if option.group("key") == "label":
                    label = option.group("value").strip()
            labels.append(label)
    return labels


class Numbers:
    """The website's numbers of the labels of a book's chapters.

    Parameters
    ----------
    chapters : iterable of (path, notebook)
        Every chapter of the book (a notebook as read by ``json`` or ``nbformat``).
    book_dir : path, optional
        The folder of the book's pages: ``references.bib`` for citations and the titles of
        pages that are not chapters (``notation.md``).
    """

    def __init__(self, chapters, book_dir=None):
        self.labels = {}  # label -> (kind, number, title)
        self.chapters = {}  # notebook name without suffix -> chapter number
        self.book_dir = pathlib.Path(book_dir) if book_dir is not None else None
        self._bib = None
        for path, nb in chapters:
            path = pathlib.Path(path)
            match = re.match(r"(\d+)_", path.name)
            if not match:
                continue
            chapter = int(match.group(1))
            self.chapters[path.stem] = chapter
            self._count(chapter, nb)

    def _count(self, chapter, nb):
        counts = {}

        def number(kind, label, title=""):
            counts[kind] = counts.get(kind, 0) + 1
            if label:
                self.labels[label] = (kind, f"{chapter}.{counts[kind]}", title)

        for cell in nb["cells"]:
            text = _source(cell)
            if cell["cell_type"] == "code":
                figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
                if figure.get("name"):
                    number("figure", figure["name"])
                continue
            if cell["cell_type"] != "markdown":
                continue
            # Directives and labelled equations, in the order they appear in the cell.
            events = []
            directives = iter(zip(_directives(text), _options_of(text), strict=True))
            for line in text.splitlines():
                if _OPEN.match(line):
                    events.append(("directive", next(directives)))
                math = _MATH_LABEL.match(line)
                if math:
                    events.append(("equation", math.group("label")))
            for kind, value in events:
                if kind == "equation":
                    number("equation", value)
                    continue
                (name, arg), label = value
                if name == "exercise":
                    number("exercise", label, arg)
                elif name.startswith("prf:") and name[4:] in _PROOF_KINDS:
                    number(name[4:], label, arg)

    # ---- roles ----------------------------------------------------------------------------------

    def number(self, label):
        entry = self.labels.get(label)
        return entry[1] if entry else None

    def eq(self, text):
        number = self.number(text.strip())
        return f"({number})" if number else f"({text.strip()})"

    def numref(self, text):
        title, label = _split_title(text)
        entry = self.labels.get(label)
        if entry is None:
            return title or label
        kind, number, _ = entry
        if title:
            return title.replace("{number}", number).replace("%s", number)
        return _NUMREF_FORMAT.get(kind, kind.capitalize() + " {number}").format(number=number)

    def ref(self, text):
        """A reference to an exercise or theorem reads as its number (``Exercise 3.4``), as on
        the website; one with its own text, as that text."""
        title, label = _split_title(text)
        return title or self.numref(label)

    def doc(self, text):
        title, target = _split_title(text)
        name = pathlib.PurePosixPath(target).name
        if title:
            return title
        if name in self.chapters:
            return f"chapter {self.chapters[name]}"
        return self._page_title(name) or name

    def _page_title(self, name):
        if self.book_dir is None:
            return None
        page = self.book_dir / f"{name}.md"
        if not page.is_file():
            return None
        match = re.search(r"^# (.+)$", page.read_text(encoding="utf-8"), re.M)
        return f"the page '{match.group(1).strip()}'" if match else None

    def cite(self, text, textual=False):
        """``[Barrett and Dherin, 2021, Su, 2020]`` as on the website (sorted by author), or
        ``Barrett and Dherin (2021)`` for a textual citation."""
        keys = [key.strip() for key in text.split(",") if key.strip()]
        works = sorted(self.bibliography().get(key, (key, "")) for key in keys)
        if textual:
            return ", ".join(f"{authors} ({year})" if year else authors for authors, year in works)
        return "[" + ", ".join(f"{authors}, {year}" if year else authors for authors, year in works) + "]"

    def bibliography(self):
        """key -> (authors as cited, year), from ``references.bib`` in the book's folder."""
        if self._bib is None:
            self._bib = {}
            path = self.book_dir / "references.bib" if self.book_dir is not None else None
            if path is not None and path.is_file():
                self._bib = _read_bib(path.read_text(encoding="utf-8"))
        return self._bib


def _read_bib(text):
    """key -> (authors, year) of a BibTeX file: the family names of up to two authors, else the
    first's followed by 'et al.', as the website's author-year citations read."""
    found = {}
    for match in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", text, re.S):
        key, body = match.group(1), match.group(2)
        author = re.search(r"\b(?:author|editor)\s*=\s*[{\"](.*?)[}\"]\s*,?\s*$", body, re.M | re.I)
        year = re.search(r"\byear\s*=\s*[{\"]?(\d{4})", body, re.I)
        names = []
        if author:
            for person in re.split(r"\s+and\s+", author.group(1)):
                person = person.strip().strip("{}")
                family = person.split(",")[0] if "," in person else person.split()[-1] if person.split() else person
                names.append(re.sub(r"[{}\\]", "", family).strip())
        if len(names) > 2:
            authors = f"{names[0]} et al."
        else:
            authors = " and ".join(names) or key
        found[key] = (authors, year.group(1) if year else "n.d.")
    return found


def plain_roles(text, numbers):
    """``text`` with every MyST role replaced by plain Markdown (see the module's docstring)."""

    def replace(match):
        name, content = match.group("name").lower(), match.group("text")
        if name in ("eq", "math:numref"):
            return numbers.eq(content)
        if name == "numref":
            return numbers.numref(content)
        if name == "prf:ref":
            title, label = _split_title(content)
            return title or numbers.numref(label)
        if name == "ref":
            return numbers.ref(content)
        if name == "doc":
            return numbers.doc(content)
        if name in ("cite", "cite:p", "cite:ps"):
            return numbers.cite(content)
        if name in ("cite:t", "cite:ts", "cite:author"):
            return numbers.cite(content, textual=True)
        if name == "math":
            return f"${content}$"
        if name.startswith("py:") or name in ("func", "class", "meth", "mod", "obj", "code", "literal"):
            title, target = _split_title(content)
            shown = title or target.lstrip("~")
            if not title and target.startswith("~"):
                shown = shown.rsplit(".", 1)[-1]
            if name in ("py:func", "py:meth", "func", "meth") and not title and not shown.endswith(")"):
                shown += "()"
            return f"`{shown}`"
        title, target = _split_title(content)  # any other role: the text it shows
        return title or target

    out = _ROLE.sub(replace, text)
    # a chapter named at the start of a sentence: "Chapter 3 ..."
    return re.sub(r"(^|[.!?]\s+|\n\s*\n)chapter (\d)", lambda m: m.group(1) + "Chapter " + m.group(2), out)


def _heading(name, arg, label, numbers):
    """The bold heading that stands for a directive."""
    title = plain_roles(arg, numbers) if arg else ""
    kind = name.split(":", 1)[-1]
    if name == "exercise" or name.startswith("prf:") and kind in _PROOF_KINDS:
        entry = numbers.labels.get(label) if label else None
        head = f"**{kind.capitalize()} {entry[1]}**" if entry else f"**{kind.capitalize()}**"
        return f"{head} ({title})" if title else head
    if name == "prf:proof":
        return "*Proof.*"
    return f"**{kind.capitalize()}.** {title}".rstrip() if kind not in ("div", "only") else title


def plain_markdown(text, numbers):
    """A markdown cell's MyST source as plain Markdown, with the book's numbers.

    Directive fences go (their bodies stay, after a bold heading), options such as ``:label:``
    go, labelled display math gets ``\\tag{number}``, ``(label)=`` targets go, and every role
    is replaced (see :func:`plain_roles`). Code blocks (fences without ``{name}``) are kept as
    they are.
    """
    lines = text.splitlines()
    out = []  # (is_code, line)
    stack = []  # the fences of the directives we are inside
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stack and stripped and set(stripped) == {stack[-1][0]} and len(stripped) >= len(stack[-1]):
            stack.pop()  # the innermost directive ends here
            i += 1
            continue
        opening = _OPEN.match(line)
        if opening:
            name, arg, label = opening.group("name").lower(), opening.group("arg").strip(), None
            i += 1
            while i < len(lines) and _OPTION.match(lines[i]):
                option = _OPTION.match(lines[i])
                if option.group("key") == "label":
                    label = option.group("value").strip()
                i += 1
            stack.append(opening.group("fence"))
            heading = _heading(name, arg, label, numbers)
            if heading:
                out += [(False, opening.group("indent") + heading), (False, "")]
            continue
        fence = _ANY_FENCE.match(line)
        if fence:  # a code block: copied unchanged, up to its closing fence
            chars = fence.group("fence")
            out.append((True, line))
            i += 1
            while i < len(lines):
                out.append((True, lines[i]))
                closing = lines[i].strip()
                i += 1
                if closing and set(closing) == {chars[0]} and len(closing) >= len(chars):
                    break
            continue
        i += 1
        if _TARGET.match(line):
            continue
        math = _MATH_LABEL.match(line)
        if math:
            number = numbers.number(math.group("label"))
            formula = math.group("head")[:-2].rstrip()  # without the closing $$
            tag = rf"\tag{{{number}}}" if number else ""
            if formula.strip():  # $$ x $$ (label) on one line
                out.append((False, f"{formula} {tag} $$"))
            else:
                out += [(False, tag)] if tag else []
                out.append((False, formula + "$$"))
            continue
        out.append((False, line))
    # roles: in each run of prose lines at once (a role may span a line break)
    pieces, run = [], []
    for is_code, line in out + [(True, None)]:
        if is_code:
            if run:
                pieces.append(plain_roles("\n".join(run), numbers))
                run = []
            if line is not None:
                pieces.append(line)
        else:
            run.append(line)
    result = re.sub(r"\n{3,}", "\n\n", "\n".join(pieces)).strip("\n")
    return result + ("\n" if text.endswith("\n") else "")
