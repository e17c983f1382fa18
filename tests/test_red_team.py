"""The red team's attacks on a whole class, graded in one run with two workers while a
CPU-burning process competes for the cores.

Every attacker hands in the instructor's answers except the ``relu`` cell, which carries
the attack; correct control students are graded before, between and after them. Each
test asserts the attacker's own result, and the module asserts that every control got
full marks, that the run completed, and that nothing the attackers made outlives it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from conftest import load_answers, load_release, write_submission

from autograder.grade import ClassRun, grade_class
from autograder.sandbox import Isolation
from autograder.submission import fill_answers

CORRECT_RELU = load_answers("assignment1")["relu"]
TOKEN = uuid.uuid4().hex[:12]  # names the markers this run's attackers leave
FULL, WITHOUT_RELU = 11.0, 9.0
BWRAP = Isolation.for_course([]).mode != "plain"
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="the allow-list sandbox needs bubblewrap")
ROOT_MODE = Isolation.for_course([]).mode == "root"

# The result pipe is one of the low file descriptors: writing to all of them forges frames.
FORGE = """
import os
def _forge(frame):
    for fd in range(3, 64):
        try:
            os.write(fd, len(frame).to_bytes(4, "big") + frame)
        except OSError:
            pass
"""


def relu_with(attack: str, prelude: str = "") -> str:
    """A relu cell whose forward pass runs ``attack`` (indented) before answering."""
    body = "".join(f"    {line}\n" for line in attack.strip().splitlines())
    return (
        f"import numpy as np\n{prelude}\n"
        f"def relu_forward(x):\n{body}    return np.maximum(x, 0.0), x\n\n"
        "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"
    )


# attacker -> (relu cell, expected total, words expected in the relu part's problems)
ATTACKS = {
    "huge_integer_frame": (
        relu_with('_forge(b\'{"t": "probe_done", "probe": \' + b"9" * 5000 + b"}")', FORGE),
        WITHOUT_RELU,
        "corrupted",
    ),
    "deeply_nested_frame": (
        relu_with('_forge(b"[" * 60000)', FORGE),
        WITHOUT_RELU,
        "corrupted",
    ),
    "shape_that_wraps_around": (
        relu_with(
            '_forge(b\'{"t": "value", "probe": "p", "name": "y", "dtype": "<f8", '
            '"shape": [4294967296, 4294967296], "nbytes": 0}\')',
            FORGE,
        ),
        WITHOUT_RELU,
        "corrupted",
    ),
    "forged_cell_errors": (
        relu_with(
            "for i in range(200):\n"
            '    _forge(json.dumps({"t": "cell_error", "cell": "k" * 5000 + str(i), '
            '"error": "e" * 5000}).encode())',
            FORGE + "import json\n",
        ),
        WITHOUT_RELU,
        "corrupted",
    ),
    "real_time_signal": (relu_with("os.kill(os.getpid(), 40)", "import os"), WITHOUT_RELU, "40"),
    "lone_surrogate_message": (
        relu_with('raise ValueError("\\ud800" * 50)'),
        WITHOUT_RELU,
        "ValueError",
    ),
    "stops_itself": (
        relu_with("os.kill(os.getpid(), signal.SIGSTOP)", "import os, signal"),
        WITHOUT_RELU,
        "timed out",
    ),
    "walks_the_stack_for_inputs": (
        relu_with(
            "found = []\nframe = sys._getframe(1)\nwhile frame is not None:\n"
            "    for v in list(frame.f_locals.values()):\n"
            "        if isinstance(v, dict):\n"
            "            found += [repr(a) for a in v.values() if isinstance(a, np.ndarray)]\n"
            "    frame = frame.f_back\n"
            "raise ValueError(' '.join(found)[:3000])",
            "import sys",
        ),
        WITHOUT_RELU,
        "ValueError",
    ),
}


if BWRAP:  # without namespaces this would signal every process of the grader's user
    ATTACKS["kills_everything_it_can"] = (
        relu_with(  # the init (PID 1), every process it may signal, its parent (pid 0)
            "for pid in (1, -1, os.getppid()):\n    try:\n        os.kill(pid, 9)\n"
            "    except OSError:\n        pass",
            "import os",
        ),
        WITHOUT_RELU,
        "",
    )


def _leaves_behind() -> str:
    """A relu cell that leaves a daemon (which, once its own submission should be done,
    signals everything it can for 20 s), marker files and a System V segment for a later
    submission to find; it answers correctly, so it keeps full marks."""
    return relu_with(
        "",
        f"""
