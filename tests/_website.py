"""Helpers for tests/test_website.py: the built site, a local web server and headless Chromium.

The browser is Debian's Chromium driven by Selenium through the system chromedriver
(`apt-get install chromium chromium-driver`); nothing is downloaded.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import json
import os
import pathlib
import shutil
import tempfile
import threading
import urllib.parse

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    # Any host other than the local server fails at once, without a DNS look-up.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def browser_required():
    """True where the browser tests must run rather than skip (CI, or asked for)."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("IGR_REQUIRE_BROWSER", "") == "1"


def unavailable(reason):
    """Skip a browser test with the reason, or fail it where the browser tests are required."""
    import pytest

    if browser_required():
        pytest.fail(f"{reason}; required here (CI=true or IGR_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


def config():
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def toc_docnames():
    """Every page the table of contents lists, in reading order (root first)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return names


def source_of(docname):
    """The source file of a page (.md or .ipynb)."""
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{docname}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"_toc.yml lists {docname}, which has no .md or .ipynb")


def html_of(docname):
    return SITE / f"{docname}.html"


def notebook_docnames():
    return [d for d in toc_docnames() if source_of(d).suffix == ".ipynb"]


def stale_pages():
    """The pages whose HTML is missing or older than their source."""
    return [
        d for d in toc_docnames()
        if not html_of(d).is_file() or html_of(d).stat().st_mtime < source_of(d).stat().st_mtime
    ]


class _Anchors(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                self.ids.add(value)


@functools.cache
def anchors(path):
    """The ids (and <a name>) in a built HTML file."""
    parser = _Anchors()
    parser.feed(pathlib.Path(path).read_text(encoding="utf-8"))
    return frozenset(parser.ids)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


class SiteServer:
    """Serve a folder on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def find_browser():
    """Paths of chromium and chromedriver, or a reason why the browser tests cannot run."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        return None, None, "Chromium not installed (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "selenium not installed (pip install -r requirements.txt)"
    return chromium, driver, None


def start_chromium(chromium, chromedriver):
    """Headless Chromium with a fresh profile, logging console messages and network events."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Never let Selenium Manager look for (or download) a browser or driver.
    os.environ["SE_OFFLINE"] = "true"
    profile = tempfile.mkdtemp(prefix="igr-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    driver.execute_cdp_cmd("Network.enable", {})
    # Every load is a first visit: page weights count everything the page needs.
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    driver.igr_profile = profile
    return driver


def stop_chromium(driver):
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.igr_profile, ignore_errors=True)


# Wait until the page has finished what a reader waits for: the document, MathJax's
# typesetting, every image (lazy ones too, so hidden solutions count) and the widgets.
WAIT_READY_JS = r"""
const done = arguments[arguments.length - 1];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  while (document.readyState !== "complete") await sleep(50);
  for (let i = 0; i < 200 && window.MathJax && !(MathJax.startup && MathJax.startup.promise); i++) await sleep(50);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const images = [...document.images];
  images.forEach((img) => { if (img.loading === "lazy") img.loading = "eager"; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((r) => {
    img.addEventListener("load", r); img.addEventListener("error", r); setTimeout(r, 15000);
  })));
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  for (let i = 0; i < 200 && views.length && !document.querySelector(".jupyter-widgets"); i++) await sleep(50);
  await sleep(300);
  done(true);
})().catch((e) => done("error: " + e));
"""

# What the page shows, measured in the browser.
INSPECT_JS = r"""
const skip = "pre, code, script, style, textarea, noscript, mjx-container, .highlight";
const raw = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const pattern = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$\\[A-Za-z]/;
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (node.parentElement.closest(skip)) continue;
  if (pattern.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 120));
}
const math = [...document.querySelectorAll("span.math, div.math")];
return {
  theme: document.documentElement.dataset.theme || "",
  rawMath: raw,
  mathCount: math.length,
  mathUntypeset: math.filter((e) => !e.querySelector("mjx-container")).map((e) => e.textContent.trim().slice(0, 120)),
  mathErrors: [...document.querySelectorAll("mjx-merror")].map((e) => e.textContent.slice(0, 120)),
  mjxCount: document.querySelectorAll("mjx-container").length,
  images: [...document.images].map((img) => ({
    src: img.currentSrc || img.src, complete: img.complete, naturalWidth: img.naturalWidth,
  })),
  links: [...document.querySelectorAll("a[href]")].map((a) => ({
    href: a.href, cls: a.className, text: a.textContent.trim().slice(0, 60),
    inArticle: !!a.closest(".bd-article"),
  })),
  ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
  solutions: [...document.querySelectorAll(".bd-article .solution")].map((s) => {
    const body = [...s.children].filter((c) => !c.classList.contains("admonition-title"));
    return {
      label: (s.id || s.textContent.trim().slice(0, 40)),
      visible: body.some((c) => c.getBoundingClientRect().height > 0 &&
        c.checkVisibility({visibilityProperty: true, opacityProperty: true})),
    };
  }),
};
"""

# Each content image composited on what is really behind it (its own background or the
# nearest ancestor's), reduced to a mean luminance in [0, 1]. A figure looks the same in
# light and dark mode when the two means agree.
IMAGE_LUMINANCE_JS = r"""
function backdrop(el) {
  for (let e = el; e; e = e.parentElement) {
    const m = getComputedStyle(e).backgroundColor.match(/[\d.]+/g);
    if (m && (m.length < 4 || +m[3] > 0)) return m.slice(0, 3).map(Number);
  }
  return [255, 255, 255];
}
const out = [];
for (const img of document.querySelectorAll(".bd-article img")) {
  if (!img.naturalWidth) continue;
  const scale = Math.min(1, 300 / img.naturalWidth);
  const w = Math.max(1, Math.round(img.naturalWidth * scale));
  const h = Math.max(1, Math.round(img.naturalHeight * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  const [r0, g0, b0] = backdrop(img);
  ctx.fillStyle = `rgb(${r0},${g0},${b0})`;
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(img, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
  out.push({src: img.currentSrc || img.src, luminance: sum / (255 * data.length / 4), backdrop: [r0, g0, b0]});
}
return out;
"""

# Relative luminance in [0, 1] of the page's background colour, as the theme paints it.
BACKGROUND_LUMINANCE_JS = r"""
const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/[\d.]+/g).map(Number);
return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
"""

# Elements that stick out to the right of the layout viewport, outermost first, ignoring
# those inside a box that scrolls or clips horizontally.
OVERFLOW_JS = r"""
const width = document.documentElement.clientWidth;
const culprits = [];
for (const el of document.body.querySelectorAll("*")) {
  const rect = el.getBoundingClientRect();
  if (rect.width === 0 || rect.right <= width + 1) continue;
  let clipped = getComputedStyle(el).position === "fixed";
  for (let a = el.parentElement; a && a !== document.body && !clipped; a = a.parentElement) {
    const style = getComputedStyle(a);
    clipped = style.overflowX !== "visible" || style.position === "fixed";
  }
  if (clipped) continue;
  if (culprits.some((c) => c.el.contains(el))) continue;
  culprits.push({el, right: Math.round(rect.right)});
}
return {
  clientWidth: width,
  scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
  culprits: culprits.slice(0, 8).map((c) =>
    `${c.el.tagName.toLowerCase()}.${[...c.el.classList].join(".")} right=${c.right}px: ` +
    c.el.textContent.trim().replace(/\s+/g, " ").slice(0, 60)),
};
"""


# Where the parts of every slider (igrlib.sliders) sit, against the width of the page.
SLIDER_LAYOUT_JS = r"""
const box = (e) => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, width: r.width}; };
return [...document.querySelectorAll(".igr-slider")].map((root) => ({
  id: root.id,
  figure: box(root),
  img: box(root.querySelector("img")),
  naturalWidth: root.querySelector("img").naturalWidth,
  parts: ["label", "input", "output"].map((s) => ({name: s, ...box(root.querySelector(s))})),
}));
"""

def drain_logs(driver):
    """Console messages and network events since the last call."""
    console = driver.get_log("browser")
    network = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    return console, network


def requests_summary(network, base_url):
    """Off-site requests, failed requests and bytes per URL from Chromium's network events."""
    urls, sizes, offsite, failed = {}, {}, [], []
    for event in network:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            if not (url.startswith(base_url) or url.split(":", 1)[0] in ("data", "blob", "about")):
                offsite.append(url)
        elif method == "Network.responseReceived":
            status = params["response"]["status"]
            if status >= 400:
                failed.append(f"{params['response']['url']}: HTTP {status}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params["requestId"], params["requestId"])
            failed.append(f"{url}: {params.get('errorText')} {params.get('blockedReason') or ''}".strip())
        elif method == "Network.loadingFinished":
            sizes[params["requestId"]] = params.get("encodedDataLength", 0)
    transferred = {}
    for request_id, size in sizes.items():
        url = urls.get(request_id)
        if url and url.startswith(base_url):
            transferred[url] = transferred.get(url, 0) + size
    return offsite, failed, transferred


def local_target(url, base_url):
    """(file in the built site, fragment) for a link on the local server, else None."""
    if not url.startswith(base_url):
        return None
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.unquote(parts.path).lstrip("/")
    target = SITE / path
    if path == "" or path.endswith("/"):
        target = target / "index.html"
    return target, urllib.parse.unquote(parts.fragment)


def screenshot(driver, path, full_page=True, max_height=30000):
    """Save the viewport as PNG, or the whole page (as a window as tall as the page) as JPEG.

    A whole chapter is some 20,000 px tall: JPEG encodes it in a third of PNG's time, and the
    whole-page screenshots are taken only with IGR_SCREENSHOTS=1.
    """
    import base64

    if full_page and os.environ.get("IGR_SCREENSHOTS", "") != "1":
        return  # whole pages take seconds each to lay out and encode: only when asked for
    params = {"format": "png"}
    if full_page:
        width, height = driver.execute_script(
            "return [window.innerWidth, Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)]"
        )
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(height, max_height), "deviceScaleFactor": 1, "mobile": False},
        )
        params = {"format": "jpeg", "quality": 85}
    try:
        data = driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]
    finally:
        if full_page:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(data))


