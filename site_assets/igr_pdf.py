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

Other builders are untouched.
"""

from __future__ import annotations

from docutils import nodes

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


def setup(app):
    app.connect("builder-inited", number_by_chapter, priority=900)  # after sphinx-jupyterbook-latex
    app.connect("doctree-resolved", restore_latex_depth)
    app.connect("doctree-resolved", label_blocks_for_latex)
    app.connect("doctree-resolved", appendices_for_latex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
