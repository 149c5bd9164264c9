"""make lab: JupyterLab starts from the book's environment, serves the chapters and runs a kernel.

A headless smoke test on 127.0.0.1 with a token, through JupyterLab's own REST and kernel
protocol (no browser): the server answers, lists the chapters, and a python3 kernel started by
it imports igrlib and builds a live slider (an ipywidgets widget) without error. Then a reader's
session in the system Chromium (as tests/test_website.py drives it): JupyterLab opens a fresh copy
of a chapter, its exercises render as boxes (jupyterlab-myst), not as MyST source, Run > Run All
Cells runs every code cell without an error, and pressing an arrow key on the live slider redraws
its figure. Skipped without Chromium, required with CI=true or
IGR_REQUIRE_BROWSER=1.
"""

import contextlib
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(notebook_dir, runtime, *extra):
    """JupyterLab on 127.0.0.1 with a fresh token over ``notebook_dir``; yields (base URL, token)."""
    if shutil.which("jupyter-lab", path=str(BIN)) is None:
        pytest.skip("JupyterLab is not installed (pip install -r requirements.txt)")
    port, token = free_port(), secrets.token_hex(16)
    proc = subprocess.Popen(
        [
            str(BIN / "jupyter-lab"),
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--notebook-dir={notebook_dir}",
            *extra,
        ]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "OPENBLAS_NUM_THREADS": "1"},
        cwd=notebook_dir,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("jupyter lab exited: " + proc.stderr.read().decode()[-2000:])
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


