"""The sandbox under attack: each hostile function is called in one probe, and a control
probe after it must still return the right answer from a fresh child if needed."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import numpy_backprop
import pytest

from autograder.sandbox import Cell, Isolation, Limits, Probe, run

ROOT = Path(__file__).resolve().parents[1]
NUMERICS = Path(numpy_backprop.__file__).resolve().parent  # the reference, editable here
LIMITS = Limits(probe_seconds=3.0, cell_seconds=3.0, total_seconds=60.0, cpu_seconds=30)
SLOW = Limits(probe_seconds=60.0, cell_seconds=60.0, total_seconds=120.0, cpu_seconds=60)
IS_ROOT = os.geteuid() == 0
ISOLATED = Isolation.for_course([]).mode == "root"  # see the strongest-mode test below
needs_root = pytest.mark.skipif(not ISOLATED, reason="uid and namespace isolation need root")

CONTROL = "def control(x):\n    return x + 1.0\n"
pytestmark = pytest.mark.usefixtures("cpu_burner")


def attack(body: str, limits: Limits = LIMITS, setup: str = "import numpy as np\n", mode=None):
    """Run ``def attack(x): <body>`` then a control probe, in the strongest mode or in
    ``mode``; returns the outcome."""
    source = "def attack(x):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    cells = [Cell("setup", setup), Cell("answer", source + CONTROL)]
    probes = [
        Probe("attack", [{"call": "attack", "args": [{"in": "x"}], "save": ["y"]}], ["y"]),
        Probe("control", [{"call": "control", "args": [{"in": "x"}], "save": ["y"]}], ["y"]),
    ]
    isolation = Isolation.for_course([ROOT], mode=mode)
    return run(cells, probes, {"x": np.arange(4.0)}, limits, isolation)


def assert_control_intact(outcome):
    assert "control" not in outcome.probe_errors, outcome.probe_errors
    np.testing.assert_array_equal(outcome.values["control"]["y"], np.arange(4.0) + 1.0)
    assert not outcome.grader_error


def test_an_honest_function_comes_back_as_an_array():
    outcome = attack("return x * 2.0")
    np.testing.assert_array_equal(outcome.values["attack"]["y"], np.arange(4.0) * 2)
    assert_control_intact(outcome)
    assert outcome.children == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("while True:\n    pass", "timed out"),
        (
            "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "signal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass",
            "timed out",
        ),
        ("import os\nos._exit(0)", "ended the grading process"),
        ("import sys\nsys.exit(0)", "SystemExit"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("return np.ones(int(50e9) // 8)", "MemoryError"),
        ("import os\nos.abort()", "SIGABRT"),
    ],
    ids=[
        "endless-loop",
        "ignores-signals",
        "os-exit",
        "sys-exit",
        "interrupt",
        "memory-bomb",
        "abort",
    ],
)
def test_a_hostile_call_fails_alone(body, words):
    outcome = attack(body)
    assert words in outcome.probe_errors["attack"]
    assert_control_intact(outcome)


def test_an_object_that_claims_to_equal_everything_is_not_an_array():
    body = (
        "class Liar:\n    def __eq__(self, other):\n        return True\n"
        "    def __array__(self, *a, **k):\n        return np.arange(4.0) * 2\n"
        "return Liar()"
    )
    outcome = attack(body)
    assert outcome.values["attack"]["y"] == "bad:Liar"
    assert_control_intact(outcome)


def test_an_ndarray_subclass_is_judged_by_its_data_only():
    body = (
        "class Liar(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
        "    def tobytes(self, *a):\n        return b'lies'\n"
        "return np.zeros(4).view(Liar)"
    )
    outcome = attack(body)
    np.testing.assert_array_equal(outcome.values["attack"]["y"], np.zeros(4))


def test_printing_fake_results_changes_nothing():
    body = (
        "import sys, json\nprint(json.dumps({'t': 'value', 'score': 100}))\n"
        "print('All tests passed!', file=sys.stderr)\nprint('x' * 50_000_000)\nreturn x"
    )
    outcome = attack(body)
    np.testing.assert_array_equal(outcome.values["attack"]["y"], np.arange(4.0))
    assert_control_intact(outcome)


def test_writing_into_the_result_channel_only_hurts_the_writer():
    body = (
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'garbage' * 100)\n"
        "    except OSError:\n        pass\nreturn x"
    )
    outcome = attack(body)
    assert "corrupted" in outcome.probe_errors["attack"]
    assert_control_intact(outcome)


def test_a_huge_file_is_refused():
    outcome = attack("with open('big', 'wb') as f:\n    f.write(b'0' * (200 * 2**20))\nreturn x")
    assert "File too large" in outcome.probe_errors["attack"]
    assert_control_intact(outcome)


def test_a_cell_that_loops_at_top_level_is_skipped_and_the_rest_runs():
    cells = [
        Cell("setup", "import numpy as np"),
        Cell("loops", "while True:\n    pass"),
        Cell("answer", CONTROL),
    ]
    probe = Probe("control", [{"call": "control", "args": [{"in": "x"}], "save": ["y"]}], ["y"])
    outcome = run(cells, [probe], {"x": np.zeros(2)}, LIMITS, Isolation.for_course([ROOT]))
    assert "timed out" in outcome.cell_errors["loops"]
    np.testing.assert_array_equal(outcome.values["control"]["y"], np.ones(2))


def test_the_environment_carries_no_secrets(monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "hunter2")
    outcome = attack(
        "import os\nreturn np.array([float(len(os.environ.get('GRADER_SECRET_TOKEN', '')))])"
    )
    np.testing.assert_array_equal(outcome.values["attack"]["y"], [0.0])


@needs_root
def test_the_course_files_and_the_reference_are_invisible_and_read_only():
    body = (
        f"import os\nseen = os.listdir({str(ROOT)!r}) if os.path.isdir({str(ROOT)!r}) else []\n"
        "try:\n    import numpy_backprop.layers\n    imported = 1.0\n"
        "except Exception:\n    imported = 0.0\n"
        f"readable = float(os.path.exists({str(NUMERICS)!r}))\n"
        "try:\n"
        f"    open(os.path.join({str(ROOT)!r}, 'planted.py'), 'w').write('x = 1')\n"
        "    wrote = 1.0\nexcept OSError:\n    wrote = 0.0\n"
        "visible = float(len([s for s in seen if s != '.venv']))\n"
        "return np.array([visible, imported, readable, wrote])"
    )
    outcome = attack(body)
    np.testing.assert_array_equal(outcome.values["attack"]["y"], [0.0, 0.0, 0.0, 0.0])
    assert not (ROOT / "planted.py").exists()


@needs_root
def test_the_student_cannot_signal_the_grader():
    # The fork server, the child's parent, is outside its PID namespace (getppid() is 0);
    # the one other process the child sees is the init (PID 1), which is root's.
    body = (
        "import os, signal\nrefused = 0.0\n"
        "for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):\n"
        "    if pid != os.getpid():\n"
        "        try:\n"
        "            os.kill(pid, signal.SIGKILL)\n"
        "        except PermissionError:\n"
        "            refused += 1.0\n"
        "return np.array([float(os.getppid()), float(os.getpid()), refused])"
    )
    outcome = attack(body)
    np.testing.assert_array_equal(outcome.values["attack"]["y"], [0.0, 2.0, 1.0])
    assert_control_intact(outcome)
    assert outcome.children == 1


def live_processes_of(uid: int) -> list[str]:
    """Pids of processes of ``uid`` that are not yet dead (zombies count as dead)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"Uid:\t{uid}\t" in status and "State:\tZ" not in status:
                found.append(entry.name)
    return found


