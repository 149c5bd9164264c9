"""The website's sliders (igrlib.sliders) in headless Chromium: they move with no kernel behind the page.

Every chapter whose notebook calls ``igr.sliders.slider`` must show, on its built page,
the static slider (not a dead widget), and in the browser: the range input takes the
keyboard focus, the arrow, End and Home keys move it, and the image, its ``alt`` text
and the visible value label follow. One page is also opened from ``file://``, as a reader
who downloaded the site would. That each slider fits a 390 px phone is checked in
tests/test_website.py, which already looks at every page on a phone.

Uses the built site, the local server and the browser of tests/conftest.py (skipped with
the reason where Chromium or the build is missing, failing instead with CI=true or
IGR_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import json

import _website as site
import pytest

SLIDER_PAGES = [d for d in site.notebook_docnames() if "igr.sliders.slider(" in site.source_of(d).read_text()]

# Everything the test needs to know about the sliders of the page, read in the browser.
SLIDERS_JS = r"""
return [...document.querySelectorAll(".igr-slider")].map((root) => {
  const input = root.querySelector("input[type=range]");
  const output = root.querySelector("output");
  const img = root.querySelector("img");
  const data = JSON.parse(root.querySelector(".igr-slider-data").textContent);
  const visible = (e) => e.getBoundingClientRect().width > 0 && e.checkVisibility({visibilityProperty: true});
  return {
    id: root.id,
    labels: data.labels,
    frames: data.frames.length,
    value: Number(input.value),
    min: Number(input.min),
    max: Number(input.max),
    src: img.src,
    alt: img.alt,
    text: output.textContent,
    valuetext: input.getAttribute("aria-valuetext"),
    labelText: [...input.labels].map((l) => l.textContent.trim()),
    outputFor: output.htmlFor.value,
    inputId: input.id,
    focusable: !input.disabled && input.tabIndex >= 0,
    outputVisible: visible(output),
    inputVisible: visible(input),
    imgLoaded: img.complete && img.naturalWidth > 0,
  };
});
"""

STATE_JS = r"""
const root = document.getElementById(arguments[0]);
const input = root.querySelector("input[type=range]"), img = root.querySelector("img");
const data = JSON.parse(root.querySelector(".igr-slider-data").textContent);
return {
  value: Number(input.value),
  src: img.src,
  frame: "data:image/png;base64," + data.frames[Number(input.value)],
  alt: img.alt,
  text: root.querySelector("output").textContent,
  valuetext: input.getAttribute("aria-valuetext"),
  focused: document.activeElement === input,
};
"""

def _load(driver, url):
    site.drain_logs(driver)
    driver.get(url)
    ready = driver.execute_async_script(site.WAIT_READY_JS)
    assert ready is True, f"{url} did not finish loading: {ready}"
    return driver.execute_script(SLIDERS_JS)


def _press(driver, slider_id, key):
    """Give the slider's range input the keyboard focus and press one key."""
    from selenium.webdriver.common.action_chains import ActionChains

    driver.execute_script(
        "const i = document.getElementById(arguments[0]).querySelector('input[type=range]');"
        "i.scrollIntoView({block: 'center'}); i.focus();",
        slider_id,
    )
    ActionChains(driver).send_keys(key).perform()
    return driver.execute_script(STATE_JS, slider_id)


