"""The website as a reader sees it: every page of the table of contents in headless Chromium.

Needs the built site (`make book`; `make test` builds it first when Chromium is installed)
and, for the browser tests, Debian's `chromium` and `chromium-driver`. Without them these
tests are skipped with the reason; with CI=true or IGR_REQUIRE_BROWSER=1 they fail instead.
Screenshots of every page (a phone's first screen; with IGR_SCREENSHOTS=1 also the whole page, light and
dark) are saved under _build/screenshots/.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import _website as site
import pytest

import igrlib

PAGES = site.toc_docnames()
NOTEBOOK_PAGES = site.notebook_docnames()

# The chapter that derives the operator series (Bernoulli numbers), as the intro's roadmap says.
OPERATOR_SERIES_CHAPTER = "book/03_modified_equation"

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
# A chapter page with its figures, not counting the shared scripts, styles and fonts
# (_static/, and the search index every page loads).
PAGE_BUDGET_BYTES = 3_000_000
# Mean luminance of a figure may differ this much between light and dark mode.
LUMINANCE_TOLERANCE = 0.03


_VISITS = {}


def _settle(driver):
    """Wait until the page has been laid out and painted again."""
    driver.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")


def _set_theme(driver, mode):
    """Switch the theme as its light/dark button does; return the page's background luminance."""
    driver.execute_script(
        "document.documentElement.dataset.mode = arguments[0]; document.documentElement.dataset.theme = arguments[0];",
        mode,
    )
    _settle(driver)
    return driver.execute_script(site.BACKGROUND_LUMINANCE_JS)


def visit(driver, server, docname):
    """Load a page once and look at it as a reader would: light, dark, and on a phone."""
    if docname in _VISITS:
        return _VISITS[docname]
    url = server.url + docname + ".html"
    shots = site.SCREENSHOTS / docname.replace("/", "_")
    site.drain_logs(driver)
    driver.get(url)
    ready = driver.execute_async_script(site.WAIT_READY_JS)
    assert ready is True, f"{url} did not finish loading: {ready}"

    backgrounds = [_set_theme(driver, "light")]
    shown = driver.execute_script(site.INSPECT_JS)
    # at desktop width (the window is 1280 px wide)
    output_scroll = driver.execute_script(site.OUTPUT_SCROLL_JS)
    code_scroll = driver.execute_script(site.CODE_SCROLL_JS)
    figures = driver.execute_script(site.FIGURE_SIGNATURES_JS)
    light_images = driver.execute_script(site.IMAGE_LUMINANCE_JS)
    site.screenshot(driver, shots.with_name(shots.name + "-light.jpg"))

    backgrounds.append(_set_theme(driver, "dark"))
    dark_images = driver.execute_script(site.IMAGE_LUMINANCE_JS)
    site.screenshot(driver, shots.with_name(shots.name + "-dark.jpg"))

    _set_theme(driver, "light")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        _settle(driver)
        overflow = driver.execute_script(site.OVERFLOW_JS)
        sliders = driver.execute_script(site.SLIDER_LAYOUT_JS)
        site.screenshot(driver, shots.with_name(shots.name + "-phone.png"), full_page=False)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    console, network = site.drain_logs(driver)
    offsite, failed, transferred = site.requests_summary(network, server.url)
    _VISITS[docname] = result = {
        "docname": docname,
        "url": url,
        "base": server.url,
        "shown": shown,
        "backgrounds": backgrounds,
        "light_images": light_images,
        "dark_images": dark_images,
        "overflow": overflow,
        "sliders": sliders,
        "output_scroll": output_scroll,
        "code_scroll": code_scroll,
        "figures": figures,
        "errors": [f"{e['source']}: {e['message']}" for e in console if e["level"] == "SEVERE"],
        "offsite": sorted(set(offsite)),
        "failed": sorted(set(failed)),
        "transferred": transferred,
    }
    return result


@pytest.fixture(params=PAGES)
def page(request, browser, server):
    return visit(browser, server, request.param)


# --- in the browser, every page of the table of contents --------------------------------------


def test_page_loads_without_errors_or_offsite_requests(page):
    assert not page["offsite"], "the page loads resources from outside the site:\n" + "\n".join(page["offsite"])
    assert not page["failed"], "failed requests:\n" + "\n".join(page["failed"])
    assert not page["errors"], "console errors:\n" + "\n".join(page["errors"])


def test_math_is_typeset(page):
    shown = page["shown"]
    assert not shown["mathUntypeset"], f"math left to MathJax but not typeset: {shown['mathUntypeset'][:5]}"
    assert not shown["mathErrors"], f"MathJax could not typeset: {shown['mathErrors'][:5]}"
    assert not shown["rawMath"], f"raw TeX in the visible text: {shown['rawMath'][:5]}"
    if shown["mathCount"]:
        assert shown["mjxCount"] >= shown["mathCount"], "MathJax output missing"


