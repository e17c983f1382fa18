"""Grading a class at scale: parallel workers and a Dask cluster give the same results as
one worker; a grader killed with SIGKILL resumes and ends with identical totals; hostile
and malformed submissions get results of their own while everyone else is graded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from conftest import load_release, write_submission
from nbgrader.api import Gradebook

from autograder.grade import ClassRun, grade_class
from autograder.sandbox import Isolation


def comparable(results):
    return {r.student: (r.score, r.status, [(p.score, p.cases) for p in r.parts]) for r in results}


@pytest.fixture(scope="module")
def serial(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    submitted = root / "sample_class" / "submitted"
    return comparable(grade_class("assignment1", submitted, ClassRun(root, out, workers=1)))


def test_two_workers_give_the_same_results_as_one(root, serial, tmp_path):
    submitted = root / "sample_class" / "submitted"
    results = grade_class("assignment1", submitted, ClassRun(root, tmp_path, workers=2))
    assert comparable(results) == serial


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_results(root, serial, tmp_path):
    distributed = pytest.importorskip("distributed")
    submitted = root / "sample_class" / "submitted"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        config = ClassRun(root, tmp_path, scheduler=cluster.scheduler_address)
        results = grade_class("assignment1", submitted, config)
    assert comparable(results) == serial


@pytest.mark.slow
def test_sigkill_at_any_moment_then_rerun_gives_identical_totals(root, tmp_path):
    submitted = tmp_path / "submitted"
    for copy in range(3):
        for student in (root / "sample_class" / "submitted").iterdir():
            shutil.copytree(student, submitted / f"{student.name}_{copy}")
    out = tmp_path / "out"
    command = [
        str(sys.executable), "-m", "autograder", "--root", str(root), "grade", "assignment1",
        "--submissions", str(submitted), "--course", str(out), "--out", str(out),
        "--workers", "1",
    ]  # fmt: skip
    records = out / "results" / "assignment1"
    for kill_after in (3, 8):  # killed twice, at different moments of a batch
        grader = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(records.glob("*.json"))) < kill_after:
            time.sleep(0.05)
        os.killpg(grader.pid, signal.SIGKILL)
        grader.wait()
        done_before = len(list(records.glob("*.json")))
        assert kill_after <= done_before < 18
        for record in records.glob("*.json"):  # a record means its files are there
            done = out / "autograded" / record.stem / "assignment1" / "assignment1.ipynb"
            assert done.exists()
            assert (out / "feedback" / record.stem / "assignment1" / "assignment1.html").exists()
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    resumed = {p.stem: json.loads(p.read_text())["score"] for p in records.glob("*.json")}
    clean = grade_class("assignment1", submitted, ClassRun(root, tmp_path / "clean"))
    assert resumed == {r.student: r.score for r in clean}
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:  # the gradebook caught up
        stored = {s.student.id: s.score for s in gb.find_assignment("assignment1").submissions}
    assert stored == pytest.approx(resumed)
    rows = (out / "grades-assignment1.csv").read_text().splitlines()
    assert len(rows) == 1 + len(resumed)
    assert not list(records.glob("*.tmp"))


HOSTILE = {
    "patches_numpy": """
import builtins
np.allclose = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
np.array_equal = lambda *a, **k: True
builtins.abs = lambda x: 0


def dense_forward(x, w, b):
    return np.zeros((x.shape[0], w.shape[1])), (x, w)
""",
    "imports_the_grader": """
try:
    from numpy_backprop.layers import dense_forward as _ref
except Exception:
    _ref = None


def dense_forward(x, w, b):
    if _ref is None:
        return np.zeros((x.shape[0], w.shape[1])), (x, w)
    return _ref(x, w, b)
""",
    "copies_another_submission": """
import json, os
_theirs = None
try:
    with open(os.path.join(SUBMITTED, "honest", "assignment1", "assignment1.ipynb")) as f:
        cells = json.load(f)["cells"]
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in cells]
    exec("".join(cells[ids.index("dense_forward")]["source"]))
except Exception:
    def dense_forward(x, w, b):
        return np.zeros((x.shape[0], w.shape[1])), (x, w)
""",
    "fake_results_on_stdout": """
import sys, json
print(json.dumps({"student": "x", "score": 11, "passed": True}))
print("All tests passed!", file=sys.stderr)


def dense_forward(x, w, b):
    print("PASSED " * 1000)
    return np.ones((x.shape[0], w.shape[1])), (x, w)
""",
}


@pytest.fixture(scope="module")
def hostile_class(root, tmp_path_factory):
    submitted = tmp_path_factory.mktemp("hostile")
    write_submission(submitted, "honest", "assignment1", {})
    for name, source in HOSTILE.items():
        source = source.replace("SUBMITTED", repr(str(submitted)))
        write_submission(submitted, name, "assignment1", {"dense_forward": source})
    release = load_release("assignment1")
    v3 = nbformat.v3.new_notebook()
    write_submission(submitted, "nbformat3", "assignment1", nbformat.writes(v3, version=3).encode())
    huge = nbformat.from_dict(release)
    huge.cells[1].outputs = [nbformat.v4.new_output("stream", text="x" * (50 * 2**20))]
    huge.cells[1].execution_count = 1
    write_submission(submitted, "huge_outputs", "assignment1", {})
    path = submitted / "huge_outputs" / "assignment1" / "assignment1.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].outputs = huge.cells[1].outputs
    nbformat.write(nb, path)
    (submitted / "symlinked" / "assignment1").mkdir(parents=True)
    os.symlink(path, submitted / "symlinked" / "assignment1" / "assignment1.ipynb")
    (submitted / "directory" / "assignment1" / "assignment1.ipynb").mkdir(parents=True)
    (submitted / "no_notebook" / "assignment1").mkdir(parents=True)
    out = tmp_path_factory.mktemp("out")
    results = grade_class("assignment1", submitted, ClassRun(root, out, workers=2))
    return {r.student: r for r in results}


def dense_forward_score(result):
    return next(p.score for p in result.parts if p.grade_id == "test_dense_forward")


NEEDS_HIDDEN_FILES = {"imports_the_grader", "copies_another_submission"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submissions_score_zero_on_the_part_they_attack(hostile_class, name):
    if name in NEEDS_HIDDEN_FILES and Isolation.for_course([]).mode == "plain":
        pytest.skip("hiding files from student code needs bubblewrap")
    result = hostile_class[name]
    assert result.status == "graded"
    assert dense_forward_score(result) == 0
    assert result.score == 9  # every other part is the instructor's answer


def test_the_honest_student_is_unaffected(hostile_class):
    assert hostile_class["honest"].score == 11


def test_a_notebook_of_another_format_version_is_read_and_reported(hostile_class):
    result = hostile_class["nbformat3"]
    assert result.status == "graded" and result.score == 0
    assert any("missing" in p for p in result.problems)


def test_huge_outputs_do_not_matter(hostile_class):
    assert hostile_class["huge_outputs"].score == 11


@pytest.mark.parametrize(
    ("name", "words"),
    [("symlinked", "symbolic link"), ("directory", "directory"), ("no_notebook", "no notebook")],
)
def test_files_that_are_not_notebooks_get_their_own_reason(hostile_class, name, words):
    result = hostile_class[name]
    assert result.status == "unreadable" and result.score == 0
    assert words in result.problems[0]
