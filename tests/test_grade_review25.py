"""Fresh attacks on the redesigned grader by an independent reviewer, and two found while closing
them: each test grades a crafted notebook in the default (sandboxed) mode. All but the last
failed on the grader the reviewer attacked; the last fails if the process for an exercise keeps
the routines it held once they are off.

- A function the check hands over runs in the grader's process, on inputs the submission chose:
  ``Loss.d3`` of igrlib's quadratic and least-squares losses returns ``np.zeros`` of the
  *broadcast* shape of its arguments, so two stacks of K points (K d 16 bytes sent) made the
  grader build, encode and send K**2 d doubles; the grader has no memory limit. Now a handed
  function takes arguments of one shape only, of bounded size (``_remote.MAX_HANDED``).
- The sandbox's ``/`` and ``/dev`` were tmpfs mounts of bubblewrap without a size.
- The switch-off looked its routines up by module name when the exercise started: empty modules
  in ``sys.modules``, or decoys under ``__wrapped__`` and the solver classes' names, were switched
  off instead. Now the runner looks them up before any cell runs and keeps the objects.
- ``steepest-dissipation`` used two fixed losses (named in its messages) and a quadratic whose
  value follows from d + 1 gradients. Now its losses are fresh random sums of waves.
- A solver class was switched off by an ``__init__`` set on it alone: deleting it exposed the
  base class's. Now the bases' are switched off too.
"""

import pytest
from test_grade_attacks import graded

from igrlib.coursework import grade as grade_module
from igrlib.coursework.grade import MAX_MESSAGE

pytestmark = [pytest.mark.usefixtures("sandbox"), pytest.mark.coursework]  # seconds each: make coursework


def test_a_handed_loss_cannot_make_the_grader_build_a_quadratic_array(tmp_path, monkeypatch):
    """``loss.d3(t, u, u)`` with t of shape (K, 1, d) and u of shape (1, K, d): the grader built
    np.zeros((K, K, d)) and sent it back. K = 1500 sends 72 KB and got 48 MB of base64 back;
    K = 20,000 (2 MB sent) would need some 25 GB in the grader's process. The call is refused,
    and the student's code is told why."""
    sent = []
    original = grade_module._Kernel.send

    def spy(self, message):
        sent.append(len(grade_module._remote.dumps(message)))
        return original(self, message)

    monkeypatch.setattr(grade_module._Kernel, "send", spy)
    source = (
        "def sgd_extra_penalty(losses, theta, lr):\n"
        "    d = len(theta)\n"
        "    t, u = np.zeros((1500, 1, d)), np.zeros((1, 1500, d))\n"
        "    losses[0].d3(t, u, u)\n"
        "    return 0.0\n"
    )
    rows = graded(tmp_path, "beyond-sgd-extra-penalty", "sgd_extra_penalty", "losses, theta, lr", source, timeout=20)
    assert max(sent) <= MAX_MESSAGE, f"the grader built and sent {max(sent) / 2**20:.0f} MB for one call of d3"
    assert rows[0].status == "FAIL" and "ValueError" in rows[0].message and "one shape" in rows[0].message, rows


@pytest.mark.coursework
def test_the_sandbox_has_no_unbounded_tmpfs_outside_tmp(tmp_path):
    """/dev/shm, /dev and / inside the sandbox accept files far beyond the 256 MiB of /tmp."""
    source = (
        "def square(x):\n"
        "    total = 0\n"
        "    for where in ('/dev/shm/', '/dev/', '/'):\n"
        "        for i in range(2):\n"
        "            try:\n"
        "                with open(f'{where}fill{i}', 'wb') as f:\n"
        "                    for _ in range(100):\n"
        "                        f.write(b'x' * 2**20)\n"
        "                total += 100\n"
        "            except OSError:\n"
        "                pass\n"
        "    raise ValueError(f'wrote {total} MiB')\n"
    )
    rows = graded(tmp_path, "demo-square", "square", "x", source, timeout=30)
    written = int(rows[0].message.split("wrote ")[1].split(" MiB")[0])
    assert written <= 256, rows[0].message


def test_the_hidden_loss_value_cannot_be_rebuilt_to_skip_the_integral(tmp_path):
    """``steepest-dissipation`` hides ``loss.value`` so that the answer integrates |g|^2. But two of
    its "three fresh problems" were fixed (Rosenbrock b = 5 from (-1.2, 1.5) for T = 1.5, Himmelblau
    from (0.5, -0.5) for T = 0.3, named in its messages), and the fresh quadratic's value follows
    from d + 1 gradients: an answer that never integrated anything returned the drop in the loss."""
    source = (
        "def dissipated(loss, theta0, T):\n"
        "    import scipy.linalg\n"
        "    theta0 = np.asarray(theta0, float)\n"
        "    if len(theta0) == 2:\n"
        "        known = igr.rosenbrock(1.0, 5.0) if T == 1.5 else igr.himmelblau()\n"
        "        end = igr.gradient_flow(known, theta0, [0.0, T])[-1]\n"
        "        return float(known.value(theta0) - known.value(end))\n"
        "    d = len(theta0)\n"
        "    b = -np.asarray(loss.grad(np.zeros(d)))\n"
        "    A = np.array([np.asarray(loss.grad(e)) + b for e in np.eye(d)]).T\n"
        "    star = np.linalg.solve(A, b)\n"
        "    end = star + scipy.linalg.expm(-T * A) @ (theta0 - star)\n"
        "    value = lambda th: 0.5 * th @ A @ th - b @ th\n"
        "    return float(value(theta0) - value(end))\n"
    )
    rows = graded(tmp_path, "steepest-dissipation", "dissipated", "loss, theta0, T", source, timeout=20)
    assert rows[0].status != "PASS", rows