# ---- Output blocks and figures at desktop width (issue: nothing cut off, one figure per idea) ----

# Every output block of a code cell that is wider than its box at this width: one that
# scrolls sideways, or a printed line longer than the box (book.css wraps such lines instead of
# letting them scroll, which keeps a sentence readable but breaks a table's columns; either
# way the output needs reshaping), with its widths and its first characters.
OUTPUT_SCROLL_JS = r"""
const found = [];
const ctx = document.createElement("canvas").getContext("2d");
for (const out of document.querySelectorAll(".bd-article .cell_output")) {
  for (const el of [out, ...out.querySelectorAll("pre, table, .output, div.highlight")]) {
    let need = el.scrollWidth;
    if (el.tagName === "PRE") {
      const style = getComputedStyle(el);
      ctx.font = style.font;
      const lines = el.textContent.split("\n");
      const widest = Math.max(...lines.map((line) => ctx.measureText(line).width));
      need = Math.max(need, Math.ceil(widest + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight)));
    }
    if (need > el.clientWidth + 1 && el.clientWidth > 0) {
      found.push({scrollWidth: need, clientWidth: el.clientWidth,
                  text: el.textContent.trim().replace(/\s+/g, " ").slice(0, 80)});
      break;
    }
  }
}
return found;
"""

