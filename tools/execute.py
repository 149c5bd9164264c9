"""Run chapter notebooks top to bottom and save them with their outputs.

    python tools/execute.py book/02_euler.ipynb [...]      (or: make notebooks)

Runs each notebook in a fresh kernel from its own folder, without timing
metadata, and drops the stored ipywidgets state: the website shows the static
sliders (igrlib.sliders), and the state of live widgets is large and changes
at every run.
"""

import pathlib
import sys

import nbformat
from nbclient import NotebookClient


def execute(path, timeout=300):
    path = pathlib.Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for arg in sys.argv[1:]:
        execute(arg)
        print(f"executed {arg}")
