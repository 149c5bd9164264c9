"""The prose of every chapter and page: no merge artefacts, no MyST markup left raw.

Each rule looks for one kind of damage that merging two edits of a paragraph leaves behind,
and each is proved on a crafted bad paragraph (the ``BAD`` table) as well as run on the book:

- ``repeated-run``: a run of 12 or more words that occurs twice in one paragraph;
- ``repeated-clause``: a clause of 4 or more words repeated back to back;
- ``restarted-clause``: after a colon or semicolon, the clause starting over with the words
  before it ("is not a gradient: a Euclidean gradient ...");
- ``doubled-word``: the same word twice in a row ("the the");
- ``et-al-sentence``: a sentence ending in "et al." followed by a capitalised new sentence;
- ``citation-starts-sentence``: a sentence that begins with a citation role;
- ``role``: a role without its backticked content, or with an unknown name;
- ``directive``: a directive fence that is unknown or never closed;
- ``inline-math``: a paragraph with an odd number of ``$`` (math opened and never closed).

The built website (when present and current) is searched for roles and directives that
were not rendered and so appear as text.
"""

from __future__ import annotations

import html
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
SOURCES = sorted(BOOK.glob("*.ipynb")) + sorted(BOOK.glob("*.md"))

RUN = 12  # words in a repeated run
CLAUSE = 4  # words in a clause repeated back to back
ROLES = {"cite", "eq", "numref", "ref", "doc", "prf:ref", "py:func", "py:class", "py:exc", "py:mod", "py:data",
         "py:meth", "py:attr", "math", "download", "term", "abbr", "sub", "sup"}
DIRECTIVES = {"exercise", "solution", "solution-start", "solution-end", "prf:theorem", "prf:proof", "prf:lemma",
              "prf:definition", "prf:remark", "prf:example", "prf:corollary", "prf:proposition", "note", "warning",
              "tip", "important", "admonition", "figure", "image", "math", "code-cell", "code-block", "code",
              "bibliography", "toctree", "tableofcontents", "list-table", "table", "dropdown", "seealso",
              "automodule", "autofunction", "autoclass", "autosummary", "currentmodule", "glossary", "raw",
              "embed", "eval-rst", "margin", "sidebar", "epigraph", "csv-table", "only", "div", "contents", "hint"}


def markdown_of(path):
    """The markdown text of a page: every markdown cell of a notebook, or the whole .md file."""
    if path.suffix == ".md":
        return [path.read_text(encoding="utf-8")]
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]


def strip_code(text):
    """Blank out code fences (not directive fences), display math and the options of directives."""
    out, fence = [], None
    for line in text.splitlines():
        stripped = line.strip()
        opening = re.match(r"^(`{3,}|~{3,})(.*)$", stripped)
        if fence is None and opening:
            info = opening.group(2).strip()
            if info.startswith("{") and not info.startswith(("{code", "{math")):
                out.append("")  # a directive: keep its body, which is prose
                continue
            fence = opening.group(1)
            out.append("")
            continue
        if fence is not None:
            if stripped == fence:
                fence = None
            out.append("")
            continue
        if re.match(r"^`{3,}$", stripped) or re.match(r"^:[\w-]+:", stripped):
            out.append("")  # a directive's closing fence or an option line
            continue
        out.append(line)
    text = "\n".join(out)
    return re.sub(r"\$\$.*?\$\$(\s*\([\w-]+\))?", " MATH ", text, flags=re.S)


def paragraphs(text):
    """Blocks separated by blank lines, and each list item on its own, with line breaks joined."""
    units = []
    for block in re.split(r"\n\s*\n", strip_code(text)):
        items = re.split(r"\n(?=\s*(?:[-*+]|\d+\.)\s)", block)
        units += [" ".join(item.split()) for item in items if item.strip()]
    return units


def words(paragraph):
    """Normalised tokens: inline math and roles as whole tokens, other words without punctuation."""
    tokens = re.findall(r"\$[^$]+\$|\{[\w:-]+\}`[^`]*`|`[^`]*`|\S+", paragraph)
    return [t if t[0] in "${`" else t.strip(".,;:!?()\"'*_").lower() for t in tokens]


def mask_code(p):
    """Inline code spans replaced by a placeholder; roles (``{name}`content` ``) kept."""
    return re.sub(r"\{[\w:-]+\}`[^`]*`|``.+?``|`[^`]*`",
                  lambda m: m.group(0) if m.group(0)[0] == "{" else " \x00 ", p)


def _repeated_run(p):
    w = [t for t in words(p) if t]
    seen = {}
    for i in range(len(w) - RUN + 1):
        key = tuple(w[i:i + RUN])
        if key in seen and seen[key] + RUN <= i:
            return " ".join(key)
        seen.setdefault(key, i)
    return None