def test_the_switch_off_cannot_be_sent_to_empty_modules(tmp_path):
    """The copy for an exercise looked its forbidden routines up by module name
    (``importlib.import_module``, i.e. ``sys.modules``) only when the exercise started. A cell that
    puts empty modules under ``igrlib`` and ``scipy.integrate`` in ``sys.modules`` leaves every
    routine on the list switched on: the answer calls ``igr.gradient_flow`` itself, by the very
    reference that is blocked without that cell (no copy of any routine made)."""
    before = (
        "import sys, types\n"
        "for name in ('igrlib', 'scipy.integrate'):\n"
        "    sys.modules[name] = types.ModuleType(name)\n"
    )
    source = "def quadratic_flow(A, b, theta0, t):\n    return igr.gradient_flow(igr.quadratic(A, b), theta0, t)\n"
    rows = graded(tmp_path, "steepest-quadratic-flow", "quadratic_flow", "A, b, theta0, t", source, before, timeout=20)
    assert rows[0].status != "PASS", rows


def test_the_switch_off_cannot_be_sent_to_decoys(tmp_path):
    """The same without touching ``sys.modules``: ``_resolve`` follows ``__wrapped__``
    (``inspect.unwrap``) and takes ODE classes by their module attribute, so decoys planted in a
    cell were switched off instead of ``igrlib.gradient_flow``, ``solve_ivp`` and ``DOP853``."""
    before = (
        "import scipy.integrate\n"
        "igr.gradient_flow.__wrapped__ = lambda *a, **k: None\n"
        "scipy.integrate.solve_ivp.__wrapped__ = lambda *a, **k: None\n"
        "for cls in ('DOP853', 'RK45', 'RK23', 'Radau', 'BDF', 'LSODA'):\n"
        "    setattr(scipy.integrate, cls, type(cls, (), {}))\n"
    )
    source = "def quadratic_flow(A, b, theta0, t):\n    return igr.gradient_flow(igr.quadratic(A, b), theta0, t)\n"
    rows = graded(tmp_path, "steepest-quadratic-flow", "quadratic_flow", "A, b, theta0, t", source, before, timeout=20)
    assert rows[0].status != "PASS", rows


def test_a_solver_class_stays_switched_off_when_its_blocked_init_is_deleted(tmp_path):
    """A class was switched off by an ``__init__`` set on it alone: deleting that attribute in the
    answer gave ``DOP853`` the ``__init__`` of its base class, ``RungeKutta``, which was not."""
    source = (
        "def quadratic_flow(A, b, theta0, t):\n"
        "    import scipy.integrate as si\n"
        "    if '__init__' in vars(si.DOP853):\n"
        "        del si.DOP853.__init__\n"
        "    out = [theta0]\n"
        "    for t1 in t[1:]:\n"
        "        s = si.DOP853(lambda _, th: b - A @ th, 0.0, theta0, t1, rtol=1e-12, atol=1e-14)\n"
        "        while s.status == 'running':\n"
        "            s.step()\n"
        "        out.append(s.y)\n"
        "    return np.array(out)\n"
    )
    rows = graded(tmp_path, "steepest-quadratic-flow", "quadratic_flow", "A, b, theta0, t", source, timeout=20)
    assert rows[0].status == "FAIL" and "is switched off" in rows[0].message, rows


def test_the_originals_held_for_the_switch_off_are_not_left_for_gc_to_find(tmp_path):
    """The process for a submission holds the routines it may switch off from its start; the copy
    for an exercise must let go of them once they are off, or an answer finds the original
    ``scipy.integrate.ode.__init__`` through ``gc`` and sets it back."""
    source = (
        "def quadratic_flow(A, b, theta0, t):\n"
        "    import gc, types, scipy.integrate as si\n"
        "    for f in gc.get_objects():\n"
        "        if isinstance(f, types.FunctionType) and f.__qualname__ == 'ode.__init__':\n"
        "            si.ode.__init__ = f\n"
        "    r = si.ode(lambda _, th: b - A @ th).set_integrator('dop853', rtol=1e-12, atol=1e-14)\n"
        "    r.set_initial_value(theta0, 0.0)\n"
        "    return np.array([theta0] + [r.integrate(t1) for t1 in t[1:]])\n"
    )
    rows = graded(tmp_path, "steepest-quadratic-flow", "quadratic_flow", "A, b, theta0, t", source, timeout=20)
    assert rows[0].status == "FAIL" and "is switched off" in rows[0].message, rows
