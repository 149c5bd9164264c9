"""igrlib.tables: a result table as fixed-width text and as HTML."""

import pytest

from igrlib.tables import Table


def test_table_prints_narrow_and_renders_html():
    t = Table(["h", "gain"], [["0.1", "+0.09 [+0.02, +0.16]"], ["<b>", "x"]], title="gains")
    text = repr(t)
    assert text.splitlines()[0] == "gains" and max(map(len, text.splitlines())) <= 80
    html = t._repr_html_()
    assert html.count("<tr>") == 3 and "&lt;b&gt;" in html and "<caption>gains</caption>" in html
    with pytest.raises(ValueError, match="every row"):
        Table(["a", "b"], [["1"]])
