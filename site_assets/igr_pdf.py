"""A small Sphinx extension for the PDF of the book (`make pdf`; loaded through _config.yml).

1. Labels. Cross-references to exercises and theorems point, in LaTeX, at the label
``<docname>:<label>`` (for example ``book/01_steepest_descent:ex-steepest-metric``), but
sphinx-exercise writes ``exercise:<label>`` at the exercise, and sphinx-proof writes
``None:<label>`` when it cannot tell the chapter of a theorem (it finds it only when the
theorem sits in a section titled like its chapter). In the PDF such a reference
printed "Exercise ??" and its link led nowhere. Before the LaTeX is written, each exercise and
theorem-like block gets the label its references use, from the registries both extensions
keep (label -> docname).

2. Numbers: exercises and theorems are numbered by chapter, as on the website (see
   ``number_by_chapter``).

3. Appendices: the chapters of the table of contents' unnumbered part (the Reference: for
   instructors, notation, API, bibliography), unnumbered on the website, are appendices A, B,
   ... in the PDF, not chapters 9, 10, ... (see ``appendices_for_latex``).

4. References to a page, which the website shows as the page's title, read "Chapter 2" or
   "Notation (Appendix B)" in print, where the title alone gives no number to find it by
   (``NumberedPageReferences``).

5. The front page's text, which LaTeX would print after the contents under their running
   head, gets a heading of its own, "Preface", in the contents and in the running heads
   (``preface_for_latex``).

6. An empty chapter is dropped: the bibliography page, whose works LaTeX prints at the end
   in its own "Bibliography" chapter (``drop_empty_chapters``).

7. The title page shows the version of pyproject.toml instead of the date of the build, and
   printed output (stdout, values) is set smaller than code, so that a table of results keeps
   its columns on the page (``print_settings``).

Other builders are untouched.
"""

from __future__ import annotations

import pathlib
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import docname_join

_MODULES = ("sphinx_exercise.nodes", "sphinx_proof.nodes")


def _docname(env, label):
    for registry in (getattr(env, "sphinx_exercise_registry", {}), getattr(env, "proof_list", {})):
        entry = registry.get(label)
        if entry and entry.get("docname"):
            return entry["docname"]
    return None


def _labelled_by_sphinx_proof(env, node):
    """The chapter sphinx-proof itself names in its label for ``node`` (None: it names none)."""
    if type(node).__module__ != "sphinx_proof.nodes":
        return None
    from sphinx_proof.nodes import find_parent

    return find_parent(env, node, "section")


def label_blocks_for_latex(app, doctree, docname):
    if app.builder.format != "latex":
        return
    for node in list(doctree.findall(nodes.Element)):
        label = node.get("label")
        if type(node).__module__ not in _MODULES or not isinstance(label, str) or node.parent is None:
            continue
        if type(node).__name__.startswith("solution"):
            continue  # sphinx-exercise already labels a solution with its chapter
        home = _docname(app.env, label)
        if home is None or _labelled_by_sphinx_proof(app.env, node) == home:
            continue
        target = nodes.raw("", rf"\phantomsection\label{{\detokenize{{{home}:{label}}}}}", format="latex")
        node.parent.insert(node.parent.index(node), target)


def number_by_chapter(app):
    """Number exercises and theorems by chapter (Exercise 1.1), as the website does.

    For a book in parts, sphinx-jupyterbook-latex sets ``numfig_secnum_depth = 2``: LaTeX then
    numbers equations and figures by chapter (the part is the first level), but Sphinx also
    numbers exercises and theorems to that depth, by section (Exercise 1.6.1). Sphinx numbers
    them while reading, LaTeX when writing: read with depth 1, write with the depth it chose.
    """
    if app.builder.format == "latex":
        app.config._igr_latex_secnum_depth = app.config.numfig_secnum_depth
        app.config.numfig_secnum_depth = 1


def restore_latex_depth(app, doctree, docname):
    """Give LaTeX its depth back. The LaTeX builder resolves its one assembled document just
    before writing it (it emits no ``write-started``), after every number was assigned."""
    if app.builder.format == "latex" and hasattr(app.config, "_igr_latex_secnum_depth"):
        app.config.numfig_secnum_depth = app.config._igr_latex_secnum_depth


def first_unnumbered_doc(env):
    """The first document of the first unnumbered part that follows a numbered one, or None."""
    from sphinx import addnodes

    numbered_seen = False
    for toctree in env.get_doctree(env.config.root_doc).findall(addnodes.toctree):
        if toctree.get("numbered"):
            numbered_seen = True
        elif numbered_seen and toctree.get("entries"):
            return toctree["entries"][0][1]
    return None


