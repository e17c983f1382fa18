"""The student notebooks are generated from the hand-edited sources, never edited by hand,
and carry no solution."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder import release


@pytest.fixture(scope="module")
def regenerated(root, tmp_path_factory):
    """A copy of the course with every assignment released afresh by nbgrader."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(root / "nbgrader_config.py", course)
    for name in release.assignments(root):
        target = course / "solutions" / name
        target.mkdir(parents=True)
        shutil.copy(release.source_path(root, name), target)
        release.release(course, name, db_path=course / "gradebook.db")
    return course


def test_there_are_assignments(root):
    assert "assignment1" in release.assignments(root)


def test_instructor_notebooks_are_in_sync_with_their_sources(root, regenerated):
    for name in release.assignments(root):
        committed = (root / "solutions" / name / f"{name}.ipynb").read_text(encoding="utf-8")
        fresh = (regenerated / "solutions" / name / f"{name}.ipynb").read_text(encoding="utf-8")
        assert committed == fresh, f"run `autograder release {name}` and commit the result"


def test_student_notebooks_are_in_sync_with_nbgrader_output(root, regenerated):
    for name in release.assignments(root):
        committed = nbformat.read(root / "exercises" / name / f"{name}.ipynb", as_version=4)
        fresh = nbformat.read(regenerated / "exercises" / name / f"{name}.ipynb", as_version=4)
        assert committed == fresh, f"run `autograder release {name}` and commit the result"
        assert sorted(p.name for p in (root / "exercises" / name).iterdir()) == [f"{name}.ipynb"]


def test_no_solution_line_reaches_the_students(root):
    for name in release.assignments(root):
        source = release.source_path(root, name).read_text(encoding="utf-8").splitlines()
        solution_lines, inside = [], False
        for line in source:
            if "### BEGIN SOLUTION" in line:
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside and line.strip():
                solution_lines.append(line.strip())
        assert solution_lines, "the source should contain solutions"
        student = nbformat.read(root / "exercises" / name / f"{name}.ipynb", as_version=4)
        text = "\n".join(cell.source for cell in student.cells)
        leaked = [line for line in solution_lines if line in text]
        assert leaked == []
        assert "raise NotImplementedError()" in text


def test_answer_and_test_cells_carry_nbgrader_metadata(root):
    nb = nbformat.read(root / "exercises" / "assignment1" / "assignment1.ipynb", as_version=4)
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    answers = {m["grade_id"] for m in meta if m.get("solution")}
    tests = {m["grade_id"]: m["points"] for m in meta if m.get("grade")}
    assert answers == {"dense_forward", "dense_backward", "sigmoid", "relu", "mse"}
    assert sum(tests.values()) == 11


@pytest.mark.slow
def test_instructor_notebook_runs_top_to_bottom(root):
    from nbclient import NotebookClient

    for name in release.assignments(root):
        nb = nbformat.read(root / "solutions" / name / f"{name}.ipynb", as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert errors == []


@pytest.mark.slow
def test_student_notebook_fails_its_self_checks_until_answered(root):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(root / "exercises" / "assignment1" / "assignment1.ipynb", as_version=4)
    with pytest.raises(CellExecutionError, match="NotImplementedError"):
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()


def test_release_on_a_fresh_copy_registers_the_assignment_and_fails_safely(root, tmp_path):
    from nbgrader.api import Gradebook

    from autograder.cli import main

    shutil.copy(root / "nbgrader_config.py", tmp_path)
    (tmp_path / "solutions" / "assignment1").mkdir(parents=True)
    source = tmp_path / "solutions" / "assignment1" / "assignment1.py"
    shutil.copy(release.source_path(root, "assignment1"), source)
    assert main(["--root", str(tmp_path), "release", "assignment1"]) == 0  # no _build/ needed
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        (notebook,) = gb.find_assignment("assignment1").notebooks
        assert notebook.name == "assignment1" and notebook.max_score == 11
    released = tmp_path / "exercises" / "assignment1" / "assignment1.ipynb"
    before = released.read_bytes()
    broken = (  # a solution cell whose END marker is missing: nbgrader refuses it
        '\n# %% nbgrader={"grade": false, "grade_id": "broken", "locked": false, '
        '"schema_version": 3, "solution": true, "task": false}\n### BEGIN SOLUTION\nx = 1\n'
    )
    source.write_text(source.read_text() + broken)
    with pytest.raises(RuntimeError, match="generate_assignment failed"):
        release.release(tmp_path, "assignment1")
    assert released.read_bytes() == before  # the old release is still there, untouched
    assert sorted(p.name for p in (tmp_path / "exercises").iterdir()) == ["assignment1"]