@needs_root
def test_a_fork_bomb_is_contained_and_reaped():
    body = "import os\nfor _ in range(10_000):\n    os.fork()\nwhile True:\n    pass"
    outcome = attack(body, Limits(probe_seconds=3.0, processes=32, cpu_seconds=30))
    assert "attack" in outcome.probe_errors
    assert_control_intact(outcome)
    leftovers = live_processes_of(outcome.uid)
    for _ in range(50):  # SIGKILL takes effect asynchronously; allow it a moment
        if not leftovers:
            break
        time.sleep(0.1)
        leftovers = live_processes_of(outcome.uid)
    assert leftovers == []


@needs_root
def test_no_network():
    body = (
        "import socket\ns = socket.socket()\ns.settimeout(1)\n"
        "try:\n    s.connect(('127.0.0.1', 22))\n    ok = 1.0\nexcept OSError:\n    ok = 0.0\n"
        "return np.array([ok])"
    )
    outcome = attack(body)
    np.testing.assert_array_equal(outcome.values["attack"]["y"], [0.0])


def test_probe_arguments_can_be_dicts_lists_and_grader_written_functions():
    cells = [
        Cell("setup", "import numpy as np"),
        Cell(
            "answer",
            "def step(w, dw, config):\n"
            "    config.setdefault('velocity', np.zeros_like(w))\n"
            "    config['velocity'] = 0.9 * config['velocity'] - config['lr'] * dw\n"
            "    return w + config['velocity'], config\n"
            "def apply(f, xs):\n    return np.array([f(x) for x in xs])\n",
        ),
    ]
    steps = [
        {
            "call": "step",
            "args": [{"in": "w"}, {"in": "dw"}, {"dict": {"lr": {"lit": 0.5}}}],
            "save": ["next_w", "config"],
        },
        {"get": "config", "key": "velocity", "save": "v"},
    ]
    square = {"code": "lambda x: float(np.sum(a * x**2))", "with": {"a": {"in": "w"}}}
    apply_steps = [{"call": "apply", "args": [square, {"list": [{"lit": 1.0}, {"lit": 2.0}]}]}]
    apply_steps[0]["save"] = ["y"]
    probes = [Probe("opt", steps, ["next_w", "v"]), Probe("fn", apply_steps, ["y"])]
    inputs = {"w": np.ones(3), "dw": np.full(3, 2.0)}
    outcome = run(cells, probes, inputs, LIMITS, Isolation.for_course([ROOT]))
    np.testing.assert_array_equal(outcome.values["opt"]["v"], np.full(3, -1.0))
    np.testing.assert_array_equal(outcome.values["opt"]["next_w"], np.zeros(3))
    np.testing.assert_array_equal(outcome.values["fn"]["y"], [3.0, 12.0])


