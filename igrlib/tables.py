"""Tables of results: shown as an HTML table in a notebook and on the website, printed as
aligned fixed-width text where HTML does not show (a terminal, the PDF).

Chapters build them from cells they have already formatted, so that every stored digit is
one the notebook chose to print::

    rows = [[f"{h:.2f}", str(n)] for h, n in zip(lrs, steps)]
    igr.Table(["h", "steps"], rows, title="steps to the tolerance")
"""

from __future__ import annotations

from html import escape

__all__ = ["Table"]


class Table:
    """A small table that a notebook shows as HTML and prints as fixed-width text.

    Parameters
    ----------
    columns : list of str
    rows : list of lists
        Cells, already formatted as strings (numbers are shown with ``str``).
    title : str, optional

    Examples
    --------
    >>> from igrlib.tables import Table
    >>> rows = [["0.10", "69"], ["0.01", "690"]]
    >>> print(repr(Table(["h", "steps"], rows, title="steps to 1e-3")))
    steps to 1e-3
       h  steps
    0.10     69
    0.01    690
    """

    def __init__(self, columns, rows, title=""):
        self.columns = [str(c) for c in columns]
        self.rows = [[str(c) for c in row] for row in rows]
        if any(len(row) != len(self.columns) for row in self.rows):
            raise ValueError(f"every row must have {len(self.columns)} cells, one per column")
        self.title = title

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        width = [max(len(c), *(len(r[j]) for r in self.rows)) for j, c in enumerate(self.columns)]
        line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, width)).rstrip()  # noqa: E731
        head = [self.title] if self.title else []
        return "\n".join(head + [line(self.columns)] + [line(r) for r in self.rows])

    def _repr_html_(self):
        cap = f"<caption>{escape(self.title)}</caption>" if self.title else ""
        pad = 'style="padding: 0.15em 0.7em; text-align: right; white-space: nowrap"'
        head = "".join(f'<th scope="col" {pad}>{escape(c)}</th>' for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td {pad}>{escape(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        return f'<table class="igr-table">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
