"""A worked example of a self-check, used by the instructor guide and the grader's tests."""

import numpy as np

from . import fresh_rng, real_array, register


@register("demo-square")
def _(answer):
    """The answer is a function ``square(x)`` returning ``x**2`` elementwise for an array ``x``."""
    x = fresh_rng().normal(size=5)
    got = real_array(answer(x.copy()))  # a copy: what is expected comes from the check's own x
    if got is None:
        return False, "square(x) should return real numbers (floats), an array like x"
    if got.shape != x.shape:
        return False, f"square(x) should return an array of the same shape as x, {x.shape}; got {got.shape}"
    if not np.allclose(got, x**2, rtol=1e-12, atol=0):
        return False, "square(x) returns the right shape but wrong values; try a few numbers by hand"
    return True, "square(x) is right on fresh inputs"