CHAPTER = "02_euler.ipynb"  # a short chapter (about 5 s) with a live slider
COPY = ROOT / "_build" / "lab-test"  # where the browser test opens a fresh copy of it


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab over the repository, as `make lab` starts it, with a fresh copy of one chapter in
    _build/lab-test/ (so that autosave never touches book/), rendering every cell."""
    import nbformat

    shutil.rmtree(COPY, ignore_errors=True)
    COPY.mkdir(parents=True)
    nb = nbformat.read(ROOT / "book" / CHAPTER, as_version=4)
    for cell in nb.cells:  # a fresh copy: no stored output or count, so every one the test sees is new
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, COPY / CHAPTER)
    # Render every cell (JupyterLab 4 otherwise draws only the cells near the viewport).
    own = tmp_path_factory.mktemp("lab")
    settings = own / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    extra = (
        f"--LabApp.user_settings_dir={own / 'settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    )
    try:
        with running_lab(ROOT, own / "runtime", *extra) as served:
            yield served
    finally:
        shutil.rmtree(COPY, ignore_errors=True)


def get(base, token, path):
    with urllib.request.urlopen(f"{base}{path}?token={token}", timeout=10) as r:
        return r.status, r.read()


def test_lab_serves_the_book(lab):
    base, token = lab
    status, page = get(base, token, "/lab")
    assert status == 200 and b"JupyterLab" in page
    listing = json.loads(get(base, token, "/api/contents/book")[1])
    names = {item["name"] for item in listing["content"]}
    assert {"01_steepest_descent.ipynb", "08_study.ipynb"} <= names
    specs = json.loads(get(base, token, "/api/kernelspecs")[1])
    assert "python3" in specs["kernelspecs"]


def test_a_kernel_of_the_lab_runs_a_live_slider(lab):
    from jupyter_client.manager import start_new_kernel

    # The kernel JupyterLab starts (python3 of this environment) shows a slider as a live
    # ipywidgets view, and moving it redraws the figure with the new value.
    km, kc = start_new_kernel(kernel_name="python3")
    out = []
    try:
        code = (
            "import json, igrlib as igr, ipywidgets, matplotlib\n"
            "matplotlib.use('Agg')\n"
            "import matplotlib.pyplot as plt\n"
            "drawn = []\n"
            "def draw(x=1.0):\n"
            "    drawn.append(x); fig, ax = plt.subplots(); ax.plot([0, x]); return fig\n"
            "s = igr.sliders.slider(draw, 'x', [1.0, 2.0], label='x', alt='a line of slope x')\n"
            "bundle = s._repr_mimebundle_()\n"
            "box = s.widget(); control = box.children[0]\n"
            "control.value = 2.0\n"
            "print(json.dumps({'view': 'application/vnd.jupyter.widget-view+json' in bundle,\n"
            "                  'widget': isinstance(box, ipywidgets.Widget), 'drawn': drawn}))\n"
        )
        reply = kc.execute_interactive(code, timeout=120, output_hook=out.append)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", reply["content"]
    text = "".join(m["content"].get("text", "") for m in out if m["msg_type"] == "stream")
    result = json.loads(text.strip().splitlines()[-1])
    assert result["view"] and result["widget"]
    assert result["drawn"][-1] == 2.0  # moving the slider redrew the figure at the new value


# --- JupyterLab itself, driven in the system Chromium --------------------------------------------

RUN_STATE_JS = """
const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '');
const errors = [...document.querySelectorAll('.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => /Traceback|Error/.test(t));
const counts = prompts.map(p => (p.match(/\\[(\\d+)\\]/) || [])[1]).filter(Boolean).map(Number);
return {cells: cells.length, waiting: cells.length - counts.length, last: Math.max(0, ...counts), errors: errors};
"""

FIGURES_JS = """
return [...document.querySelectorAll('.jp-Notebook .widget-output img, .jp-Notebook .jupyter-widgets-output-area img')]
  .map(img => img.src.slice(-200));
"""


@pytest.fixture(scope="module")
def lab_in_browser(lab):
    """The JupyterLab of ``lab`` on the fresh copy of the chapter, and Chromium."""
    sys.path.insert(0, str(ROOT / "tests"))
    import _website as site

    chromium, chromedriver, reason = site.find_browser()
    if reason:
        site.unavailable(reason)
    base, token = lab
    driver = site.start_chromium(chromium, chromedriver)
    try:
        yield driver, f"{base}/lab/tree/{COPY.relative_to(ROOT).as_posix()}/{CHAPTER}?token={token}"
    finally:
        site.stop_chromium(driver)


def _wait(condition, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


# The rendered markdown cells (jupyterlab-myst draws them in a div.myst): each exercise box with
# its title, and any text that is still MyST source.
MYST_JS = r"""
const rendered = [...document.querySelectorAll('.jp-Notebook .jp-MarkdownCell .myst')];
// (solutions are drawn with the same class; their titles start "Solution")
const boxes = [...document.querySelectorAll('.jp-Notebook .jp-MarkdownCell aside.myst-exercise')]
  .filter((b) => /^Exercise/.test((b.querySelector('.myst-exercise-title') || b).textContent.trim()));
const source = /:label:|\{(exercise|solution|solution-start|eq|numref|doc|cite|ref|prf:ref|prf:theorem)\}/;
return {
  rendered: rendered.length,
  exercises: boxes.map((b) => ({
    title: (b.querySelector('.myst-exercise-title') || b).textContent.trim().replace(/\s+/g, ' '),
    height: b.getBoundingClientRect().height,
  })),
  raw: rendered.map((m) => m.textContent).filter((t) => source.test(t)).map((t) => t.slice(0, 160)),
};
"""


def test_exercises_render_as_boxes_in_jupyterlab(lab_in_browser):
    """jupyterlab-myst (requirements.in) renders the chapter's MyST: each exercise is a box with its
    title, and no markdown cell shows directive or role source."""
    import nbformat

    driver, url = lab_in_browser
    titles = [re.sub(r"\$[^$]*\$|\{[a-z:]+\}`[^`]*`", "", m.group(1)).strip()
              for c in nbformat.read(ROOT / "book" / CHAPTER, as_version=4).cells if c.cell_type == "markdown"
              for m in re.finditer(r"^(?:`{3,}|:{3,})\{exercise\}[ \t]*(.*)$", c.source, re.M)]
    assert len(titles) >= 2
    driver.get(url)
    end, state = time.monotonic() + 90, {"exercises": []}
    while len(state["exercises"]) < len(titles) and time.monotonic() < end:
        time.sleep(0.5)
        state = driver.execute_script(MYST_JS)
    assert len(state["exercises"]) == len(titles), f"exercise boxes: {state}"
    assert not state["raw"], "markdown cells show MyST source:\n" + "\n".join(state["raw"])
    for title, box in zip(titles, state["exercises"], strict=True):
        assert title.split()[0] in box["title"] and title.split()[-1] in box["title"], (title, box)
        assert box["height"] > 40, box  # drawn as a box, not collapsed


def test_a_chapter_runs_in_jupyterlab_and_its_live_slider_redraws(lab_in_browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver, url = lab_in_browser
    driver.get(url)
    _wait(lambda: driver.execute_script(RUN_STATE_JS)["cells"] > 10, 90, "the chapter to open")
    fresh = driver.execute_script(RUN_STATE_JS)
    assert fresh["waiting"] == fresh["cells"], fresh  # nothing has run yet
    # Run > Run All Cells, as a reader would.
    menu = _wait(
        lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel") if e.text == "Run"],
        30,
        "the Run menu",
    )
    menu[0].click()
    item = _wait(
        lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel") if e.text == "Run All Cells"],
        10,
        "Run All Cells",
    )
    item[0].click()
    state = _wait(
        lambda: (lambda s: s if s["waiting"] == 0 or s["errors"] else None)(driver.execute_script(RUN_STATE_JS)),
        180,
        "every cell to run",
    )
    assert not state["errors"], "errors in the outputs:\n" + "\n".join(e[-500:] for e in state["errors"])
    assert state["last"] == state["cells"], state  # every code cell ran, once, in order
    # The live slider: a widget (not the website's static frames), moved with the keyboard.
    handle = _wait(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .widget-slider .noUi-handle"),
        30,
        "a live ipywidgets slider",
    )[0]
    before = _wait(lambda: driver.execute_script(FIGURES_JS), 30, "the slider's figure")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)
    after = _wait(
        lambda: (lambda f: f if f and f != before else None)(driver.execute_script(FIGURES_JS)),
        30,
        "the figure to be redrawn after the slider moved",
    )
    assert after != before
