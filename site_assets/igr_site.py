"""A small Sphinx extension for this book's website (loaded through _config.yml).

1. Sphinx 7 re-registers scripts that extensions add after the builder starts, and the copy
   it makes of an inline script (one with no file) does not compare equal to the original.
   sphinx-thebe adds such a script declaring ``const THEBE_JS_URL``, so every page declared
   it twice and the browser reported ``SyntaxError: Identifier 'THEBE_JS_URL' has already
   been declared``. Repeated scripts are dropped from each page before it is written.

2. The API page (book/api.md) documents igrlib's functions under their public names,
   ``igrlib.gd`` rather than ``igrlib.gd.gd``. A docstring that names another object of its
   own module without qualification (``:data:`BLOWUP```, ``:func:`train```) is therefore
   resolved to the one documented ``igrlib`` object with that name, if there is exactly one.

3. sphinx-exercise and sphinx-proof give the body of every exercise, solution and proof the
   same id (``exercise-content``, ``solution-content``, ``proof-content``), so a chapter with
   two exercises has duplicate ids (WCAG 2.1 criterion 4.1.1; tests/test_accessibility.py).
   Each such body gets the id of its box with ``-content`` appended.

4. docutils marks each entry of a citation list ``role="doc-biblioentry"``, a role DPUB-ARIA
   1.1 deprecates, inside ``role="list"``, which then has no list items (axe: aria-roles,
   aria-required-children). The entries become ``role="listitem"``.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.util.nodes import make_refnode

SHARED_IDS = {"exercise-content", "solution-content", "proof-content"}


def _script_key(script):
    filename = getattr(script, "filename", script)
    attributes = getattr(script, "attributes", {})
    return str(filename or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def drop_repeated_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def resolve_within_igrlib(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or "." in target:
        return None
    if not (node.get("py:module") or "").startswith("igrlib"):
        return None
    domain = env.get_domain("py")
    objtypes = set(domain.objtypes_for_role(node["reftype"]) or [])
    matches = [
        (name, entry)
        for name, entry in domain.objects.items()
        if name.startswith("igrlib.") and name.rsplit(".", 1)[-1] == target and entry.objtype in objtypes
    ]
    if len(matches) != 1:
        return None
    name, entry = matches[0]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def unique_content_ids(app, doctree, docname):
    used = set()
    for section in doctree.findall(nodes.section):
        if len(section["ids"]) != 1 or section["ids"][0] not in SHARED_IDS:
            continue
        parent = section.parent
        base = f"{parent['ids'][0]}-content" if parent is not None and parent.get("ids") else section["ids"][0]
        new, k = base, 1
        while new in used:
            k += 1
            new = f"{base}-{k}"
        used.add(new)
        section["ids"] = [new]


def citations_as_list_items(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("html-page-context", citations_as_list_items)
    app.connect("doctree-resolved", unique_content_ids)
    app.connect("html-page-context", drop_repeated_scripts)
    app.connect("missing-reference", resolve_within_igrlib)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