@needs_root
def test_bundled_datasets_are_invisible_so_test_labels_cannot_be_looked_up():
    body = (
        "try:\n    from sklearn.datasets import load_digits\n    load_digits()\n    found = 1.0\n"
        "except Exception:\n    found = 0.0\nreturn np.array([found])"
    )
    outcome = attack(body, SLOW)
    np.testing.assert_array_equal(outcome.values["attack"]["y"], [0.0])
    assert_control_intact(outcome)


BWRAP = Isolation.for_course([]).mode != "plain"
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="the allow-list sandbox needs bubblewrap")
needs_cgroups = pytest.mark.skipif(
    not BWRAP or not IS_ROOT, reason="a memory budget for all processes needs root's cgroups"
)


@needs_bwrap
def test_only_the_python_installation_is_visible():
    body = (
        "import os, sys\n"
        "top = sorted(os.listdir('/'))\n"
        "etc = sorted(os.listdir('/etc'))\n"
        "home = sorted(os.listdir(os.path.expanduser('~')))\n"
        "return np.array([float(len(set(top) - set(ALLOWED))), float(etc == ['ld.so.cache']),\n"
        "                 float(home == []), float(os.path.exists('/etc/passwd'))])"
    )
    # The jail's own folders, plus the top folder of each part of the Python installation
    # that is bound (a checkout's virtual environment may live anywhere).
    allowed = {
        "usr",
        "lib",
        "lib64",
        "bin",
        "etc",
        "proc",
        "dev",
        "tmp",
        "var",
        "student",
        "sandbox",
    }
    allowed |= {Path(k).parts[1] for k in Isolation.for_course([ROOT]).keep}
    outcome = attack(body, setup=f"import numpy as np\nALLOWED = {sorted(allowed)!r}\n")
    np.testing.assert_array_equal(outcome.values["attack"]["y"], [0.0, 1.0, 1.0, 0.0])
    assert_control_intact(outcome)