def test_images_load(page):
    broken = [img["src"] for img in page["shown"]["images"] if not img["complete"] or img["naturalWidth"] == 0]
    assert not broken, f"images that did not load: {broken}"


def test_internal_links_resolve(page):
    """Cross-references, citations, navigation: every link into the site reaches an anchor."""
    here = page["shown"]
    own_ids = set(here["ids"])
    bad = []
    for link in here["links"]:
        target = site.local_target(link["href"], page["base"])
        if target is None:
            continue
        path, fragment = target
        if not path.is_file():
            bad.append(f"{link['href']} ({link['text']!r}): no such page")
        elif fragment:
            same_page = link["href"].split("#")[0] == page["url"].split("#")[0]
            ids = own_ids if same_page else site.anchors(path)
            if fragment not in ids:
                bad.append(f"{link['href']} ({link['text']!r}): no anchor #{fragment}")
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_no_horizontal_overflow_on_a_phone(page):
    overflow = page["overflow"]
    assert overflow["scrollWidth"] <= overflow["clientWidth"], (
        f"at {PHONE['width']} px the page is {overflow['scrollWidth']} px wide; sticking out:\n"
        + "\n".join(overflow["culprits"])
    )


def test_no_output_block_scrolls_sideways_at_desktop_width(page):
    """At 1280 px no output of a code cell is wider than its box: no block scrolls sideways and
    no printed line is longer than the column (book.css wraps it, which breaks a table's
    columns): results are tables that fit, and other lines are short enough."""
    wide = [f"{o['scrollWidth']} px in {o['clientWidth']} px: {o['text']}" for o in page["output_scroll"]]
    assert not wide, f"{page['docname']}: {len(wide)} output blocks scroll sideways:\n" + "\n".join(wide)


def test_no_code_line_scrolls_sideways_at_desktop_width(page):
    """At 1280 px every line of code (a cell's, folded or not, or a block of the text) fits its
    box: the chapters keep to 80 characters (book/ruff.toml) and the column shows them."""
    wide = [f"{c['need']} px in {c['room']} px: {c['text']}" for c in page["code_scroll"]]
    assert not wide, f"{page['docname']}: {len(wide)} code lines wider than their box:\n" + "\n".join(wide)


def test_no_figure_twice_on_a_page(page):
    """No picture is shown twice on a page (a slider is the figure, not a copy after it)."""
    twice = site.same_figures(page["figures"])
    assert not twice, f"{page['docname']} shows the same figure twice: {twice}"


def test_sliders_fit_a_phone(page):
    """As many static sliders as the notebook makes, each inside a 390 px screen, its frame drawn smaller."""
    docname, width = page["docname"], page["overflow"]["clientWidth"]
    made = site.source_of(docname).read_text().count("igr.sliders.slider(") if docname in NOTEBOOK_PAGES else 0
    assert len(page["sliders"]) == made, f"{len(page['sliders'])} sliders shown, {made} made by the notebook"
    for slider in page["sliders"]:
        right = slider["figure"]["right"]
        assert right <= width + 0.5, f"{slider['id']} reaches {right:.0f} px on a {width} px screen"
        assert slider["img"]["width"] <= slider["figure"]["width"] + 0.5, "the image does not shrink to the screen"
        assert slider["img"]["width"] < slider["naturalWidth"], "at 390 px the frame must be drawn smaller"
        for part in slider["parts"]:
            assert part["width"] > 0 and part["right"] <= width + 0.5, f"{slider['id']}: the {part['name']} sticks out"


def test_dark_mode_applies_and_keeps_figures_readable(page):
    light_page, dark_page = page["backgrounds"]
    assert light_page > 0.9, f"light mode: page background luminance {light_page:.2f}"
    assert dark_page < 0.2, f"dark mode: page background luminance {dark_page:.2f}"
    light = {img["src"]: img for img in page["light_images"]}
    for img in page["dark_images"]:
        before = light[img["src"]]["luminance"]
        assert abs(img["luminance"] - before) <= LUMINANCE_TOLERANCE, (
            f"{img['src']} looks different in dark mode (mean luminance {img['luminance']:.2f}, "
            f"{before:.2f} in light mode, backdrop {img['backdrop']})"
        )


def test_solutions_start_collapsed(page):
    shown = [s["label"] for s in page["shown"]["solutions"] if s["visible"]]
    assert not shown, f"solutions visible before the reader opens them: {shown}"


def test_page_weight(page):
    own = {
        url: size
        for url, size in page["transferred"].items()
        if not urllib.parse.urlsplit(url).path.startswith(("/_static/", "/searchindex.js"))
    }
    total = sum(own.values())
    largest = sorted(own.items(), key=lambda kv: -kv[1])[:5]
    assert total <= PAGE_BUDGET_BYTES, f"page weighs {total / 1e6:.2f} MB; largest: {largest}"


