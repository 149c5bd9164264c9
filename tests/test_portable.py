"""``make test-portable`` runs the suite as on another CPU; this checks that it really does.

Under ``IGR_PORTABLE=1`` (set by that target, with ``NPY_DISABLE_CPU_FEATURES`` and
``OPENBLAS_CORETYPE``) numpy must have its AVX2 and AVX-512 kernels switched off and OpenBLAS
must run its Sandy Bridge kernels. Were a new numpy to rename its features, or OpenBLAS to
ignore the variable, the second run would silently repeat the first; this test fails instead.
"""

import os

import numpy as np
import pytest

portable = pytest.mark.skipif(os.environ.get("IGR_PORTABLE") != "1", reason="only under make test-portable")


@portable
def test_numpy_runs_without_its_avx2_and_avx512_kernels():
    from numpy._core import _multiarray_umath as umath

    disabled = os.environ["NPY_DISABLE_CPU_FEATURES"].split()
    assert disabled, "NPY_DISABLE_CPU_FEATURES is empty"
    for name in disabled:
        assert name in umath.__cpu_dispatch__, f"numpy {np.__version__} does not dispatch {name}: rename it"
        assert not umath.__cpu_features__.get(name, False), f"{name} is still in use"


@portable
def test_openblas_runs_its_sandy_bridge_kernels():
    from threadpoolctl import threadpool_info

    np.ones((2, 2)) @ np.ones((2, 2))  # OpenBLAS is loaded
    blas = [i for i in threadpool_info() if i["internal_api"] == "openblas"]
    assert blas, "numpy is not linked to OpenBLAS"
    assert all(i["architecture"] == os.environ["OPENBLAS_CORETYPE"] for i in blas), blas