def _check_keyboard(driver, slider):
    """An arrow key, Home and End move the slider; image, alt, label and aria-valuetext follow."""
    from selenium.webdriver.common.keys import Keys

    labels = slider["labels"]
    assert slider["frames"] == len(labels) == slider["max"] - slider["min"] + 1 >= 2
    assert slider["focusable"], "the range input must take the keyboard focus"
    assert slider["labelText"] and slider["labelText"][0], "the range input needs a visible <label>"
    assert slider["outputFor"] == slider["inputId"] and slider["outputVisible"], "the value label must show"
    assert slider["imgLoaded"], "the first frame did not load"
    start = slider["value"]
    assert slider["text"] == slider["valuetext"] == labels[start]
    assert slider["alt"].endswith(f" = {labels[start]})")

    last = len(labels) - 1
    arrow = ("ArrowRight", Keys.ARROW_RIGHT, start + 1) if start < last else ("ArrowLeft", Keys.ARROW_LEFT, start - 1)
    before = slider
    for name, key, expected in [arrow, ("Home", Keys.HOME, 0), ("End", Keys.END, last)]:
        state = _press(driver, slider["id"], key)
        assert state["focused"], f"{name}: the range input lost the focus"
        assert state["value"] == expected, f"{name} moved the slider to {state['value']}, not {expected}"
        assert state["src"] == state["frame"], f"{name}: the image is not the frame of value {labels[expected]}"
        if expected != before["value"]:
            assert state["src"] != before["src"], f"{name}: the displayed image did not change"
        assert state["text"] == labels[expected], f"{name}: the label shows {state['text']!r}, not {labels[expected]!r}"
        assert state["valuetext"] == labels[expected], f"{name}: aria-valuetext is {state['valuetext']!r}"
        assert state["alt"] == slider["alt"].rsplit(" = ", 1)[0] + f" = {labels[expected]})", (
            f"{name}: the image's alt text does not follow: {state['alt'][-60:]!r}"
        )
        before = state
    loaded = driver.execute_script(
        "const img = document.getElementById(arguments[0]).querySelector('img');"
        "return img.complete && img.naturalWidth;",
        slider["id"],
    )
    assert loaded, "the last frame shown did not load"


def test_every_chapter_with_a_slider_is_found():
    """The chapters the issue names call igr.sliders.slider (the list below is not empty by accident)."""
    for docname in ("book/02_euler", "book/04_implicit_penalty"):
        assert docname in SLIDER_PAGES, f"{docname} has no igr.sliders.slider cell"


@pytest.mark.parametrize("docname", SLIDER_PAGES)
def test_the_website_shows_the_static_slider(built_site, docname):
    text = site.html_of(docname).read_text(encoding="utf-8")
    calls = site.source_of(docname).read_text().count("igr.sliders.slider(")
    shown = text.count('<figure class="igr-slider"')
    assert shown == calls, (
        f"{docname}.html shows {shown} static sliders for {calls} in the notebook"
        " (is the widget view ranked above text/html in _config.yml?)"
    )


@pytest.mark.parametrize("docname", SLIDER_PAGES)
def test_slider_moves_with_the_keyboard(browser, server, docname):
    sliders = _load(browser, server.url + docname + ".html")
    assert sliders, f"no .igr-slider on {docname}.html"
    for slider in sliders:
        _check_keyboard(browser, slider)
    console, network = site.drain_logs(browser)
    offsite, failed, _ = site.requests_summary(network, server.url)
    assert not offsite and not failed, f"requests off the site or failed: {offsite + failed}"
    errors = [e["message"] for e in console if e["level"] == "SEVERE"]
    assert not errors, "console errors:\n" + "\n".join(errors)


def test_slider_moves_from_a_file_url(browser, built_site):
    """The downloaded site, opened from the disk: no server, no network, the slider still moves."""
    if not SLIDER_PAGES:
        pytest.skip("no chapter has a slider")
    docname = SLIDER_PAGES[0]
    url = site.html_of(docname).resolve().as_uri()
    sliders = _load(browser, url)
    assert sliders, f"no .igr-slider on {url}"
    _check_keyboard(browser, sliders[0])
    console, network = site.drain_logs(browser)
    offsite, _, _ = site.requests_summary(network, "file://")
    assert not offsite, f"from file:// the page asked the network for: {offsite}"
    errors = [e["message"] for e in console if e["level"] == "SEVERE"]
    assert not errors, "console errors:\n" + "\n".join(errors)


def test_slider_cells_carry_the_widget_and_the_static_slider():
    """One object, two views: the live widget for Jupyter and the HTML the website shows."""
    for docname in SLIDER_PAGES:
        nb = json.loads(site.source_of(docname).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] != "code" or "igr.sliders.slider(" not in "".join(cell["source"]):
                continue
            tags = cell["metadata"].get("tags", [])
            assert "nbval-ignore-output" in tags and "remove-input" in tags, f"{docname}: slider cell tags {tags}"
            bundles = [o["data"] for o in cell["outputs"] if "data" in o]
            assert len(bundles) == 1, f"{docname}: the slider cell must display one object"
            assert {"text/html", "application/vnd.jupyter.widget-view+json"} <= set(bundles[0]), (
                f"{docname}: the slider cell must carry the live widget and the static slider"
            )
