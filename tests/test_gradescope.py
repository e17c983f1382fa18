"""The Gradescope autograder: the archive, and run_autograder on submissions of every kind.

One archive of assignment 1 is built and unpacked once; each submission gets a folder
laid out like Gradescope's ``/autograder`` (``source``, ``submission``, ``results``),
found through ``AUTOGRADER_GRADESCOPE_ROOT``. ``run_autograder`` runs with this venv's
Python behind an import guard that refuses every distribution outside the archive's
``requirements.txt``, so a passing run also shows that the pinned set suffices. Every
``results.json`` is validated against a JSON Schema written from Gradescope's spec
(``gradescope_results.schema.json``) and its scores are compared with
``grade_notebook`` on the same notebook and seed.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest
from conftest import load_answers, load_release
from variants_assignment1 import BUGGY

from autograder.checks import REGISTRY, checks_for
from autograder.cli import main
from autograder.gradescope import Policy
from autograder.gradescope.archive import (
    NUMERICS,
    PROVIDED,
    ROOTS,
    archive_files,
    pins,
    write_archive,
)
from autograder.gradescope.locate import find_notebook
from autograder.gradescope.run import ROOT_ENV, grade_submission
from autograder.sandbox import Isolation
from autograder.submission import fill_answers

ASSIGNMENT = "assignment1"
SEED = 4242
SCHEMA = json.loads(Path(__file__).with_name("gradescope_results.schema.json").read_text())
BOOK = "https://book.example.org/course"
BOOK_AND_TEST_TOOLS = {
    "jupyter-book", "sphinx", "myst-nb", "myst-parser", "sphinx-book-theme", "torch",
    "playwright", "pytest", "hypothesis", "ruff", "jupytext", "distributed", "dask",
}  # fmt: skip

# Refuses to import any distribution that setup.sh would not install, then runs
# ``-m MODULE`` from the current folder as ``python -m`` would.
GUARD = r"""
import importlib.machinery, importlib.metadata, os, re, runpy, sys
allowed = set(open(os.environ["PINNED_SET"]).read().split())
canon = lambda name: re.sub(r"[-_.]+", "-", name).lower()
owners = importlib.metadata.packages_distributions()
class Guard(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        dists = {canon(d) for d in owners.get(name.partition(".")[0], ())}
        if dists and not dists & allowed:
            return None  # as if it were not installed
        return super().find_spec(name, path, target)
sys.meta_path[:] = [Guard if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
if sys.argv[1] == "-m":
    sys.path[0] = os.getcwd()
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.path[0] = os.getcwd()
    exec(compile(sys.argv[2], "<guarded>", "exec"))
"""


def notebook_bytes(answers: dict[str, str] | None = None, assignment: str = ASSIGNMENT) -> bytes:
    """A student's notebook: the instructor's answers with ``answers`` merged over them."""
    merged = {**load_answers(assignment), **(answers or {})}
    return nbformat.writes(fill_answers(load_release(assignment), merged)).encode()


HOSTILE = {  # one part ends the interpreter, one raises SystemExit, one never returns
    "relu": "import os\n\ndef relu_forward(x):\n    os._exit(3)\n\n"
    "def relu_backward(dout, cache):\n    os._exit(3)\n",
    "sigmoid": "import sys\n\ndef sigmoid_forward(x):\n    sys.exit(0)\n\n"
    "def sigmoid_backward(dout, cache):\n    sys.exit(0)\n",
    "mse": "def mse_loss(pred, y):\n    while True:\n        pass\n",
}

SUBMISSIONS = {
    "correct": {"answers.ipynb": notebook_bytes()},
    "buggy": {"assignment1.ipynb": notebook_bytes(BUGGY["bias_not_summed"][0])},
    "hostile": {"assignment1.ipynb": notebook_bytes(HOSTILE)},
    "corrupt": {"assignment1.ipynb": b'{"cells": [{"cell_type": "code", "sour'},
    "empty": {},
    "other_assignment": {"assignment3.ipynb": notebook_bytes(assignment="assignment3")},
    "several_files": {
        "notes/readme.txt": b"my notes",
        "scratch.ipynb": notebook_bytes(assignment="assignment2"),
        "hw/final version.ipynb": notebook_bytes(),
        "hw/.ipynb_checkpoints/final version-checkpoint.ipynb": b"not json",
    },
    "no_notebook": {"assignment1.py": b"def dense_forward(x, w, b):\n    return x @ w + b\n"},
}


@pytest.fixture(scope="module")
def built(root, tmp_path_factory):
    """(files of the archive by name, the zip, the unpacked source folder)."""
    folder = tmp_path_factory.mktemp("gradescope")
    policy = Policy(visibility="visible", max_output_chars=4000, book_url=BOOK)
    files = archive_files(root, ASSIGNMENT, SEED, policy)
    archive = write_archive(files, folder / "autograder.zip")
    source = folder / "unpacked"
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(source)
    return files, archive, source


@pytest.fixture(scope="module")
def pinned_python(built, tmp_path_factory):
    """An executable that runs this venv's Python with only the pinned set importable."""
    files, _, _ = built
    folder = tmp_path_factory.mktemp("pinned")
    names = {line.split("==")[0] for line in files["requirements.txt"].decode().split()}
    shipped = {"backprop-course", "numpy-backprop"}  # their packages are in the archive
    (folder / "allowed").write_text("\n".join(names | PROVIDED | shipped))
    (folder / "guard.py").write_text(GUARD)
    wrapper = folder / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{folder / "guard.py"}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, folder / "allowed"


def run_gradescope(built, pinned_python, folder: Path, files: dict[str, bytes], config=None):
    """Lay out ``folder`` like /autograder (``config`` replacing gradescope.json), run
    run_autograder; (results.json, stdout, the root standing in for /autograder)."""
    root = folder / "autograder"
    shutil.copytree(built[2], root / "source")
    if config is not None:
        (root / "source" / "gradescope.json").write_text(config)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    for name, data in files.items():
        path = root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    python, allowed = pinned_python
    env = {
        **os.environ,
        ROOT_ENV: str(root),
        "AUTOGRADER_GRADESCOPE_PYTHON": str(python),
        "PINNED_SET": str(allowed),
    }
    done = subprocess.run(
        ["bash", str(root / "source" / "run_autograder")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, SCHEMA)
    return results, done.stdout, root


@pytest.fixture(scope="module")
def graded(built, pinned_python, tmp_path_factory):
    """Every submission of SUBMISSIONS through run_autograder, graded once."""
    out = {}
    for case, files in SUBMISSIONS.items():
        out[case] = run_gradescope(built, pinned_python, tmp_path_factory.mktemp(case), files)
        assert "Traceback" not in out[case][1], out[case][1]
    return out


def part_tests(results) -> dict[str, dict]:
    return {t["extra_data"]["grade_id"]: t for t in results["tests"] if "extra_data" in t}


def submission_check(results) -> dict:
    (check,) = [t for t in results["tests"] if t["name"] == "Your submission"]
    return check


def expected_result(root: Path, case: str):
    """``grade_notebook`` (through the runner's seeding adapter) on the same files."""
    checks = checks_for(ASSIGNMENT)
    release = load_release(ASSIGNMENT)
    found = find_notebook(root / "submission", release, checks.notebook)
    isolation = Isolation.for_course([root])
    return found, grade_submission(checks, release, found.notebook, found.digest, SEED, isolation)


# --- every submission ------------------------------------------------------------------


@pytest.mark.parametrize("case", SUBMISSIONS)
def test_every_submission_gets_a_valid_result_with_the_scores_of_grade_notebook(graded, case):
    results, _, root = graded[case]
    found, expected = expected_result(root, case)
    tests = part_tests(results)
    assert list(tests) == [p.grade_id for p in expected.parts]
    for part in expected.parts:
        assert tests[part.grade_id]["score"] == part.score
        assert tests[part.grade_id]["max_score"] == part.points
    assert sum(t["score"] for t in tests.values()) == pytest.approx(expected.score)
    assert results["extra_data"]["seed"] == expected.seed
    assert results["extra_data"]["sha256"] == found.digest
    assert results["extra_data"]["status"] == expected.status
    assert results["execution_time"] >= 0
    assert results["output_format"] == results["test_output_format"] == "text"


@pytest.mark.parametrize("case", SUBMISSIONS)
def test_the_children_ran_jailed_with_a_uid_of_their_own(graded, case):
    results, _, root = graded[case]
    full = Isolation.for_course([root])  # what this machine allows, /autograder hidden
    if not full.drop:
        pytest.skip("uid drop and namespaces need root")
    assert results["extra_data"]["isolation"] == full.describe()


def test_the_correct_submission_gets_full_marks(graded):
    results, stdout, _ = graded["correct"]
    tests = part_tests(results)
    assert all(t["score"] == t["max_score"] > 0 for t in tests.values())
    assert all(t["status"] == "passed" for t in results["tests"])
    assert "Score: 11 / 11." in results["output"]
    assert submission_check(results)["output"].startswith("Notebook: answers.ipynb")
    assert "11 (graded)" in stdout


def test_the_buggy_submission_loses_the_part_and_is_told_the_mistake(graded):
    results, _, _ = graded["buggy"]
    _, grade_id, code = BUGGY["bias_not_summed"]
    tests = part_tests(results)
    part = next(p for p in checks_for(ASSIGNMENT).parts if p.grade_id == grade_id)
    mistake = part.mistake(code)
    assert tests[grade_id]["score"] < tests[grade_id]["max_score"]
    assert tests[grade_id]["status"] == "failed"
    assert f"Recognised mistake: {mistake.title}." in tests[grade_id]["output"]
    assert f"{BOOK}/{mistake.section}" in tests[grade_id]["output"]
    assert "`db` has shape" in tests[grade_id]["output"]
    others = [t for gid, t in tests.items() if gid != grade_id]
    assert all(t["score"] == t["max_score"] for t in others)


def test_the_hostile_submission_costs_only_the_parts_it_sabotaged(graded):
    results, _, _ = graded["hostile"]
    tests = part_tests(results)
    assert tests["test_relu"]["score"] == 0
    assert "ended the grading process" in tests["test_relu"]["output"]
    assert tests["test_sigmoid"]["score"] == 0
    assert "SystemExit" in tests["test_sigmoid"]["output"]
    assert tests["test_mse"]["score"] == 0
    assert "timed out" in tests["test_mse"]["output"]
    for gid in ("test_dense_forward", "test_dense_backward"):
        assert tests[gid]["score"] == tests[gid]["max_score"]


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("corrupt", "not a readable Jupyter notebook"),
        ("empty", "nothing was submitted"),
        ("other_assignment", "assignment3.ipynb is not the notebook of this assignment"),
        ("no_notebook", "no Jupyter notebook (.ipynb) is among the files you submitted"),
    ],
)
def test_a_submission_that_cannot_be_graded_scores_zero_and_says_why(graded, case, says):
    results, _, _ = graded[case]
    check = submission_check(results)
    assert check["status"] == "failed" and check["visibility"] == "visible"
    assert says in check["output"]
    assert says in results["output"]
    assert "could not be read" in results["output"]
    tests = part_tests(results)
    assert len(tests) == len(checks_for(ASSIGNMENT).parts)
    assert all(t["score"] == 0 and t["status"] == "failed" for t in tests.values())


def test_among_several_files_the_notebook_of_the_assignment_is_graded(graded):
    results, _, _ = graded["several_files"]
    check = submission_check(results)
    assert check["output"].startswith("Notebook: hw/final version.ipynb")
    assert "among the 2 you submitted" in check["output"]
    assert all(t["score"] == t["max_score"] for t in part_tests(results).values())


def test_the_seed_follows_the_notebook_content(graded):
    seeds = {case: graded[case][0]["extra_data"]["seed"] for case in ("correct", "buggy")}
    assert seeds["correct"] != seeds["buggy"]
    # "several_files" graded the same bytes as "correct": the same hidden inputs
    assert graded["several_files"][0]["extra_data"]["seed"] == seeds["correct"]
    digest = hashlib.sha256(SUBMISSIONS["correct"]["answers.ipynb"]).hexdigest()
    assert graded["correct"][0]["extra_data"]["sha256"] == digest


SNOOP = """
import os


def dense_forward(x, w, b):
    seen = []
    for path in {paths!r}:
        try:
            with open(path) as handle:
                seen.append("READ " + handle.read()[:80])
        except Exception as error:
            seen.append(type(error).__name__)
    listing = os.listdir({root!r}) if os.path.isdir({root!r}) else "no root"
    raise RuntimeError("|".join(seen) + " listing=" + repr(listing))
"""


def test_student_code_cannot_read_the_grader_the_checks_or_other_files(built, pinned_python):
    if os.geteuid() != 0:
        pytest.skip("the mount namespace needs root")
    # Outside pytest's private tmp folder, so that only the sandbox can keep them out.
    folder = Path(tempfile.mkdtemp(prefix="gradescope-snoop-"))
    folder.chmod(0o755)
    root = folder / "autograder"  # where run_gradescope lays out /autograder
    paths = [
        str(root / "source" / "gradescope.json"),
        str(root / "source" / "autograder" / "checks" / "assignment1.py"),
        str(root / "results" / "results.json"),
        str(root / "submission" / "assignment1.ipynb"),
    ]
    answers = {"dense_forward": SNOOP.format(paths=paths, root=str(root))}
    files = {"assignment1.ipynb": notebook_bytes(answers)}
    try:
        results, _, _ = run_gradescope(built, pinned_python, folder, files)
    finally:
        shutil.rmtree(folder)
    output = part_tests(results)["test_dense_forward"]["output"]
    assert "FileNotFoundError|FileNotFoundError|FileNotFoundError|FileNotFoundError" in output
    assert "READ" not in output
    # /autograder does not exist inside the sandbox (an allow-list: only Python is there),
    # or, in a mode without bubblewrap's root, it is an empty mount.
    assert "listing='no root'" in output or "listing=[]" in output


def test_without_the_right_to_make_namespaces_the_grader_fails_closed(built, pinned_python):
    """Root without CAP_SYS_ADMIN, as in a default Docker container: the sandbox either
    still isolates the children or refuses to run the student's code, and says so."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and util-linux's setpriv")
    python, allowed = pinned_python
    folder = Path(tempfile.mkdtemp(prefix="gradescope-nocap-"))
    wrapper = folder / "python"
    wrapper.write_text(
        f'#!/bin/sh\nexec "{setpriv}" --bounding-set=-sys_admin --inh-caps=-sys_admin '
        f'"{python}" "$@"\n'
    )
    wrapper.chmod(0o755)
    try:
        files = SUBMISSIONS["correct"]
        results, stdout, _ = run_gradescope(built, (wrapper, allowed), folder, files)
    finally:
        shutil.rmtree(folder)
    tests = part_tests(results)
    if results["extra_data"]["status"] == "graded":
        # bubblewrap falls back to a user namespace: still only Python visible, own PIDs
        assert results["extra_data"]["isolation"] == Isolation("userns").describe()
        assert all(t["score"] == t["max_score"] for t in tests.values())
    else:
        assert results["extra_data"]["status"] == "grader-error"
        assert "not your fault" in results["output"] and "Score" not in results["output"]
        assert "not your fault" in submission_check(results)["output"]
        assert "sandboxed process could not start" not in json.dumps(results)  # for stdout
        assert "sandboxed process could not start" in stdout
        assert all(t["score"] == 0 for t in tests.values())


# --- policy ----------------------------------------------------------------------------


def test_deferred_visibility_hides_parts_and_total_but_not_the_submission_check(
    built, pinned_python, graded, tmp_path
):
    config = json.loads(built[0]["gradescope.json"])
    config["policy"] = Policy(visibility="after_due_date", max_output_chars=300).to_dict()
    files = SUBMISSIONS["buggy"]
    deferred, _, _ = run_gradescope(built, pinned_python, tmp_path, files, json.dumps(config))
    assert deferred["visibility"] == "after_due_date"
    assert all(t["visibility"] == "after_due_date" for t in part_tests(deferred).values())
    assert submission_check(deferred)["visibility"] == "visible"
    assert "Score" not in deferred["output"] and "after the due date" in deferred["output"]
    assert all(len(t["output"]) <= 300 for t in deferred["tests"])
    assert any("more characters not shown" in t["output"] for t in deferred["tests"])
    visible = graded["buggy"][0]
    assert visible["visibility"] == "visible"
    assert all(t["visibility"] == "visible" for t in visible["tests"])
    scores = [t["score"] for t in part_tests(deferred).values()]
    assert scores == [t["score"] for t in part_tests(visible).values()]


@pytest.mark.parametrize("limit", [200, 333, 4000])
def test_the_cap_holds_for_any_text(limit):
    policy = Policy(max_output_chars=limit)
    for size in (0, limit - 1, limit, limit + 1, 10 * limit):
        text = "x" * size
        capped = policy.cap(text)
        assert len(capped) <= limit
        assert capped == text if size <= limit else capped.endswith("more characters not shown)")


def test_a_policy_outside_gradescopes_values_is_refused():
    with pytest.raises(ValueError, match="visibility"):
        Policy(visibility="after_deadline")
    with pytest.raises(ValueError, match="max_output_chars"):
        Policy(max_output_chars=10)


def test_a_grader_fault_still_writes_a_result(built, pinned_python, tmp_path):
    files = SUBMISSIONS["correct"]
    results, stdout, _ = run_gradescope(built, pinned_python, tmp_path, files, "{broken")
    assert "JSONDecodeError" in stdout  # the instructor sees why, on stdout
    assert results["score"] == 0 and "not your fault" in results["output"]
    assert "JSONDecodeError" not in json.dumps(results)


def test_a_python_that_cannot_start_still_leaves_a_result(built, tmp_path):
    root = tmp_path / "autograder"
    shutil.copytree(built[2], root / "source")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text('{"score": 99}')  # stale: removed first
    env = {**os.environ, ROOT_ENV: str(root), "AUTOGRADER_GRADESCOPE_PYTHON": "/bin/false"}
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "wrote no results.json" in done.stdout
    results = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(results, SCHEMA)
    assert results["score"] == 0 and "not your fault" in results["output"]


# --- the archive -----------------------------------------------------------------------


def test_the_archive_has_gradescopes_two_scripts_at_its_root_executable(built):
    _, archive, _ = built
    with zipfile.ZipFile(archive) as handle:
        infos = {i.filename: i for i in handle.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert infos[script].external_attr >> 16 == 0o100755
        assert handle_text(archive, script).startswith("#!/usr/bin/env bash\n")
    assert all(not name.startswith("/") and ".." not in name for name in infos)


def handle_text(archive: Path, name: str) -> str:
    with zipfile.ZipFile(archive) as handle:
        return handle.read(name).decode()


def test_the_archive_holds_this_assignments_checks_only(built):
    files, _, source = built
    checks = sorted(n for n in files if n.startswith("autograder/checks/"))
    assert checks == [
        "autograder/checks/__init__.py",
        "autograder/checks/assignment1.py",
        "autograder/checks/base.py",
    ]
    others = [a for a in REGISTRY if a != ASSIGNMENT]
    for name, data in files.items():
        if name.startswith("autograder/checks/"):
            assert not any(a in data.decode() for a in others), name
    listed = subprocess.run(
        [sys.executable, "-c", "import autograder.checks as c; print(c.__file__, *c.REGISTRY)"],
        cwd=source, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert listed == [str(source / "autograder" / "checks" / "__init__.py"), ASSIGNMENT]


def test_the_archive_ships_the_reference_implementations_its_checks_import(built):
    files, _, source = built
    shipped = {name for name in files if name.startswith("numpy_backprop/")}
    assert shipped == {f"numpy_backprop/{p.name}" for p in NUMERICS.glob("*.py")}
    located = subprocess.run(
        [sys.executable, "-c", "import numpy_backprop.layers as m; print(m.__file__)"],
        cwd=source, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert located == str(source / "numpy_backprop" / "layers.py")


def test_the_archive_holds_no_solution_and_only_the_release_notebook(built, root):
    files, _, _ = built
    notebooks = [n for n in files if n.endswith(".ipynb")]
    assert notebooks == ["release/assignment1.ipynb"]
    release = nbformat.reads(files["release/assignment1.ipynb"].decode(), as_version=4)
    assert release == load_release(ASSIGNMENT)
    assert not any(name.startswith(("solutions/", "exercises/", "book/")) for name in files)
    for assignment in REGISTRY:
        answers = [a for a in load_answers(assignment).values() if len(a.strip()) > 40]
        assert answers
        for name, data in files.items():
            text = data.decode()
            assert not re.search(r"^\s*### BEGIN SOLUTION\s*$", text, re.MULTILINE), name
            assert not any(answer.strip() in text for answer in answers), (assignment, name)
    assert not any(n.endswith(("cli.py", "release.py", "__main__.py")) for n in files)


def test_the_archive_names_no_path_of_the_build_machine(built, root):
    files, _, _ = built
    machine = {str(root), str(Path.home()), sys.prefix, str(Path(sys.executable).parent)}
    for name, data in files.items():
        text = data.decode()
        for path in machine:
            assert not re.search(re.escape(path) + r"(/|\"|'|\s|$)", text), (name, path)
        assert not re.search(r"/(work|home|root|Users)/", text), name


# --- setup.sh's install step ------------------------------------------------------------


def pip_step(setup: str) -> list[str]:
    """The arguments of setup.sh's pip install, continuation lines joined."""
    joined = setup.replace("\\\n", " ")
    (line,) = [line for line in joined.splitlines() if " -m pip install" in line]
    return shlex.split(line)


def test_setup_installs_python_3_11_bubblewrap_and_exactly_the_pinned_set(built, root):
    files, _, _ = built
    setup = files["setup.sh"].decode()
    assert re.search(r"apt-get install -y .*\bpython3\.11\b.*\bbubblewrap\b", setup)
    args = pip_step(setup)
    assert "--no-deps" in args  # nothing is resolved beyond the list
    assert args[args.index("-r") + 1] == "/autograder/source/requirements.txt"
    lines = files["requirements.txt"].decode().split()
    pinned = pins(root / "constraints.txt")
    named = dict(line.split("==") for line in lines)
    assert len(named) == len(lines)
    assert all(pinned[name] == version for name, version in named.items())
    assert set(ROOTS) <= set(named)
    assert not BOOK_AND_TEST_TOOLS & set(named)


def test_the_pinned_set_is_closed_under_its_requirements(built):
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    files, _, _ = built
    named = {line.split("==")[0] for line in files["requirements.txt"].decode().split()}
    for name in named:
        for spec in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(spec)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(requirement.name) in named | PROVIDED, (name, spec)


def setup_cell_imports() -> set[str]:
    """Every module that the release notebooks' code cells (setup, self-checks) import:
    what a student may rely on being installed."""
    modules = set()
    for path in sorted(Path(__file__).parents[1].glob("exercises/*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse(re.sub(r"(?m)^\s*[%!].*$", "", cell.source))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module)
    return modules


def test_the_grader_and_the_notebooks_import_only_pinned_distributions(built, pinned_python):
    _, _, source = built
    python, allowed = pinned_python
    modules = sorted(setup_cell_imports() | {"autograder.gradescope.run", "scipy.special"})
    assert "matplotlib.pyplot" in modules and "sklearn.svm" in modules
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\nprint('ok')"
    env = {**os.environ, "PINNED_SET": str(allowed), "MPLBACKEND": "Agg"}
    done = subprocess.run([str(python), "-c", code], cwd=source, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.stdout.strip() == "ok", done.stderr[-3000:]


def test_the_import_guard_really_refuses_what_is_not_pinned(built, pinned_python):
    _, _, source = built
    python, allowed = pinned_python
    env = {**os.environ, "PINNED_SET": str(allowed)}
    done = subprocess.run([str(python), "-c", "import torch"], cwd=source, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0 and "No module named 'torch'" in done.stderr


@pytest.mark.parametrize("assignment", sorted(REGISTRY))
def test_every_assignment_builds_an_archive_with_its_own_checks_and_notebook(
    root, tmp_path, assignment
):
    out = tmp_path / "autograder.zip"
    code = main(["--root", str(root), "gradescope", assignment, "--out", str(out),
                 "--visibility", "after_published", "--max-output", "999"])  # fmt: skip
    assert code == 0
    with zipfile.ZipFile(out) as handle:
        names = set(handle.namelist())
        config = json.loads(handle.read("gradescope.json"))
        setup = handle.read("setup.sh").decode()
    module = f"autograder/checks/{assignment}.py"  # every assignment's checks module so far
    checks = {n for n in names if n.startswith("autograder/checks/")}
    assert checks == {"autograder/checks/__init__.py", "autograder/checks/base.py", module}
    assert f"release/{checks_for(assignment).notebook}.ipynb" in names
    assert config == {
        "assignment": assignment,
        "seed": 2026,
        "policy": {"visibility": "after_published", "max_output_chars": 999, "book_url": ""},
    }
    syntax = subprocess.run(["bash", "-n"], input=setup, text=True, capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