# Code that scrolls sideways at desktop width: every code block of the article that is not a
# cell's output (cell inputs, folded ones opened for the measure, and code blocks of the text),
# each line measured in the block's own font against the room inside its padding.
CODE_SCROLL_JS = r"""
const closed = [...document.querySelectorAll(".bd-article details:not([open])")];
closed.forEach((d) => { d.open = true; });
const found = [];
const ctx = document.createElement("canvas").getContext("2d");
for (const pre of document.querySelectorAll(".bd-article div.highlight pre")) {
  if (pre.closest(".cell_output") || pre.clientWidth === 0) continue;
  const style = getComputedStyle(pre);
  ctx.font = style.font;
  const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  for (const line of pre.textContent.split("\n")) {
    const width = ctx.measureText(line).width;
    if (width > room + 1) {
      found.push({need: Math.ceil(width), room: Math.floor(room), text: line.trim().slice(0, 90)});
    }
  }
}
closed.forEach((d) => { d.open = false; });
return found;
"""

# Every figure on the page (cell outputs and slider frames) cropped to what is drawn (the
# bounding box of its non-white pixels: a slider's frames keep the margins a static figure's
# tight box cuts off), as a 32 x 32 grey-level thumbnail (values in [0, 1]) and the aspect
# ratio of the drawn part, to tell whether two are the same picture.
FIGURE_SIGNATURES_JS = r"""
const out = [];
const big = document.createElement("canvas");
const bctx = big.getContext("2d", {willReadFrequently: true});
const small = document.createElement("canvas");
small.width = 32; small.height = 32;
const sctx = small.getContext("2d", {willReadFrequently: true});
for (const img of document.querySelectorAll(".bd-article .cell_output img, .bd-article figure img")) {
  if (!img.naturalWidth || !img.naturalHeight) continue;
  big.width = 320; big.height = Math.max(1, Math.round(320 * img.naturalHeight / img.naturalWidth));
  bctx.fillStyle = "#ffffff"; bctx.fillRect(0, 0, big.width, big.height);
  bctx.drawImage(img, 0, 0, big.width, big.height);
  const px = bctx.getImageData(0, 0, big.width, big.height).data;
  let x0 = big.width, y0 = big.height, x1 = -1, y1 = -1;
  for (let y = 0; y < big.height; y++) for (let x = 0; x < big.width; x++) {
    const i = 4 * (y * big.width + x);
    if (px[i] + px[i + 1] + px[i + 2] < 3 * 235) {
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  if (x1 < x0) continue;  // blank
  sctx.fillStyle = "#ffffff"; sctx.fillRect(0, 0, 32, 32);
  sctx.drawImage(big, x0, y0, x1 - x0 + 1, y1 - y0 + 1, 0, 0, 32, 32);
  const data = sctx.getImageData(0, 0, 32, 32).data;
  const grey = [];
  for (let i = 0; i < data.length; i += 4) {
    grey.push((0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2]) / 255);
  }
  const figure = img.closest("figure");
  const caption = figure && figure.querySelector("figcaption");
  out.push({src: (img.currentSrc || img.src).slice(-60), aspect: (x1 - x0 + 1) / (y1 - y0 + 1), grey,
            caption: caption ? caption.textContent.trim().slice(0, 60) : (img.alt || "").slice(0, 60),
            visible: img.getBoundingClientRect().height > 0});
}
return out;
"""