import ctypes, os, time
for folder in ("/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~")):
    try:
        open(os.path.join(folder, "{TOKEN}"), "w").write("left")
    except OSError:
        pass
try:
    ctypes.CDLL(None).shmget(0x{TOKEN[:7]}, 4096, 0o1666)
except Exception:
    pass
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(2)
        end = time.time() + 20
        while time.time() < end:
            try:
                os.kill(-1, 9)
            except OSError:
                pass
            time.sleep(0.01)
    os._exit(0)
""",
    )


def _finds_leftovers() -> str:
    """A relu cell that answers wrongly if anything of an earlier submission is visible."""
    return relu_with(
        f"""
seen = [f for f in ("/tmp", "/var/tmp", "/dev/shm") if os.path.exists(os.path.join(f, "{TOKEN}"))]
if seen or ctypes.CDLL(None).shmget(0x{TOKEN[:7]}, 0, 0) != -1:
    return np.zeros_like(x), x
""",
        "import ctypes, os",
    )


def _copies_a_solution(planted: Path) -> str:
    """A relu cell that is wrong unless it can read a solution lying on the machine (here
    it knows where; a real attacker searched the disk and found 178 such files)."""
    return (
        "import numpy as np\n"
        "def relu_forward(x):\n    return np.zeros_like(x), x\n\n"
        "def relu_backward(dout, cache):\n    return dout\n\n"
        f"try:\n    exec(open({str(planted)!r}).read())\nexcept OSError:\n    pass\n"
    )


@pytest.fixture(scope="module")
def planted_solution():
    """A correct solution in a world-readable folder outside the course."""
    folder = Path(tempfile.mkdtemp(prefix="elsewhere-"))
    folder.chmod(0o755)
    path = folder / f"solution_{TOKEN}.py"
    path.write_text(CORRECT_RELU)
    path.chmod(0o644)
    yield path
    shutil.rmtree(folder)


def _raw_notebook(edit) -> bytes:
    """The instructor's notebook as JSON text, after ``edit`` changed its relu cell."""
    nb = fill_answers(load_release("assignment1"), load_answers("assignment1"))
    data = json.loads(json.dumps(nb))
    cell = next(
        c for c in data["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "relu"
    )
    edit(cell)
    return json.dumps(data).encode()


MALFORMED = {
    "grade_id_is_a_list": lambda c: c["metadata"]["nbgrader"].update(grade_id=["relu"]),
    "grade_id_lone_surrogate": lambda c: c["metadata"]["nbgrader"].update(grade_id="relu\ud800"),
}


@pytest.fixture(scope="module")
def red_class(root, tmp_path_factory, cpu_burner, planted_solution):
    submitted = tmp_path_factory.mktemp("red-team")
    controls = ["aa_control", "mm_control", "zz_control"]
    for name in controls:
        write_submission(submitted, name, "assignment1", {})
    for name, (cell, _, _) in ATTACKS.items():
        write_submission(submitted, f"b_{name}", "assignment1", {"relu": cell})
    if BWRAP:
        write_submission(submitted, "c_leaves_behind", "assignment1", {"relu": _leaves_behind()})
    write_submission(submitted, "d_finds_leftovers", "assignment1", {"relu": _finds_leftovers()})
    copier = {"relu": _copies_a_solution(planted_solution)}
    write_submission(submitted, "e_copies_a_solution", "assignment1", copier)
    for name, edit in MALFORMED.items():
        write_submission(submitted, f"f_{name}", "assignment1", _raw_notebook(edit))
    string_metadata = _raw_notebook(lambda c: c.update(metadata="nbgrader"))
    write_submission(submitted, "f_metadata_is_a_string", "assignment1", string_metadata)
    odd = Path(os.fsdecode(os.fsencode(str(submitted)) + b"/g_not_utf8_\xff")) / "assignment1"
    odd.mkdir(parents=True)
    shutil.copy(submitted / "aa_control" / "assignment1" / "assignment1.ipynb", odd)
    out = tmp_path_factory.mktemp("red-out")
    started = time.monotonic()
    results = grade_class("assignment1", submitted, ClassRun(root, out, workers=2))
    return {r.student: r for r in results}, out, time.monotonic() - started


def relu_part(result):
    return next(p for p in result.parts if p.grade_id == "test_relu")


def problems_of(part) -> str:
    return " ".join(p for case in part.cases for p in case.problems)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_each_attack_costs_only_the_attacked_part(red_class, name):
    results, _, _ = red_class
    result = results[f"b_{name}"]
    _, total, words = ATTACKS[name]
    assert result.status == "graded", result.problems
    assert result.score == total
    assert relu_part(result).score == 0
    assert words in problems_of(relu_part(result))


def test_every_control_student_gets_full_marks(red_class):
    results, _, _ = red_class
    for name in ("aa_control", "mm_control", "zz_control"):
        assert results[name].score == FULL, (name, results[name].problems)


def test_messages_never_carry_the_hidden_inputs(red_class):
    _, out, _ = red_class
    record = (out / "results" / "assignment1" / "b_walks_the_stack_for_inputs.json").read_text()
    assert not re.search(r"\d\.\d{4,}", record), "hidden inputs reached the record"


def test_records_and_feedback_stay_small_whatever_the_child_sends(red_class):
    _, out, _ = red_class
    for path in list((out / "results").rglob("*.json")) + list((out / "feedback").rglob("*.*")):
        assert path.stat().st_size < 200_000, path


@needs_bwrap
def test_nothing_a_submission_leaves_reaches_a_later_one_or_the_machine(red_class):
    results, _, _ = red_class
    assert results["c_leaves_behind"].score == FULL
    assert results["d_finds_leftovers"].score == FULL
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not (Path(folder) / TOKEN).exists()
    segments = subprocess.run(["ipcs", "-m"], capture_output=True, text=True).stdout
    assert f"0x{int(TOKEN[:7], 16):08x}" not in segments


@needs_bwrap
def test_no_process_of_the_sandbox_survives_the_run(red_class):
    from test_sandbox import live_processes_of

    leftovers = []
    for _ in range(50):
        leftovers = [p for uid in range(61000, 61064) for p in live_processes_of(uid)]
        if not leftovers:
            break
        time.sleep(0.1)
    assert leftovers == []


@needs_bwrap
def test_files_elsewhere_on_the_machine_are_invisible(red_class):
    results, _, _ = red_class
    result = results["e_copies_a_solution"]
    assert relu_part(result).score == 0 and result.score == WITHOUT_RELU
    assert "not defined" not in problems_of(relu_part(result))  # the cell itself ran


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_metadata_loses_only_that_cell(red_class, name):
    results, _, _ = red_class
    result = results[f"f_{name}"]
    assert result.status == "graded" and result.score == WITHOUT_RELU
    assert any("relu" in p and "missing" in p for p in result.problems)


def test_a_cell_whose_metadata_is_not_an_object_makes_the_notebook_unreadable(red_class):
    results, _, _ = red_class
    result = results["f_metadata_is_a_string"]
    assert result.status == "unreadable" and result.score == 0
    assert "not a readable Jupyter notebook" in result.problems[0]


def test_a_folder_name_that_is_not_utf8_is_graded_under_a_printable_id(red_class):
    results, out, _ = red_class
    result = results["g_not_utf8_\\xff"]
    assert result.score == FULL
    assert (out / "results" / "assignment1" / "g_not_utf8_\\xff.json").exists()


def test_a_grader_fault_on_one_submission_is_that_students_result(root, tmp_path, monkeypatch):
    import autograder.grade_submission as grade

    real = grade.build_program

    def breaks_on_marked(release, submitted):
        if submitted.metadata.get("breaks_the_grader"):
            raise KeyError("a bug in the grader that this notebook provokes")
        return real(release, submitted)

    monkeypatch.setattr(grade, "build_program", breaks_on_marked)
    submitted = tmp_path / "submitted"
    write_submission(submitted, "a_control", "assignment1", {})
    marked = fill_answers(load_release("assignment1"), load_answers("assignment1"))
    marked.metadata["breaks_the_grader"] = True
    write_submission(submitted, "b_provokes", "assignment1", nbformat.writes(marked).encode())
    write_submission(submitted, "c_control", "assignment1", {})
    results = {
        r.student: r
        for r in grade_class("assignment1", submitted, ClassRun(root, tmp_path / "out"))
    }
    assert results["a_control"].score == FULL and results["c_control"].score == FULL
    provoked = results["b_provokes"]
    assert provoked.status == "grader-error" and provoked.score == 0
    assert "KeyError" in provoked.problems[0] and len(provoked.parts) == 5
