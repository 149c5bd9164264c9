"""The book's structure: every notebook is in the table of contents, is run by nbval, and is saved run."""

import json
import pathlib
import re

import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def toc_files():
    text = (ROOT / "_toc.yml").read_text()
    return re.findall(r"^\s*(?:-\s*)?(?:file|root):\s*(\S+)\s*$", text, re.M)


def test_every_toc_entry_exists():
    for entry in toc_files():
        stem = ROOT / entry
        candidates = [stem.with_suffix(s) for s in (".md", ".ipynb")] + [stem]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_every_notebook_is_in_the_toc():
    listed = {pathlib.PurePosixPath(e).with_suffix("").as_posix() for e in toc_files()}
    for nb in NOTEBOOKS:
        stem = nb.relative_to(ROOT).with_suffix("").as_posix()
        assert stem in listed, f"{stem}.ipynb is not listed in _toc.yml"


def test_nbval_runs_every_notebook():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "book" in config["testpaths"], "pytest's testpaths must include book/ so nbval runs the chapters"
    assert "--ignore" not in config.get("addopts", ""), "no notebook may be left out of the nbval run"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pytest .*--nbval\b", makefile), "make test must run pytest with --nbval"


def test_notebooks_are_saved_executed_and_clean():
    for nb in NOTEBOOKS:
        data = json.loads(nb.read_text())
        code = [c for c in data["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        assert code, f"{nb.name} has no code"
        unrun = [c for c in code if c.get("execution_count") is None]
        assert not unrun, f"{nb.name}: {len(unrun)} code cells are saved without being run"
        counts = [c["execution_count"] for c in code]
        assert counts == list(range(1, len(code) + 1)), f"{nb.name} was not run top to bottom in one go"
        errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"
                  or (o["output_type"] == "stream" and "Traceback" in "".join(o.get("text", "")))]
        assert not errors, f"{nb.name}: stored outputs contain an error (e.g. a figure that failed to draw)"
        timed = [c for c in code if "execution" in c.get("metadata", {})]
        assert not timed, f"{nb.name}: cells carry timing metadata (use record_timing=False)"
        assert data["metadata"].get("kernelspec", {}).get("name") == "python3", f"{nb.name}: kernelspec must be python3"
        assert "widgets" not in data["metadata"], f"{nb.name}: stored widget state (save with tools/execute.py)"


def test_every_figure_has_real_alt_text():
    # myst-nb writes cell metadata mystnb.image.alt into the <img alt="..."> of the page
    for nb in NOTEBOOKS:
        for cell in json.loads(nb.read_text())["cells"]:
            meta = cell.get("metadata", {}).get("mystnb", {})
            if cell["cell_type"] != "code" or "figure" not in meta:
                continue
            name = meta["figure"].get("name", "?")
            alt = meta.get("image", {}).get("alt", "")
            assert len(alt.split()) >= 12, f"{nb.name}: figure {name} needs alt text saying what it shows"
            assert not re.search(r"\.(png|svg|jpe?g)\b|^fig-", alt), f"{nb.name}: alt text of {name} is a file name"


def test_one_version_everywhere():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    import igrlib

    assert igrlib.__version__ == version
    assert re.search(rf"^version: {re.escape(version)}$", (ROOT / "CITATION.cff").read_text(), re.M)
    assert f"Version {version}." in (ROOT / "_config.yml").read_text()  # the footer of every page
    assert f"version {version}" in (ROOT / "book" / "intro.md").read_text()  # how to cite
    assert f"## {version} " in (ROOT / "CHANGELOG.md").read_text()