def appendices_for_latex(app, doctree, docname):
    """Start LaTeX's appendices (chapters A, B, ...) where the unnumbered part begins."""
    from sphinx import addnodes

    if app.builder.format != "latex":
        return
    first = first_unnumbered_doc(app.env)
    for start in doctree.findall(addnodes.start_of_file):
        if start.get("docname") == first:
            start.insert(0, nodes.raw("", r"\appendix", format="latex"))
            return


def page_names(env):
    """docname -> "Chapter n" for the numbered parts' chapters, "Title (Appendix X)" for the
    pages of the unnumbered part that follows them (in the order of the table of contents)."""
    names, numbered_seen, chapter, appendix = {}, False, 0, 0
    for toctree in env.get_doctree(env.config.root_doc).findall(addnodes.toctree):
        for _, docname in toctree.get("entries", []):
            if toctree.get("numbered"):
                numbered_seen = True
                chapter += 1
                names[docname] = f"Chapter {chapter}"
            elif numbered_seen:
                title = env.titles[docname].astext() if docname in env.titles else docname
                names[docname] = f"{title} (Appendix {chr(ord('A') + appendix)})"
                appendix += 1
    return names


class NumberedPageReferences(SphinxPostTransform):
    """In LaTeX, ``{doc}`02_euler``` reads "Chapter 2" (a reference with its own text keeps it)."""

    default_priority = 5  # before Sphinx resolves the references (10)
    builders = ("latex",)

    def run(self, **kwargs):
        names = page_names(self.env)
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "doc" or node.get("refexplicit"):
                continue
            target = node["reftarget"]
            target = target[1:] if target.startswith("/") else docname_join(node.get("refdoc", ""), target)
            name = names.get(target)
            if name:
                node["refexplicit"] = True
                node.children = [nodes.inline(name, name)]


PREFACE = "Preface"


def preface_for_latex(app, doctree, docname):
    """Head the front page's text (the root document's) with an unnumbered chapter."""
    if app.builder.format != "latex" or docname != app.config.root_doc:
        return
    heading = (rf"\chapter*{{{PREFACE}}}\addcontentsline{{toc}}{{chapter}}{{{PREFACE}}}"
               rf"\markboth{{{PREFACE}}}{{{PREFACE}}}")
    doctree.insert(0, nodes.raw("", heading + "\n", format="latex"))


def _is_empty(section):
    """True if a section holds nothing but its title and link targets."""
    rest = [c for c in section.children if not isinstance(c, (nodes.title, nodes.target))]
    return not rest or all(not c.astext().strip() and not list(c.findall(nodes.image)) for c in rest)


def drop_empty_chapters(app, doctree, docname):
    """Drop the heading of a page with nothing to print (its labels stay, for its references)."""
    if app.builder.format != "latex":
        return
    for start in list(doctree.findall(addnodes.start_of_file)):
        sections = [c for c in start.children if isinstance(c, nodes.section)]
        if len(sections) != 1 or not _is_empty(sections[0]):
            continue
        page = start["docname"]
        labels = dict.fromkeys([f"{page}::doc"] + [f"{page}:{i}" for i in sections[0]["ids"]])
        raw = "".join(rf"\phantomsection\label{{\detokenize{{{label}}}}}" for label in labels)
        sections[0].replace_self(nodes.raw("", raw + "\n", format="latex"))


# Printed output is set smaller than code (sphinx-jupyterbook-latex wraps it in sphinxVerbatimOutput).
PREAMBLE = r"""
% igr_pdf: printed output in a smaller type than code, so that tables of results keep their columns
\AtBeginEnvironment{sphinxVerbatimOutput}{\fvset{fontsize=\scriptsize}}
"""


def project_version(srcdir):
    """The version in pyproject.toml at the root of the book's sources, or None."""
    path = pathlib.Path(srcdir) / "pyproject.toml"
    if not path.is_file():
        return None
    match = re.search(r'^version\s*=\s*"([^"]+)"', path.read_text(encoding="utf-8"), re.M)
    return match.group(1) if match else None


def print_settings(app):
    """The title page's version (instead of the build date) and the output type size."""
    if app.builder.format != "latex":
        return
    version = project_version(app.srcdir)
    if version:
        app.builder.context["date"] = f"Version {version}"
    app.builder.context["preamble"] = app.builder.context.get("preamble", "") + PREAMBLE


def setup(app):
    app.add_post_transform(NumberedPageReferences)
    app.connect("builder-inited", print_settings)
    app.connect("doctree-resolved", preface_for_latex)
    app.connect("doctree-resolved", drop_empty_chapters)
    app.connect("builder-inited", number_by_chapter, priority=900)  # after sphinx-jupyterbook-latex
    app.connect("doctree-resolved", restore_latex_depth)
    app.connect("doctree-resolved", label_blocks_for_latex)
    app.connect("doctree-resolved", appendices_for_latex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
