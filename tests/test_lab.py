"""make lab: JupyterLab starts from the book's environment, serves the chapters and runs a kernel.

A headless smoke test on 127.0.0.1 with a token, through JupyterLab's own REST and kernel
protocol (no browser): the server answers, lists the chapters, and a python3 kernel started by
it imports igrlib and builds a live slider (an ipywidgets widget) without error.
"""

import json
import os
import pathlib
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


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("jupyter-lab", path=str(BIN)) is None:
        pytest.skip("JupyterLab is not installed (pip install -r requirements.txt)")
    port, token = free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("runtime")
    proc = subprocess.Popen(
        [str(BIN / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--notebook-dir={ROOT}"]
        + (["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)},
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
