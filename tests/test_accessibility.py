"""Accessibility of the website: axe-core on every page of the table of contents, light and dark.

axe-core (Deque's accessibility engine) comes with the PyPI package axe-core-python, whose
``axe.min.js`` is injected into each page, so nothing is fetched from a CDN. Every WCAG 2.0 and
2.1 level A and AA rule axe knows is run, colour contrast included (text, code, captions,
links in the exercise boxes), once in light mode and once in dark mode; any violation fails.

It takes about half a minute per page on a loaded 2-core machine, so ``make test`` skips it and
``make a11y`` (run by CI) runs it: set IGR_A11Y=1. Needs the built site and Chromium, as
tests/test_website.py does.
"""

from __future__ import annotations

import os
from importlib import resources

import _website as site
import pytest

PAGES = site.toc_docnames()
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

RUN_AXE_JS = """
const [tags, done] = arguments;
axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({
      id: v.id, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ') + ': '
                              + (n.failureSummary || '').split('\\n').slice(1).join(' ').trim())}))))
  .catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));
"""

pytestmark = pytest.mark.skipif(
    os.environ.get("IGR_A11Y", "") != "1", reason="slow: runs in `make a11y` (set IGR_A11Y=1)"
)


@pytest.fixture(scope="module")
def axe_script():
    return resources.files("axe_core_python").joinpath("axe.min.js").read_text()


@pytest.fixture(scope="module")
def browser(browser):
    """The browser of tests/conftest.py, given five minutes per script: axe is slow."""
    browser.set_script_timeout(300)
    return browser


def test_axe_knows_the_rules_it_is_asked_for(browser, server, axe_script):
    """The injected engine runs, and a page with a known violation is caught (so a pass means something)."""
    browser.get(server.url + "index.html")
    browser.execute_script(axe_script)
    bad = """document.body.insertAdjacentHTML('beforeend',
        '<p id="igr-bad" style="color:#999;background:#fff">faint text</p><img id="igr-noalt" src="data:,">');"""
    browser.execute_script(bad)
    found = {v["id"] for v in browser.execute_async_script(RUN_AXE_JS, WCAG)}
    assert {"color-contrast", "image-alt"} <= found, found


@pytest.mark.parametrize("docname", PAGES)
def test_page_has_no_wcag_violation_in_light_or_dark_mode(browser, server, axe_script, docname):
    browser.get(server.url + docname + ".html")
    ready = browser.execute_async_script(site.WAIT_READY_JS)
    assert ready is True, f"{docname} did not finish loading: {ready}"
    browser.execute_script(axe_script)
    # The theme animates its colours when the mode changes; judge the colours it settles on.
    browser.execute_script(
        "const s = document.createElement('style'); s.textContent = '*, *::before, *::after "
        "{ transition: none !important; animation: none !important; }'; document.head.append(s);"
    )
    report = []
    for mode in ("light", "dark"):
        browser.execute_script(
            "const d = document.documentElement.dataset; d.mode = arguments[0]; d.theme = arguments[0];",
            mode,
        )
        for v in browser.execute_async_script(RUN_AXE_JS, WCAG):
            report.append(f"[{mode}] {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:8]))
    assert not report, f"{docname}: WCAG 2.1 A/AA violations (axe-core):\n" + "\n".join(report)
