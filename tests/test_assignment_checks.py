"""Every hidden check of every assignment, through the real pipeline (sandboxed run,
judge, feedback): correct answers written differently get full marks; each catalogued
mistake loses points on its part only and is named in the result and the feedback.

The answers live in ``tests/variants_<assignment>.py``: ``CORRECT`` maps a name to answer
cells, ``BUGGY`` maps a name to (answer cells, grade_id of the part that must fail,
mistake code). One class per assignment is graded once and shared by its tests.
"""

from __future__ import annotations

import importlib

import pytest
from conftest import load_release, write_submission

from autograder.checks import REGISTRY, checks_for
from autograder.grade import ClassRun, grade_class, grade_points

SLOW = {"assignment6", "assignment7", "assignment8"}  # training and long sequences


def variants(assignment: str):
    module = importlib.import_module(f"variants_{assignment}")
    return module.CORRECT, module.BUGGY


def params(kind: str) -> list:
    """(assignment, variant name) pairs for every assignment, slow ones marked."""
    out = []
    for assignment in sorted(REGISTRY):
        correct, buggy = variants(assignment)
        marks = [pytest.mark.slow] if assignment in SLOW else []
        names = correct if kind == "correct" else buggy
        out += [pytest.param(assignment, n, marks=marks, id=f"{assignment}-{n}") for n in names]
    return out


@pytest.fixture(scope="session")
def graded(root, tmp_path_factory):
    """Grades an assignment's class of variants on first use; returns (results, out)."""
    cache = {}

    def grade(assignment: str):
        if assignment not in cache:
            correct, buggy = variants(assignment)
            submitted = tmp_path_factory.mktemp(f"{assignment}-submitted")
            for name, answers in correct.items():
                write_submission(submitted, f"ok_{name}", assignment, answers)
            for name, (answers, _, _) in buggy.items():
                write_submission(submitted, f"bug_{name}", assignment, answers)
            out = tmp_path_factory.mktemp(f"{assignment}-out")
            results = grade_class(assignment, submitted, ClassRun(root=root, out=out))
            cache[assignment] = ({r.student: r for r in results}, out)
        return cache[assignment]

    return grade


@pytest.mark.parametrize("assignment", sorted(REGISTRY))
def test_every_mistake_in_the_catalogue_has_a_buggy_variant(assignment):
    catalogue = {(p.grade_id, m.code) for p in checks_for(assignment).parts for m in p.mistakes}
    _, buggy = variants(assignment)
    assert catalogue == {(grade_id, code) for _, grade_id, code in buggy.values()}


@pytest.mark.parametrize("assignment", sorted(REGISTRY))
def test_there_are_several_correct_variants(assignment):
    correct, _ = variants(assignment)
    assert len(correct) >= 3


@pytest.mark.parametrize(("assignment", "name"), params("correct"))
def test_correct_variants_get_full_marks(graded, assignment, name):
    results, _ = graded(assignment)
    result = results[f"ok_{name}"]
    assert result.status == "graded"
    failures = {p.grade_id: [c.problems for c in p.cases if not c.passed] for p in result.parts}
    assert result.score == sum(grade_points(load_release(assignment)).values()), failures
    assert all(not p.mistakes for p in result.parts)


@pytest.mark.parametrize(("assignment", "name"), params("buggy"))
def test_buggy_variants_fail_their_part_with_the_right_diagnosis(graded, assignment, name):
    results, out = graded(assignment)
    _, grade_id, code = variants(assignment)[1][name]
    result = results[f"bug_{name}"]
    broken = next(p for p in result.parts if p.grade_id == grade_id)
    assert broken.score < broken.points
    assert code in [m["code"] for m in broken.mistakes], broken.cases
    for other in result.parts:
        if other.grade_id != grade_id:
            assert other.score == other.points, (other.grade_id, other.cases)
    page = out / "feedback" / result.student / assignment / f"{assignment}.html"
    part = next(p for p in checks_for(assignment).parts if p.grade_id == grade_id)
    assert part.mistake(code).title in page.read_text().replace("&#x27;", "'")
