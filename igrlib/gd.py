"""The former module of :func:`igrlib.gd`; gradient descent lives in :mod:`igrlib.descent`.

Kept only so that ``from igrlib.gd import gd`` keeps working (the coursework checks of the
Euler chapter import it so). ``igrlib.gd`` itself is the function.
"""

from .descent import BLOWUP, DivergenceWarning, gd

__all__ = ["gd", "DivergenceWarning", "BLOWUP"]