def _repeated_clause(p):
    w = [t for t in words(p) if t]
    for k in range(CLAUSE, len(w) // 2 + 1):
        for i in range(len(w) - 2 * k + 1):
            if w[i:i + k] == w[i + k:i + 2 * k] and sum(len(t) for t in w[i:i + k]) >= 12:
                return " ".join(w[i:i + k])
    return None


def _restarted_clause(p):
    """After a colon or semicolon, the clause starts again with the two words before it (one may be inserted)."""
    parts = re.split(r"(?<=[:;])\s+", p)
    for before, after in zip(parts, parts[1:]):
        tail = [t for t in words(before) if t][-2:]
        head = [t for t in words(after) if t][:4]
        if len(tail) < 2 or len(tail[1]) < 4:
            continue
        for i, word in enumerate(head):
            if word == tail[0] and tail[1] in head[i + 1:i + 3]:
                return f"{' '.join(tail)} | {' '.join(head)}"
    return None


def _doubled_word(p):
    text = re.sub(r"\$[^$]*\$|\{[\w:-]+\}`[^`]*`", " \x00 ", mask_code(p))
    match = re.search(r"\b([A-Za-z]{2,})\s+\1\b", text, flags=re.I)
    return match.group(0) if match else None


def _et_al_sentence(p):
    match = re.search(r"\bet al\.\s+[A-Z]\w*", p)
    return match.group(0) if match else None


def _citation_starts_sentence(p):
    for match in re.finditer(r"(?:^|[.!?]\s+)(\{cite\}`[^`]*`)", p):
        if not re.search(r"(\bet al|\be\.g|\bi\.e|\bcf|\bch|\bSec|\bp)\.\s+$", p[:match.start(1)]):
            return match.group(0).strip()
    return None


def _role(p):
    p = mask_code(p)
    for match in re.finditer(r"\{([A-Za-z][\w:-]*)\}(`?)", p):
        name, tick = match.groups()
        if name in ROLES and not tick:
            return f"{{{name}}} without backticked content"
        if tick and name not in ROLES:
            return f"unknown role {{{name}}}"
        if tick and p.count("`", match.end()) % 2 == 0:
            return f"{{{name}}}` never closed"
    return None


def _inline_math(p):
    text = p.replace("\\$", "")
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", "", mask_code(text))
    return "odd number of $" if text.count("$") % 2 else None


RULES = {
    "repeated-run": _repeated_run,
    "repeated-clause": _repeated_clause,
    "restarted-clause": _restarted_clause,
    "doubled-word": _doubled_word,
    "et-al-sentence": _et_al_sentence,
    "citation-starts-sentence": _citation_starts_sentence,
    "role": _role,
    "inline-math": _inline_math,
}


def directive_problems(text):
    """Directive fences: a known name, and every opening fence closed."""
    problems, stack = [], []
    for line in text.splitlines():
        stripped = line.strip()
        opening = re.match(r"^(`{3,}|~{3,})\s*\{([^}]*)\}", stripped)
        if opening:
            name = opening.group(2).strip()
            if name not in DIRECTIVES:
                problems.append(f"unknown directive {{{name}}}")
            stack.append(opening.group(1))
        elif re.match(r"^(`{3,}|~{3,})\s*\S", stripped) and not stack:
            stack.append(re.match(r"^(`{3,}|~{3,})", stripped).group(1))  # a code fence
        elif stack and stripped == stack[-1]:
            stack.pop()
    problems += [f"directive or fence {f} never closed" for f in stack]
    return problems


def problems_in(text):
    found = []
    for p in paragraphs(text):
        for rule, test in RULES.items():
            hit = test(p)
            if hit:
                found.append(f"{rule}: {hit!r} in {p[:100]!r}")
    found += [f"directive: {d}" for d in directive_problems(text)]
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_prose_has_no_merge_artefacts(path):
    found = [f"cell {i}: {problem}" for i, text in enumerate(markdown_of(path)) for problem in problems_in(text)]
    assert not found, f"{path.name}:\n" + "\n".join(found)


# Crafted bad paragraphs: each rule must catch its own, and the fixed versions must pass.
BAD = {
    "repeated-run": (
        "The first-order modified flow stays close to the iterates of gradient descent over a fixed time, "
        "and the first-order modified flow stays close to the iterates of gradient descent over a fixed time.",
        "The first-order modified flow stays close to the iterates of gradient descent over a fixed time.",
    ),
    "repeated-clause": (
        "The first correction is $f_2 = -\\frac12 Hg$: The first correction is $f_2 = -\\frac12 Hg$: the same.",
        "The first correction is $f_2 = -\\frac12 Hg$: the same.",
    ),
    "restarted-clause": (
        "The second-order term is not a gradient: a Euclidean gradient beyond first order; it is a flow.",
        "The second-order term is not a Euclidean gradient beyond first order: it is a preconditioned flow.",
    ),
    "doubled-word": ("Gradient descent follows the the modified flow.", "Gradient descent follows the modified flow."),
    "et-al-sentence": (
        "Each pair is one gradient step. Karakida et al.\nThe descent-then-ascent argument is Su's.",
        "Each pair is one gradient step. Karakida et al. {cite}`karakida2023gradient` analyse it.",
    ),
    "citation-starts-sentence": (
        "The source article refers back to it. {cite}`karakida2023gradient` analyse flooding.",
        "The source article refers back to it. Karakida et al. {cite}`karakida2023gradient` analyse flooding.",
    ),
    "role": ("As {cite} karakida2023gradient show.", "As {cite}`karakida2023gradient` show."),
    "inline-math": ("The factor $1 - h\\lambda is negative.", "The factor $1 - h\\lambda$ is negative."),
}
BAD_GARBLED_SUMMARY = (
    "- The second-order term $-h^2 X$ is not a gradient: a\n  Euclidean gradient beyond first order; it is, "
    "to second order, a *preconditioned* gradient flow.\n- The second-order term $-h^2 X$ is not a gradient: a\n"
    "  Euclidean gradient beyond first order; it is, to second order, a *preconditioned* gradient flow."
)


@pytest.mark.parametrize("rule", sorted(BAD))
def test_each_rule_catches_its_crafted_paragraph(rule):
    bad, good = BAD[rule]
    assert any(p.startswith(rule + ":") for p in problems_in(bad)), problems_in(bad)
    assert problems_in(good) == [], problems_in(good)


def test_list_items_are_separate_paragraphs_and_repeated_items_are_caught():
    assert len(paragraphs(BAD_GARBLED_SUMMARY)) == 2
    assert not any(p.startswith("repeated-run") for p in problems_in(BAD_GARBLED_SUMMARY))  # one per item ...
    joined = BAD_GARBLED_SUMMARY.replace("\n- ", " ")
    assert any(p.startswith("repeated-run") for p in problems_in(joined))  # ... but caught inside one


def test_code_and_display_math_are_not_prose():
    text = "Text.\n\n```python\nx = x + x + x\nthe the\n```\n\n$$\na\\,a\\,a\\,a\\,a = a a a a\n$$ (eq-x-y)\n"
    assert problems_in(text) == []


def test_directives_must_be_known_and_closed():
    assert directive_problems("```{exercise} Title\n:label: ex-a-b\n\nText.\n```\n") == []
    assert directive_problems("```{exercize} Title\nText.\n```\n") == ["unknown directive {exercize}"]
    assert directive_problems("```{solution} ex-a-b\nText.\n") == ["directive or fence ``` never closed"]
    bad = "````{prf:proof}\nText.\n```\n"
    assert directive_problems(bad) == ["directive or fence ```` never closed"]


# --- the built website ---------------------------------------------------------------------------

UNRENDERED = re.compile(
    r"\{(?:" + "|".join(re.escape(r) for r in sorted(ROLES | DIRECTIVES)) + r")\}(?:`|\s*<code)"
    r"|`{3,}\s*\{|^\s*:(?:label|class|name):\s",
    flags=re.M,
)


def visible_text(page):
    """The text of an HTML page outside scripts, styles, code blocks and typeset math."""
    page = re.sub(r"<(script|style|pre)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r'<(span|div) class="math[^"]*">.*?</\1>', " ", page, flags=re.S)
    page = re.sub(r"\\\(.*?\\\)|\\\[.*?\\\]", " ", page, flags=re.S)
    return html.unescape(page)


def unrendered(page):
    return [m.group(0) for m in UNRENDERED.finditer(visible_text(page))]


def test_unrendered_markup_is_found_in_crafted_html():
    raw_role = '<p>As {cite}<code class="docutils literal notranslate">karakida2023gradient</code> show.</p>'
    raw_directive = "<p>```{exercise} A title\n:label: ex-a-b</p>"
    fine = '<p>As <a href="#id3">[1]</a> show, <span class="math">\\(\\mathrm{ref}\\)</span>.</p><pre>{cite}`x`</pre>'
    assert unrendered(raw_role) and unrendered(raw_directive) and unrendered(fine) == []


def test_no_markup_left_unrendered_in_the_website(built_site):
    import _website as site

    found = []
    for docname in site.toc_docnames():
        path = site.html_of(docname)
        found += [f"{docname}: {hit!r}" for hit in unrendered(path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