def test_search_finds_the_operator_series_chapter(browser, server):
    assert OPERATOR_SERIES_CHAPTER in PAGES
    browser.get(server.url + "search.html?q=Bernoulli")
    hrefs = browser.execute_async_script(
        r"""
        const done = arguments[arguments.length - 1];
        const start = Date.now();
        (function poll() {  // until Sphinx's search says it has finished
          const summary = document.querySelector("#search-results .search-summary");
          const finished = summary && /finished|did not match/.test(summary.textContent);
          if (finished || Date.now() - start > 20000) {
            done([...document.querySelectorAll("#search-results ul.search li a")].map((a) => a.href));
          } else setTimeout(poll, 100);
        })();
        """
    )
    site.screenshot(browser, site.SCREENSHOTS / "search-Bernoulli.png", full_page=False)
    paths = [urllib.parse.urlsplit(h).path for h in hrefs]
    assert f"/{OPERATOR_SERIES_CHAPTER}.html" in paths, f"search for 'Bernoulli' found {paths}"


# --- in the built HTML -------------------------------------------------------------------------


def _expected_links(docname):
    cfg = site.config()
    repo = cfg["repository"]
    url = repo["url"].rstrip("/")
    owner_repo = urllib.parse.urlsplit(url).path.strip("/")
    branch = repo.get("branch", "main")
    path = "/".join(p for p in (repo.get("path_to_book", "").strip("/"), f"{docname}.ipynb") if p)
    launch = cfg["launch_buttons"]
    binder = launch["binderhub_url"].rstrip("/")
    colab = launch["colab_url"].rstrip("/")
    ui = "lab/tree" if launch.get("notebook_interface") == "jupyterlab" else "tree"
    return {
        "repository": url,
        "binder": f"{binder}/v2/gh/{owner_repo}/{branch}?urlpath={ui}/{path}",
        "colab": f"{colab}/github/{owner_repo}/blob/{branch}/{path}",
    }


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_launch_and_download_buttons(built_site, docname):
    text = site.html_of(docname).read_text(encoding="utf-8")
    hrefs = set(re.findall(r'href="([^"]+)"', text))
    expected = _expected_links(docname)
    for name, href in expected.items():
        assert href in hrefs, f"no {name} link {href} on {docname}.html"
    downloads = [h for h in hrefs if h.endswith(".ipynb") and "_sources/" in h]
    assert downloads, f"no download link to the .ipynb on {docname}.html"
    for href in downloads:
        served = (site.html_of(docname).parent / href).resolve()
        assert json.loads(served.read_text()) == json.loads(site.source_of(docname).read_text()), (
            f"{href} is not the chapter's notebook"
        )


def test_no_page_refers_to_an_external_script_style_or_image(built_site):
    """Static counterpart of the browser check, so it also runs where Chromium is missing."""
    pattern = re.compile(r'<(script|img|link|iframe)\b[^>]*?\b(src|href)="(https?:)?//[^"]*"[^>]*>', re.I)
    pages = [site.html_of(d) for d in PAGES]
    pages += [p for p in (built_site / n for n in ("index.html", "search.html", "genindex.html")) if p.is_file()]
    bad = []
    for html in pages:
        for match in pattern.finditer(html.read_text(encoding="utf-8")):
            tag = match.group(0)
            if match.group(1).lower() == "link" and not re.search(r'rel="(stylesheet|preload|icon|modulepreload)', tag):
                continue
            bad.append(f"{html.relative_to(built_site)}: {tag[:160]}")
    assert not bad, "\n".join(bad)


def test_api_page_documents_every_export(built_site):
    ids = site.anchors(site.html_of("book/api"))
    public = []
    for name in igrlib.__all__:
        obj = getattr(igrlib, name)
        if getattr(obj, "__name__", "") == f"igrlib.{name}":  # a module, documented member by member
            public += [f"igrlib.{name}.{member}" for member in getattr(obj, "__all__", [])]
        else:
            public.append(f"igrlib.{name}")
    missing = [name for name in public if name not in ids]
    assert not missing, f"book/api.md does not document: {missing}"


def test_colab_install_cells_point_at_the_repository():
    """A chapter that installs igrlib on Colab installs it from the configured repository."""
    repo = site.config()["repository"]
    url = repo["url"].rstrip("/")
    for docname in NOTEBOOK_PAGES:
        cells = json.loads(site.source_of(docname).read_text())["cells"]
        for cell in cells:
            source = re.sub(r"\\\n\s*", " ", "".join(cell["source"]))  # a magic continued with a backslash
            for target in re.findall(r"pip install[^\n]*?git\+(\S+?)(?:\.git)?(?:@([\w./-]+))?[\"'\s]", source + "\n"):
                where, branch = target
                assert where.rstrip("/") == url, f"{docname} installs igrlib from {where}, not {url}"
                assert branch in ("", repo.get("branch", "main")), f"{docname} installs branch {branch}"