def same_figures(signatures, *, aspect_tolerance=0.03, grey_tolerance=0.04, min_correlation=0.58):
    """Pairs (caption or alt text, caption or alt text, difference, correlation) of figures on a
    page that show the same picture: drawn parts of the same aspect ratio (within
    ``aspect_tolerance``) whose 32 x 32 thumbnails differ by less than ``grey_tolerance`` in
    mean grey level and whose ink (1 - grey) correlates above ``min_correlation``.

    Measured on the book's pages when every slider still followed a static copy of its figure:
    the six copies (a slider's frame against the static figure drawn by the same function at
    the same value) differed by 0.012 to 0.035 with correlation 0.67 to 0.91; the eleven pairs
    of different figures of the same aspect ratio by 0.045 or more, with correlation at most
    0.47. Either measure alone separates them; both must agree to call two figures the same."""
    pairs = []
    shown = [s for s in signatures if s["visible"]]
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            if abs(a["aspect"] - b["aspect"]) > aspect_tolerance * a["aspect"]:
                continue
            diff = sum(abs(x - y) for x, y in zip(a["grey"], b["grey"], strict=True)) / len(a["grey"])
            ink_a, ink_b = [1 - x for x in a["grey"]], [1 - y for y in b["grey"]]
            norm = (sum(x * x for x in ink_a) * sum(y * y for y in ink_b)) ** 0.5
            corr = sum(x * y for x, y in zip(ink_a, ink_b, strict=True)) / norm if norm else 0.0
            if diff < grey_tolerance and corr > min_correlation:
                pairs.append((a["caption"] or a["src"], b["caption"] or b["src"], round(diff, 4), round(corr, 3)))
    return pairs