@needs_cgroups
def test_memory_is_bounded_for_all_processes_of_a_submission_together():
    # Three processes of 500 MB each stay under a per-process limit of 1 GiB, but not
    # under the submission's budget of 1 GiB for all of them together.
    body = (
        "import os, time\npids = []\n"
        "for _ in range(3):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        try:\n"
        "            block = bytearray(500 * 2**20)\n"
        "            block[::4096] = b'x' * len(block[::4096])\n"
        "            time.sleep(1)\n"
        "        except BaseException:\n"
        "            os._exit(1)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "ok = sum(os.waitpid(p, 0)[1] == 0 for p in pids)\n"
        "return np.array([float(ok)])"
    )
    limits = Limits(probe_seconds=30.0, memory_bytes=1 << 30, cpu_seconds=30)
    outcome = attack(body, limits, setup="import numpy as np\n")
    if "attack" in outcome.values:
        assert outcome.values["attack"]["y"][0] < 3
    else:
        assert "killed" in outcome.probe_errors["attack"]
    assert_control_intact(outcome)


@pytest.mark.parametrize("mode", ["root", "userns"])
def test_the_init_shares_the_servers_memory_but_the_child_cannot_reach_it(mode):
    # PID 1 of the child's namespace shares the fork server's memory and file table; the
    # child may see that it exists, but not read its memory, trace it or open its files.
    if (mode == "root" and not ISOLATED) or (mode == "userns" and not BWRAP):
        pytest.skip(f"needs {mode} mode")
    # The same reads on the child's own /proc entry must work, or the test proves nothing.
    body = (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nreached = []\n"
        "libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: its own /proc entry becomes its own\n"
        "for pid in ('self', '1'):  # os lives at the same address in the server\n"
        "    try:\n        with open(f'/proc/{pid}/mem', 'rb') as mem:\n"
        "            mem.seek(id(os))\n            reached.append(float(len(mem.read(8))))\n"
        "    except OSError:\n        reached.append(0.0)\n"
        "    opened = 0.0\n"
        "    for fd in os.listdir(f'/proc/{pid}/fd') if os.access(f'/proc/{pid}/fd', os.R_OK) "
        "else []:\n"
        "        try:\n            os.close(os.open(f'/proc/{pid}/fd/{fd}', os.O_RDONLY))\n"
        "            opened += 1.0\n        except OSError:\n            pass\n"
        "    reached.append(opened)\n"
        "reached.append(float(libc.ptrace(16, 1, None, None) == 0))  # PTRACE_ATTACH\n"
        "return np.array(reached)"
    )
    outcome = attack(body, mode=mode)
    own_memory, own_files, *init = outcome.values["attack"]["y"]
    assert own_memory == 8.0 and own_files >= 3.0
    assert init == [0.0, 0.0, 0.0]
    assert_control_intact(outcome)


@pytest.mark.parametrize("mode", ["userns", "plain"])
def test_weaker_modes_still_grade_and_contain_a_crash(mode):
    if mode == "userns" and not BWRAP:
        pytest.skip("needs bubblewrap")
    isolation = Isolation.for_course([ROOT], mode=mode)
    cells = [Cell("setup", "import numpy as np"), Cell("answer", "import os\n" + CONTROL)]
    crash = Probe("crash", [{"call": "os._exit", "args": [{"lit": 3}], "save": ["y"]}], ["y"])
    control = Probe("control", [{"call": "control", "args": [{"in": "x"}], "save": ["y"]}], ["y"])
    namespace_cells = [*cells, Cell("alias", "os._exit = os._exit\n")]
    outcome = run(namespace_cells, [crash, control], {"x": np.arange(4.0)}, LIMITS, isolation)
    assert "crash" in outcome.probe_errors
    assert_control_intact(outcome)


def test_without_namespaces_a_child_that_kills_the_fork_server_costs_only_its_call():
    # Plain mode (no bubblewrap, e.g. a laptop): the child can signal its own ancestors.
    body = (
        "import os\n"  # its parent is the fork server (no init stands between them)
        "pid = int(open(f'/proc/{os.getpid()}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "os.kill(pid, 9)\n"
        "import time\ntime.sleep(5)\nreturn x"
    )
    outcome = attack(body, mode="plain")
    assert "attack" in outcome.probe_errors
    assert_control_intact(outcome)


@pytest.mark.skipif(not IS_ROOT or shutil.which("bwrap") is None, reason="root and bubblewrap")
def test_as_root_with_bubblewrap_the_strongest_mode_is_used():
    # Wherever the checkout lies (CI clones under /tmp, whose tmpfs every child replaces).
    assert Isolation.for_course([ROOT]).mode == "root"
