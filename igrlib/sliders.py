"""Sliders that work both in Jupyter (live) and in the static website (precomputed frames).

One figure function serves both worlds. ``igr.sliders.slider(draw, "lr", values)``
returns an object that Jupyter shows as a live ipywidgets slider calling
``draw(lr=value)``, and that the website shows as the same slider over frames
drawn in advance by the same ``draw`` at the same ``values``: a plain HTML range
input swapping embedded PNG images, with no script from outside the page, so it
works offline and from ``file://``.

Chapters then need one cell::

    igr.sliders.slider(draw, "lr", [0.05, 0.1, 0.2], label="learning rate h",
                       alt="GD against the flow")

The website picks the HTML rendering because ``_config.yml`` ranks the widget
view below HTML for the HTML builder (``nb_mime_priority_overrides``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import io
import json
import struct

import numpy as np

__all__ = ["slider", "Slider", "render_frames"]

# Frames are small PNGs: the figure size of the book style at this resolution, reduced
# to a palette of at most this many colours (line drawings lose nothing visible, and a
# frame weighs about a fifth of its full-colour PNG). At 120 dpi a figure of the book's usual
# 5.5 in fills most of the text column (660 of about 700 px at 1280 px) without being enlarged.
FRAME_DPI = 120
# The still that stands for the slider where neither HTML nor widgets show (the PDF, a plain
# notebook viewer) is one frame, drawn at the book style's print resolution.
STILL_DPI = 150
FRAME_COLORS = 256
MAX_FRAMES = 41


@contextlib.contextmanager
def _no_show():
    """While drawing frames, make ``plt.show()`` a no-op so nothing is displayed."""
    import matplotlib.pyplot as plt

    show = plt.show
    plt.show = lambda *args, **kwargs: None
    try:
        yield
    finally:
        plt.show = show


def _frame_png(fig, dpi):
    """``fig`` as a palette PNG: drawn at ``dpi``, laid on white, reduced to FRAME_COLORS colours."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    buf.seek(0)
    with Image.open(buf) as image:
        drawn = image.convert("RGBA")
    page = Image.new("RGBA", drawn.size, "white")  # a transparent figure shows as on a white page
    page.alpha_composite(drawn)
    rgb = page.convert("RGB")
    frame = rgb.quantize(FRAME_COLORS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    # Each palette colour becomes the mean of the pixels it stands for (so white stays white).
    index = np.asarray(frame).ravel()
    pixels = np.asarray(rgb, dtype=float).reshape(-1, 3)
    count = np.bincount(index, minlength=256)
    used = count > 0
    palette = np.zeros((256, 3))
    for channel in range(3):
        palette[used, channel] = np.bincount(index, pixels[:, channel], minlength=256)[used] / count[used]
    frame.putpalette(np.rint(palette).astype(np.uint8).ravel().tolist())
    out = io.BytesIO()
    frame.save(out, format="png", optimize=True)
    return out.getvalue()


def render_frames(draw, name, values, *, dpi=FRAME_DPI):
    """Draw one frame per value: ``draw(**{name: v})`` saved as PNG bytes.

    Parameters
    ----------
    draw : callable
        Returns a matplotlib Figure, or draws on the current figure and returns None.
        ``plt.show()`` inside it does nothing while frames are drawn, and every
        figure it opens is closed afterwards.
    name : str
        The parameter of ``draw`` that varies.
    values : sequence
        One frame per value, in order.
    dpi : float
        Resolution of the frames.

    Returns
    -------
    list of bytes
        PNG images with a palette of at most 256 colours, laid on a white background.
    """
    import matplotlib.pyplot as plt

    frames = []
    with _no_show():
        for value in values:
            before = set(plt.get_fignums())
            fig = draw(**{name: value})
            if fig is None:
                fig = plt.gcf()
            frames.append(_frame_png(fig, dpi))
            for num in set(plt.get_fignums()) - before:
                plt.close(num)
            plt.close(fig)
    return frames


def _inline_json(obj):
    """JSON that can sit inside an HTML <script> element (no "</script>" can end it early)."""
    return json.dumps(obj).replace("</", "<\\/")


class Slider:
    """A figure with a slider; see :func:`slider`."""

    def __init__(self, draw, name, values, *, value=None, label=None, alt, fmt="{:.4g}"):
        if not callable(draw):
            raise ValueError("draw must be a function that draws the figure for one value")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"name must be the name of draw's parameter, got {name!r}")
        values = list(values)
        if not 2 <= len(values) <= MAX_FRAMES:
            raise ValueError(f"values must hold between 2 and {MAX_FRAMES} values, got {len(values)}")
        if value is None:
            value = values[len(values) // 2]
        if value not in values:
            raise ValueError(f"value {value!r} is not one of the slider's values")
        if not alt or not isinstance(alt, str):
            raise ValueError("alt must describe the figure in words (a text alternative for readers who cannot see it)")
        self.draw, self.name, self.values, self.value = draw, name, values, value
        self.label = label or name
        self.alt = alt
        self.labels = [fmt.format(v) for v in values]

    def static_html(self, pngs=None):
        """The slider as self-contained HTML: a range input, a value label and embedded frames.

        The image scales down to the width of the page (a phone's 390 px too) and the
        controls wrap below one another when the line is too short. The range input
        moves with the mouse, a finger or the arrow, Home and End keys; the label, the
        image's ``alt`` and the input's ``aria-valuetext`` follow the value. ``pngs``: the
        frames, if already drawn (:func:`render_frames`).
        """
        if pngs is None:
            pngs = render_frames(self.draw, self.name, self.values)
        width, height = struct.unpack(">II", pngs[0][16:24])  # the PNG header's IHDR chunk
        frames = [base64.b64encode(png).decode("ascii") for png in pngs]
        data = _inline_json({"frames": frames, "labels": self.labels})
        key = hashlib.sha1(json.dumps([self.name, self.labels, self.alt]).encode()).hexdigest()[:10]
        uid = f"igr-slider-{key}"
        start = self.values.index(self.value)
        label, alt, text = html.escape(self.label), html.escape(self.alt), html.escape(self.labels[start])
        return f"""<figure class="igr-slider" id="{uid}" style="margin: 1em 0; max-width: 100%;">
<img class="igr-slider-frame" src="data:image/png;base64,{frames[start]}" width="{width}" height="{height}" \
style="display: block; max-width: 100%; height: auto;" alt="{alt} ({label} = {text})">
<div class="igr-slider-controls" style="display: flex; flex-wrap: wrap; align-items: center; \
gap: 0.25em 0.75em; max-width: {width}px;">
<label for="{uid}-input">{label}</label>
<input type="range" id="{uid}-input" min="0" max="{len(frames) - 1}" step="1" value="{start}" \
aria-valuetext="{text}" autocomplete="off" style="flex: 1 1 8em; min-width: 0; margin: 0;">
<output id="{uid}-value" for="{uid}-input" style="min-width: 4em; font-variant-numeric: tabular-nums;">{text}</output>
</div>
<script type="application/json" class="igr-slider-data">{data}</script>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  var data = JSON.parse(root.querySelector(".igr-slider-data").textContent);
  var input = root.querySelector("input"), output = root.querySelector("output"), img = root.querySelector("img");
  var alt = {_inline_json(self.alt + " (" + self.label + " = ")};
  var shown = {start};
  function show() {{
    var i = Number(input.value), text = data.labels[i];
    if (i === shown) return;
    shown = i;
    img.src = "data:image/png;base64," + data.frames[i];
    img.alt = alt + text + ")";
    output.textContent = text;
    input.setAttribute("aria-valuetext", text);
  }}
  input.addEventListener("input", show);
  input.addEventListener("change", show);
  show();  // a browser may restore a moved slider when the page is reloaded
}})();
</script>
</figure>"""

    def widget(self):
        """The live ipywidgets slider: a SelectionSlider over the same values, redrawing with ``draw``."""
        import ipywidgets as widgets
        import matplotlib.pyplot as plt
        from IPython.display import display

        control = widgets.SelectionSlider(
            options=list(zip(self.labels, self.values)), value=self.value, description=self.label,
            style={"description_width": "initial"}, continuous_update=False,
        )
        out = widgets.Output()

        def update(change=None):
            with out:
                out.clear_output(wait=True)
                fig = self.draw(**{self.name: control.value})
                if fig is not None:
                    display(fig)
                    plt.close(fig)
                else:
                    plt.show()

        control.observe(update, names="value")
        update()
        return widgets.VBox([control, out])

    def _repr_mimebundle_(self, include=None, exclude=None):
        # text/html for the website, the live widget for Jupyter, and the default value's
        # figure at STILL_DPI as image/png for what shows neither (the PDF, a plain notebook viewer).
        pngs = render_frames(self.draw, self.name, self.values)
        still = render_frames(self.draw, self.name, [self.value], dpi=STILL_DPI)[0]
        bundle = {
            "text/plain": f"{self.label} slider over {len(self.values)} values: {self.alt}",
            "text/html": self.static_html(pngs),
            "image/png": base64.b64encode(still).decode("ascii"),
        }
        try:
            view = self.widget()._repr_mimebundle_()
        except ImportError:  # no ipywidgets: the static slider is all there is
            return bundle
        view.pop("text/plain", None)
        bundle.update(view)
        return bundle


def slider(draw, name, values, *, value=None, label=None, alt, fmt="{:.4g}"):
    """A figure with a slider over ``values`` of ``draw``'s parameter ``name``.

    Parameters
    ----------
    draw : callable
        ``draw(**{name: v})`` draws the figure for one value (returning the Figure,
        or drawing on the current one). The same function makes the live
        figure in Jupyter and the frames of the static website.
    name : str
        The parameter of ``draw`` the slider sets (e.g. ``"lr"``).
    values : sequence, 2 to 41 items
        The slider's positions, the same in Jupyter and on the website.
    value : optional
        Starting position (one of ``values``; the middle one by default).
    label : str, optional
        The visible label of the slider (``name`` by default).
    alt : str
        A description of the figure in words, for readers who cannot see it.
    fmt : str
        Format of the displayed value.

    Returns
    -------
    Slider
        Displayed as a live ipywidgets slider where widgets run, as self-contained HTML
        (range input, value label, embedded PNG frames) on the website, and as the frame of
        the default value (image/png) where neither can show, as in the PDF.

    Examples
    --------
    >>> import numpy as np
    >>> import igrlib as igr
    >>> values = np.linspace(0.1, 1.0, 10)
    >>> s = igr.sliders.slider(lambda lr: None, "lr", values, alt="nothing")
    >>> s.labels[:3], s.value
    (['0.1', '0.2', '0.3'], 0.6)
    """
    return Slider(draw, name, np.asarray(values).tolist() if isinstance(values, np.ndarray) else values,
                  value=value, label=label, alt=alt, fmt=fmt)
