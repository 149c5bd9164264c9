"""Sliders: one drawing function gives both the live widget and the static frames."""

import base64
import re
import struct

import matplotlib
import numpy as np
import pytest

import igrlib as igr

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402

LRS = [0.01, 0.05, 0.1, 0.2]


def draw_gd(lr=0.05):
    fig, ax = plt.subplots(figsize=(3, 2))
    path = igr.gd(igr.two_param(), [2.8, 3.5], lr, 30)
    ax.plot(path[:, 0], path[:, 1], "o-")
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 4)
    return fig


def frames_of(html):
    data = re.search(r'<script type="application/json" class="igr-slider-data">(.*?)</script>', html, re.S).group(1)
    import json

    return json.loads(data)


def test_static_html_has_one_frame_per_value_drawn_by_the_same_function():
    s = igr.sliders.slider(draw_gd, "lr", LRS, value=0.05, label="learning rate h", alt="GD on the two-parameter model")
    html = s.static_html()
    data = frames_of(html)
    assert data["labels"] == ["0.01", "0.05", "0.1", "0.2"]
    assert len(data["frames"]) == len(LRS)
    assert len(set(data["frames"])) == len(LRS), "each learning rate must give a different picture"
    expected = igr.sliders.render_frames(draw_gd, "lr", LRS)
    assert [base64.b64decode(f) for f in data["frames"]] == expected
    assert all(png.startswith(b"\x89PNG") for png in expected)
    assert 'type="range"' in html and 'min="0"' in html and 'max="3"' in html and 'value="1"' in html
    assert '<label for="' in html and "learning rate h" in html
    assert 'aria-valuetext="0.05"' in html and ">0.05</output>" in html
    assert 'alt="GD on the two-parameter model (learning rate h = 0.05)"' in html
    assert "http" not in html.replace("http-equiv", ""), "nothing may load from outside the page"
    assert not plt.get_fignums(), "drawing frames must not leave figures open"


def test_the_bundle_shows_the_default_frame_where_neither_html_nor_widgets_can():
    s = igr.sliders.slider(draw_gd, "lr", LRS, value=0.1, alt="GD on the two-parameter model")
    bundle = s._repr_mimebundle_()
    frames = igr.sliders.render_frames(draw_gd, "lr", LRS)
    still = igr.sliders.render_frames(draw_gd, "lr", [0.1], dpi=igr.sliders.STILL_DPI)[0]
    assert base64.b64decode(bundle["image/png"]) == still  # the figure at value 0.1, as in the PDF
    ratio = igr.sliders.STILL_DPI / igr.sliders.FRAME_DPI
    assert struct.unpack(">II", still[16:24]) == tuple(round(ratio * n) for n in struct.unpack(">II", frames[2][16:24]))
    assert [base64.b64decode(f) for f in frames_of(bundle["text/html"])["frames"]] == frames
    assert not plt.get_fignums()


def test_static_html_is_deterministic():
    s = igr.sliders.slider(draw_gd, "lr", LRS[:2], alt="GD")
    assert s.static_html() == s.static_html()


def test_the_widget_uses_the_same_values_and_function():
    pytest.importorskip("ipywidgets")
    calls = []

    def draw(lr=0.05):
        calls.append(lr)
        return draw_gd(lr)

    s = igr.sliders.slider(draw, "lr", LRS, value=0.1, alt="GD")
    box = s.widget()
    control = box.children[0]
    assert [v for _, v in control.options] == LRS and control.value == 0.1
    control.value = 0.2
    assert calls == [0.1, 0.2]
    bundle = s._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(draw=None, name="lr", values=LRS, alt="x"), "draw must be a function"),
        (dict(draw=draw_gd, name="learning rate", values=LRS, alt="x"), "name must be"),
        (dict(draw=draw_gd, name="lr", values=[0.1], alt="x"), "between 2 and"),
        (dict(draw=draw_gd, name="lr", values=np.linspace(0.01, 0.1, 50), alt="x"), "between 2 and"),
        (dict(draw=draw_gd, name="lr", values=LRS, value=0.3, alt="x"), "not one of"),
        (dict(draw=draw_gd, name="lr", values=LRS, alt=""), "alt must describe"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        igr.sliders.slider(**kwargs)


def draw_contours(lr=0.05):
    """A frame like the chapters': level sets, a path and a legend (anti-aliased lines of many greys)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    igr.plotting.level_sets(ax, igr.two_param(), (-0.8, 3.2), (0.0, 4.0), levels=15, log=True)
    path = igr.gd(igr.two_param(), [2.8, 3.5], lr, 100)
    ax.plot(*path.T, ".-", label=f"h = {lr}")
    ax.legend()
    return fig


def decoded(png):
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.mode, np.asarray(image.convert("RGB"), dtype=float)


def test_frames_are_small_palette_pngs_that_look_like_the_full_colour_figure():
    import io

    (png,) = igr.sliders.render_frames(draw_contours, "lr", [0.05])
    fig = draw_contours(0.05)
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=igr.sliders.FRAME_DPI)
    plt.close(fig)
    mode, frame = decoded(png)
    _, reference = decoded(full.getvalue())
    assert mode == "P"
    dpi = igr.sliders.FRAME_DPI
    assert frame.shape == reference.shape == (round(5 * dpi), round(5.5 * dpi), 3)  # 5.5 x 5 inches
    error = np.abs(frame - reference)
    assert error.mean() < 1.0 and error.max() < 32, "the palette must keep the picture"
    assert len(png) < len(full.getvalue()) / 2.5, f"{len(png)} bytes against {len(full.getvalue())} in full colour"


def test_a_transparent_figure_is_laid_on_white():
    def draw(lr=0.1):
        fig, ax = plt.subplots(figsize=(2, 2))
        fig.patch.set_alpha(0.0)
        ax.patch.set_alpha(0.0)
        ax.plot([0, 1], [0, lr], color="k")
        return fig

    (png,) = igr.sliders.render_frames(draw, "lr", [0.1])
    _, frame = decoded(png)
    assert (frame[:5, :5] == 255).all(), "the margin of a transparent figure must be white, not black"
    assert frame.min() < 50, "the black line must still be there"


def test_the_page_markup_scales_and_cannot_be_broken_by_the_text():
    alt = 'paths </script><script>alert("x")</script> & more'
    s = igr.sliders.slider(draw_gd, "lr", LRS, alt=alt, label="h < 1")
    page = s.static_html()
    assert page.count("</script>") == 2, "the description must not end the page's scripts early"
    width, height = round(3 * igr.sliders.FRAME_DPI), round(2 * igr.sliders.FRAME_DPI)
    assert f'width="{width}" height="{height}"' in page, "the image carries its size (3 x 2 inches)"
    assert "max-width: 100%; height: auto" in page, "the image must shrink to a narrow screen"
    assert "flex-wrap: wrap" in page and "min-width: 0" in page, "the controls must wrap, not overflow"
    assert '<label for="' in page and "h &lt; 1</label>" in page
    assert "&lt;/script&gt;" in page and "&amp; more" in page
