"""Fixtures shared by the tests.

The test problems of the unit tests: every model igrlib ships, plus a bare one. The
fixture ``model`` runs a test once per model. Each case carries the loss, a way to draw
random points where it is moderate, and ``exact``: a loss with exact ``hvp`` and ``d3``
for the same function (the model itself, except for ``bare``).

The website in a browser (tests/_website.py has the rest): ``built_site``, ``server`` and
``browser``, one of each per test module, skipped with the reason where the build or
Chromium is missing (failing instead with CI=true or IGR_REQUIRE_BROWSER=1).

``make_venv``: a virtual environment of a test's own (the grader run from an environment under /tmp).
"""

import os
import pathlib
from typing import NamedTuple

import numpy as np
import pytest

import igrlib as igr


class Case(NamedTuple):
    name: str
    loss: igr.Loss
    d: int
    box: float  # random points are drawn uniformly from [-box, box]^d
    exact: igr.Loss

    def points(self, rng, k=None):
        """Random points: one of shape (d,), or a stack of shape (k, d)."""
        shape = (self.d,) if k is None else (k, self.d)
        return rng.uniform(-self.box, self.box, size=shape)


def bare_model():
    r"""A loss given only by its value and gradient, so igrlib differentiates it numerically.

    :math:`L(x, y, z) = \cosh x + x y^2 + y z + z^4 / 4`. Returns the bare loss and the same
    function with its exact Hessian-vector product and third derivative, written out here
    (nonzero third derivatives: :math:`L_{xxx} = \sinh x`, :math:`L_{xyy} = 2`, :math:`L_{zzz} = 6z`).
    """

    def value(theta):
        x, y, z = np.moveaxis(np.asarray(theta, dtype=float), -1, 0)
        return np.cosh(x) + x * y**2 + y * z + z**4 / 4

    def grad(theta):
        x, y, z = np.moveaxis(np.asarray(theta, dtype=float), -1, 0)
        return np.stack([np.sinh(x) + y**2, 2 * x * y + z, y + z**3], axis=-1)

    def hvp(theta, v):
        x, y, z = np.moveaxis(np.asarray(theta, dtype=float), -1, 0)
        vx, vy, vz = np.moveaxis(np.asarray(v, dtype=float), -1, 0)
        return np.stack([np.cosh(x) * vx + 2 * y * vy, 2 * y * vx + 2 * x * vy + vz, vy + 3 * z**2 * vz], axis=-1)

    def d3(theta, u, v):
        x, _, z = np.moveaxis(np.asarray(theta, dtype=float), -1, 0)
        ux, uy, uz = np.moveaxis(np.asarray(u, dtype=float), -1, 0)
        vx, vy, vz = np.moveaxis(np.asarray(v, dtype=float), -1, 0)
        return np.stack([np.sinh(x) * ux * vx + 2 * uy * vy, 2 * (ux * vy + uy * vx), 6 * z * uz * vz], axis=-1)

    return igr.Loss(value, grad), igr.Loss(value, grad, hvp, d3)


def make_case(name):
    rng = np.random.default_rng(12345)
    if name == "quadratic":
        S = rng.normal(size=(3, 3))
        loss = igr.quadratic(S + S.T, b=rng.normal(size=3))  # indefinite on purpose
        return Case(name, loss, 3, 2.0, loss)
    if name == "least_squares":
        loss = igr.least_squares(rng.normal(size=(6, 3)), rng.normal(size=6))
        return Case(name, loss, 3, 2.0, loss)
    if name == "two_param":
        loss = igr.two_param(x=1.5, y=-0.7)
        return Case(name, loss, 2, 2.0, loss)
    if name == "rosenbrock":
        loss = igr.rosenbrock(a=1.0, b=10.0)
        return Case(name, loss, 2, 1.5, loss)
    if name == "himmelblau":
        loss = igr.himmelblau()
        return Case(name, loss, 2, 4.0, loss)
    if name == "bare":
        loss, exact = bare_model()
        return Case(name, loss, 3, 1.5, exact)
    raise KeyError(name)


MODELS = ["quadratic", "least_squares", "two_param", "rosenbrock", "himmelblau", "bare"]


