"""A student edition ready to publish: ``make student-release``.

``python -m igrlib.coursework.release OUTDIR --repository URL --branch BRANCH NOTEBOOK [...]``
writes into ``OUTDIR``

- the student edition of each chapter (:mod:`igrlib.coursework.student`), at the top level;
- what Binder needs to run them: ``requirements.txt`` and ``runtime.txt`` (the lock and its
  Python), ``postBuild`` with ``pyproject.toml`` and ``igrlib/`` (installed editable, as in the
  book's repository);
- ``README.md``: for each chapter, a Binder and a Colab link to that notebook at ``URL``, branch
  ``BRANCH``, where the folder is to be published (pushed as the branch's whole content);

and ``OUTDIR.zip`` with the same files. The links point at the published copy, not at the book's
chapters: the book's own launch buttons open the chapters with their solutions.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import sys
import urllib.parse
import zipfile

from .student import write_student_edition

__all__ = ["launch_links", "write_release"]

# Copied from the repository into the release (Binder builds the environment from them).
ENVIRONMENT = ("requirements.txt", "runtime.txt", "postBuild", "pyproject.toml")


def launch_links(repository, branch, notebook, *, binder="https://mybinder.org", colab="https://colab.research.google.com"):
    """The Binder and Colab URLs of ``notebook`` (a path in the published folder) on GitHub.

    Examples
    --------
    >>> links = launch_links("https://github.com/me/course", "student", "02_euler.ipynb")
    >>> links["binder"]
    'https://mybinder.org/v2/gh/me/course/student?urlpath=lab/tree/02_euler.ipynb'
    >>> links["colab"]
    'https://colab.research.google.com/github/me/course/blob/student/02_euler.ipynb'
    """
    parts = urllib.parse.urlsplit(repository)
    owner_repo = parts.path.strip("/").removesuffix(".git")
    if parts.netloc != "github.com" or owner_repo.count("/") != 1:
        raise ValueError(f"repository must be a GitHub URL https://github.com/OWNER/NAME, not {repository!r}")
    if not branch or re.search(r"[\s?#~^:\\]", branch):
        raise ValueError(f"branch must be a git branch name, not {branch!r}")
    quoted = urllib.parse.quote(notebook)
    return {
        "binder": f"{binder.rstrip('/')}/v2/gh/{owner_repo}/{urllib.parse.quote(branch, safe='')}"
                  f"?urlpath=lab/tree/{quoted}",
        "colab": f"{colab.rstrip('/')}/github/{owner_repo}/blob/{branch}/{quoted}",
    }


def _title(path):
    nb = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            match = re.search(r"^# (.+)$", source, re.M)
            if match:
                return match.group(1).strip()
    return pathlib.Path(path).stem


README_TITLE = "# Exercises: the student edition"


def _is_release(folder):
    readme = folder / "README.md"
    return readme.is_file() and readme.read_text(encoding="utf-8").startswith(README_TITLE)


def write_release(notebooks, outdir, *, repository, branch, root=".", book_dir="book"):
    """Write the release folder ``outdir`` and ``outdir.zip``; return the folder's files."""
    root = pathlib.Path(root)
    outdir = pathlib.Path(outdir)
    links = {pathlib.Path(p).name: launch_links(repository, branch, pathlib.Path(p).name) for p in notebooks}
    if outdir.exists():
        if outdir.resolve() in (root.resolve(), *root.resolve().parents) or (
                any(outdir.iterdir()) and not _is_release(outdir)):
            raise ValueError(f"{outdir} exists and is not a student release: choose a new or empty folder")
        shutil.rmtree(outdir)
    written = write_student_edition(notebooks, outdir, book_dir=book_dir)
    for name in ENVIRONMENT:
        shutil.copy2(root / name, outdir / name)
    shutil.copytree(root / "igrlib", outdir / "igrlib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    rows = []
    for path in written:
        link = links[path.name]
        rows.append(f"| {_title(path)} | `{path.name}` | [Binder]({link['binder']}) | [Colab]({link['colab']}) |")
    (outdir / "README.md").write_text(
        f"{README_TITLE}\n\n"
        "The chapters with their exercises to solve (solutions removed). Open one on Binder (everything\n"
        "installed) or Colab (its first code cell installs the book's library), or download the\n"
        "notebooks and run them in your own Jupyter. Each code exercise ends with a check that\n"
        "prints `[PASS]`, `[FAIL]` with a hint, or `[TODO]`.\n\n"
        f"Published from {repository}, branch `{branch}`.\n\n"
        "| chapter | notebook | Binder | Colab |\n|---|---|---|---|\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    files = sorted(p for p in outdir.rglob("*") if p.is_file())
    with zipfile.ZipFile(outdir.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo.from_file(path, path.relative_to(outdir).as_posix())
            with open(path, "rb") as handle:
                archive.writestr(info, handle.read(), zipfile.ZIP_DEFLATED)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m igrlib.coursework.release", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="folder to write (replaced), and OUTDIR.zip")
    parser.add_argument("notebooks", nargs="+", help="chapter notebooks")
    parser.add_argument("--repository", required=True, help="GitHub URL where the folder will be published")
    parser.add_argument("--branch", required=True, help="the branch of that repository holding it")
    args = parser.parse_args(argv)
    try:
        files = write_release(args.notebooks, args.outdir, repository=args.repository, branch=args.branch)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files into {args.outdir} and {pathlib.Path(args.outdir).with_suffix('.zip')}")
    print(f"publish: push the folder's content as branch '{args.branch}' of {args.repository};")
    print(f"students open {pathlib.Path(args.outdir) / 'README.md'} there (Binder and Colab links per chapter)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
