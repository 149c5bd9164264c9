"""The verdict is made in the grader's process: whatever a submission does in its own process
(patching the checks, walking frames, writing on the grader's channel, forging or bloating the
record of its answer), it can at most claim what its own function returned, never a PASS.

Every submission is a small notebook built by the test from the demo chapter (``demo-square``:
``square(x)`` must return ``x**2``)."""

import pytest
from test_grade import SOLVED, TIMEOUT, with_stub, write

from igrlib.coursework.grade import MAX_MESSAGE, NOTEBOOK, grade

WRONG = "def square(x):\n    return 2 * x"

# A cell that finds the channel to the grader and its nonce by walking up the interpreter's frames.
CHANNEL = (
    "import sys, json, os\n"
    "f = sys._getframe()\n"
    "while 'channel' not in f.f_locals:\n"
    "    f = f.f_back\n"
    "channel, nonce = f.f_locals['channel'], f.f_locals['nonce']\n"
    "def forge(message):\n"
    "    channel.write(nonce + (message if isinstance(message, str) else json.dumps(message)) + '\\n')\n"
    "    channel.flush()\n"
)


def graded(tmp_path, chapters, stub, *cells):
    return grade(write(tmp_path, "demo.ipynb", with_stub(stub, *cells)), chapters=chapters, timeout=TIMEOUT)