@pytest.fixture(params=MODELS)
def model(request):
    return make_case(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def central_difference(f, theta, eps=1e-5):
    """Jacobian of ``f`` at ``theta`` (shape (d,)) by central differences, one column per coordinate.

    Returns shape ``f(theta).shape + (d,)``. The step is relative to ``1 + |theta|``; with
    eps = 1e-5 the error is about eps^2 times the next derivative plus 1e-16 |f| / eps.
    """
    theta = np.asarray(theta, dtype=float)
    step = eps * (1 + np.linalg.norm(theta))
    diff = [np.asarray(f(theta + step * e)) - np.asarray(f(theta - step * e)) for e in np.eye(theta.size)]
    return np.stack(diff, axis=-1) / (2 * step)


@pytest.fixture
def fd():
    """The central-difference Jacobian, :func:`central_difference`."""
    return central_difference


# --- the built website, served locally, in headless Chromium ----------------------------------


@pytest.fixture(scope="module")
def built_site():
    """The built website, checked to be at least as new as every page's source."""
    import _website as site

    if not (site.SITE / "index.html").is_file():
        site.unavailable("website not built: run `make book` first")
    stale = site.stale_pages()
    if stale:
        site.unavailable(f"website older than its sources ({', '.join(stale)}): run `make book` first")
    return site.SITE


@pytest.fixture(scope="module")
def server(built_site):
    import _website as site

    with site.SiteServer(built_site) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server):
    import _website as site

    chromium, chromedriver, reason = site.find_browser()
    if reason:
        site.unavailable(reason)
    driver = site.start_chromium(chromium, chromedriver)
    yield driver
    site.stop_chromium(driver)


def make_venv(folder, *path):
    """A virtual environment in ``folder`` whose .pth file puts this environment's packages and
    ``path`` on its import path. Returns its interpreter and its site-packages."""
    import subprocess
    import sys
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    ask = [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    site = pathlib.Path(subprocess.run(ask, check=True, capture_output=True, text=True).stdout.strip())
    (site / "shared.pth").write_text("".join(f"{p}\n" for p in (sysconfig.get_paths()["purelib"], *path)))
    return python, site


# --- the grader's tests -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sandbox():
    """Whether bubblewrap's sandbox works here; the grader's tests skip without it (with the
    reason), unless IGR_REQUIRE_SANDBOX is set (CI), where its absence is a failure."""
    from igrlib.coursework.grade import sandbox_problem

    problem = sandbox_problem()
    if problem and os.environ.get("IGR_REQUIRE_SANDBOX"):
        pytest.fail(f"IGR_REQUIRE_SANDBOX is set but {problem}")
    if problem:
        pytest.skip(problem)
    return True


@pytest.fixture(scope="session")
def cgroups(sandbox):
    """Whether the grader can put each sandbox in cgroups of its own (memory and task limits);
    skipped without, unless IGR_REQUIRE_SANDBOX is set (CI), where their absence is a failure."""
    from igrlib.coursework.grade import cgroups_problem

    problem = cgroups_problem()
    if problem:
        if os.environ.get("IGR_REQUIRE_SANDBOX"):
            pytest.fail(f"IGR_REQUIRE_SANDBOX is set but {problem}")
        pytest.skip(problem)
    return True


@pytest.fixture
def chapters(tmp_path, sandbox):
    """The instructor's chapters for the grader: the demo chapter of tests/test_student.py."""
    import nbformat
    from test_student import demo_notebook

    from igrlib.coursework.grade import reference_chapters

    ref = tmp_path / "reference"
    ref.mkdir()
    nbformat.write(demo_notebook(), ref / "demo.ipynb")
    return reference_chapters(ref)


# --- slow end-to-end grading: in `make coursework`, not in `make test` --------------------------


def pytest_collection_modifyitems(config, items):
    """Tests marked ``coursework`` (a hostile notebook graded end to end, seconds each) run in
    `make coursework` (and CI), which sets IGR_COURSEWORK=1; `make test` skips them, for its budget."""
    if os.environ.get("IGR_COURSEWORK"):
        return
    skip = pytest.mark.skip(reason="slow: runs in `make coursework` (set IGR_COURSEWORK=1)")
    for item in items:
        if item.get_closest_marker("coursework") is not None:
            item.add_marker(skip)
