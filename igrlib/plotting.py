"""Small plotting helpers shared by the chapters (matplotlib is imported only when called).

Nothing here runs on import: a chapter calls :func:`use_book_style` once in its
first code cell.
"""

from __future__ import annotations

import numpy as np

__all__ = ["use_book_style", "level_sets", "COLORS"]

# One colour per kind of curve, the same in every chapter (colour-blind safe,
# from the Okabe-Ito palette).
COLORS = {
    "flow": "#000000",  # gradient flow
    "gd": "#D55E00",  # gradient descent iterates
    "modified": "#0072B2",  # modified flow
    "modified2": "#009E73",  # second-order modified flow
    "penalty": "#CC79A7",  # explicit penalty
    "minima": "#E69F00",  # sets of minima
}


def use_book_style():
    """Set matplotlib defaults for the book: white figure background (readable in
    dark mode), PNG output at 150 dpi (sharp on high-density screens and in print), and
    labels large enough to read when a figure is shown at the width of the text column.

    A figure ``w`` inches wide is shown about 690 px wide on a desktop, so a label of
    ``s`` points is ``s * 690 / (72 * w)`` px high: 12-point labels on a 6.4-inch figure
    are 18 px, and 11-point tick labels on a 12-inch figure of three panels only 9 px
    (draw at most two panels a row, about 8 inches wide).
    """
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 150,
            "savefig.dpi": 150,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "axes.facecolor": "white",
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 12,
            "axes.titlesize": "medium",
            "axes.labelsize": "medium",
            "xtick.labelsize": 11,
            "ytick.labelsize": 11,
            "legend.fontsize": 11,
            "legend.framealpha": 0.9,
        }
    )


def level_sets(ax, loss, xlim, ylim, *, levels=20, n=200, log=False, **kwargs):
    """Draw level sets of a two-parameter loss on ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes
    loss : Loss
        A loss of two parameters whose ``value`` maps a stack of points, shape (..., 2).
    xlim, ylim : (float, float)
        The plotted ranges of ``theta[0]`` and ``theta[1]``.
    levels : int or array_like
        Passed to ``ax.contour``.
    n : int
        Grid points per axis.
    log : bool
        Contour ``log10(1 + L)`` instead of ``L`` (for losses spanning many scales).

    Returns
    -------
    matplotlib.contour.QuadContourSet
    """
    x = np.linspace(*xlim, n)
    y = np.linspace(*ylim, n)
    X, Y = np.meshgrid(x, y)
    Z = loss.value(np.stack([X, Y], axis=-1))
    if log:
        Z = np.log10(1 + Z)
    kwargs.setdefault("colors", "0.6")
    kwargs.setdefault("linewidths", 0.7)
    return ax.contour(X, Y, Z, levels=levels, **kwargs)