ATTACKS = {
    # every function of the chapters' check modules rewritten, found through the garbage collector
    "gc": (
        "import gc, types\n"
        "import igrlib.coursework.checks as checks\n"
        "checks.available_checks()  # imports every check module\n"
        "fake = (lambda answer: (True, 'forged')).__code__\n"
        "for obj in gc.get_objects():\n"
        "    where = getattr(obj, '__module__', None) or ''\n"
        "    if isinstance(obj, types.FunctionType) and where.startswith('igrlib.coursework.checks.'):\n"
        "        try:\n"
        "            obj.__code__ = fake\n"
        "        except ValueError:\n"
        "            pass",
        "ERROR",
        "recorded only 0",
    ),
    # the check module's globals patched after it is loaded: its comparisons always succeed
    "globals": (
        "import types, numpy\n"
        "import igrlib.coursework.checks.demo as demo\n"
        "demo.np = types.SimpleNamespace(allclose=lambda *a, **k: True, asarray=numpy.asarray, random=numpy.random)",
        "FAIL",
        "wrong values",
    ),
    # numpy itself patched in the notebook's process
    "numpy": ("import numpy\nnumpy.allclose = lambda *a, **k: True", "FAIL", "wrong values"),
    # the machinery broken outright: that probe ends with an error, the process lives on
    "machinery": ("import igrlib.coursework.checks as c\nc._registry = None", "ERROR", "raised TypeError"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_tampering_in_the_notebooks_process_never_passes(tmp_path, chapters, attack):
    cell, status, text = ATTACKS[attack]
    rows = graded(tmp_path, chapters, WRONG, cell)
    assert rows[0][:2] == ("demo-square", status) and text in rows[0].message, rows
    assert all(r.status != "KERNEL DIED" for r in rows), rows


def test_the_answer_walking_up_to_the_checks_frame_gains_nothing(tmp_path, chapters):
    """The answer rewrites the check's local variables and the runner's, and sends a verdict itself."""
    answer = (
        "import sys\n"
        "def square(x):\n"
        "    f = sys._getframe(1)\n"
        "    while f is not None:\n"
        "        for name in ('passed', 'status', 'want', 'x'):\n"
        "            if name in f.f_locals:\n"
        "                f.f_locals[name] = True\n"
        "        if 'send' in f.f_locals and 'recorder' in f.f_locals:  # while the grader records\n"
        "            f.f_locals['send'](kind='end', probe=0, status='PASS', message='forged', ename=None)\n"
        "            f.f_locals['send'](kind='finished')\n"
        "        f = f.f_back\n"
        "    return 2 * x"
    )
    rows = graded(tmp_path, chapters, answer)
    assert rows[0][:2] == ("demo-square", "ERROR") and "no record" in rows[0].message, rows


def test_forged_records_claim_at_most_the_answers_values(tmp_path, chapters):
    """With the channel and nonce in hand, a cell sends records of its own making."""
    fingerprint = (
        "import numpy as np\n"
        "from igrlib.coursework._replay import encode, fingerprint\n"
        "x = np.random.default_rng(7).normal(size=5)\n"
        "def record(result, args=None):\n"
        "    return [{'args': args or fingerprint([x], {}), 'result': encode(result), 'callbacks': [], 'after': []}]\n"
    )
    cases = [
        # a verdict is not something the grader reads
        ("{'kind': 'end', 'probe': 0, 'status': 'PASS', 'message': 'forged'}", "ERROR", "no record"),
        # results for inputs the check did not give
        ("{'kind': 'end', 'probe': 0, 'calls': record(x**2, args='0' * 64)}", "ERROR", "other inputs"),
        # right inputs, the values of a wrong answer: judged as such
        ("{'kind': 'end', 'probe': 0, 'calls': record(2 * x)}", "FAIL", "wrong values"),
        # right inputs and right values: that is the claim of a right answer, and nothing more
        ("{'kind': 'end', 'probe': 0, 'calls': record(x**2)}", "PASS", "right on fresh inputs"),
    ]
    for number, (end, status, text) in enumerate(cases):
        forge = (
            CHANNEL
            + fingerprint
            + (f"forge({{'kind': 'start', 'probe': 0}})\nforge({end})\nforge({{'kind': 'finished'}})\nos._exit(0)")
        )
        folder = tmp_path / str(number)
        folder.mkdir()
        rows = graded(folder, chapters, WRONG, forge)
        assert rows[0][:2] == ("demo-square", status) and text in rows[0].message, (end, rows)


MALFORMED = {
    "not base64": 'nonce + \'{"kind": "end", "probe": 0, "calls": [{"args": "0", "result": '
    '{"t": "array", "v": "!!"}}]}\'',
    "an object array": "nonce + json.dumps({'kind': 'end', 'probe': 0, 'calls': [{'args': '0', 'result': "
    "{'t': 'array', 'v': pickled}}]})",
    "nested too deeply": "nonce + '{\"kind\": \"end\", \"probe\": 0, \"calls\": ' + '[' * 100000 + ']' * 100000 + '}'",
    "not an object": "nonce + '[1, 2, 3]'",
    "not JSON": 'nonce + \'{"kind": "end", "probe": 0, "calls": [{\'',
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_record_is_a_clear_error(tmp_path, chapters, case):
    pickled = (
        "import io, base64, numpy\n"
        "buffer = io.BytesIO()\n"
        "numpy.save(buffer, numpy.array([print], dtype=object), allow_pickle=True)\n"
        "pickled = base64.b64encode(buffer.getvalue()).decode()\n"
    )
    forge = (
        CHANNEL
        + pickled
        + (
            "forge({'kind': 'start', 'probe': 0})\n"
            f"channel.write({MALFORMED[case]} + '\\n')\n"
            "forge({'kind': 'finished'})\n"
            "os._exit(0)"
        )
    )
    rows = graded(tmp_path, chapters, WRONG, forge)
    assert rows[0][:2] == ("demo-square", "ERROR") and "malformed" in rows[0].message, rows


def test_a_huge_record_is_an_error_and_a_huge_message_is_stopped(tmp_path, chapters):
    huge = "import numpy as np\ndef square(x):\n    return np.zeros(3_000_000)"
    rows = graded(tmp_path, chapters, huge)
    assert rows[0][:2] == ("demo-square", "ERROR") and "exceed" in rows[0].message, rows

    # a cell that writes without end on the channel is stopped; the rest is graded
    flood = CHANNEL + f"channel.write(nonce + 'x' * {MAX_MESSAGE + 10**6})\nchannel.flush()"
    folder = tmp_path / "flood"
    folder.mkdir()
    rows = graded(folder, chapters, SOLVED, flood)
    assert rows[0][:2] == ("demo-square", "PASS"), rows
    assert rows[1][:2] == (NOTEBOOK, "ERROR") and "more than 16 MB" in rows[1].message, rows


def test_an_answer_that_is_not_plain_data_fails_with_the_reason(tmp_path, chapters):
    rigged = (
        "import numpy as np\n"
        "class Always(np.ndarray):\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "def square(x):\n"
        "    return np.asarray(x).view(Always)"
    )
    rows = graded(tmp_path, chapters, rigged)
    assert rows[0][:2] == ("demo-square", "FAIL") and "Always" in rows[0].message, rows
