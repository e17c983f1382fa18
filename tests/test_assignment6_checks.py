"""Every hidden check of assignment 6 through the real pipeline (sandboxed run, judge):
correct answers written differently get full marks; each catalogued mistake loses points
on its part, keeps every other part, and is named in the result and the feedback."""

from __future__ import annotations

import pytest
from conftest import write_submission
from variants_assignment6 import BUGGY, CORRECT

from autograder.checks import checks_for
from autograder.grade import ClassRun, grade_class

pytestmark = pytest.mark.slow

ASSIGNMENT = "assignment6"
TOTAL = 14


@pytest.fixture(scope="module")
def graded(root, tmp_path_factory):
    submitted = tmp_path_factory.mktemp("submitted")
    for name, answers in CORRECT.items():
        write_submission(submitted, f"ok_{name}", ASSIGNMENT, answers)
    for name, (answers, _, _) in BUGGY.items():
        write_submission(submitted, f"bug_{name}", ASSIGNMENT, answers)
    out = tmp_path_factory.mktemp("out")
    results = grade_class(ASSIGNMENT, submitted, ClassRun(root=root, out=out))
    return {r.student: r for r in results}, out


def test_every_mistake_in_the_catalogue_has_a_buggy_variant():
    catalogue = {
        (part.grade_id, m.code) for part in checks_for(ASSIGNMENT).parts for m in part.mistakes
    }
    covered = {(grade_id, code) for _, grade_id, code in BUGGY.values()}
    assert catalogue == covered


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_variants_get_full_marks(graded, name):
    results, _ = graded
    result = results[f"ok_{name}"]
    assert result.status == "graded"
    failures = {p.grade_id: [c.problems for c in p.cases if not c.passed] for p in result.parts}
    assert result.score == TOTAL, failures
    assert all(not p.mistakes for p in result.parts)


@pytest.mark.parametrize("name", sorted(BUGGY))
def test_buggy_variants_fail_their_part_with_the_right_diagnosis(graded, name):
    results, out = graded
    _, grade_id, code = BUGGY[name]
    result = results[f"bug_{name}"]
    by_id = {p.grade_id: p for p in result.parts}
    broken = by_id[grade_id]
    assert broken.score < broken.points
    assert code in [m["code"] for m in broken.mistakes], broken.cases
    for other in result.parts:
        if other.grade_id != grade_id:
            assert other.score == other.points, (other.grade_id, other.cases)
    page = out / "feedback" / result.student / ASSIGNMENT / f"{ASSIGNMENT}.html"
    mistake = next(m for m in checks_for(ASSIGNMENT).parts if m.grade_id == grade_id).mistake(code)
    assert mistake.title in page.read_text().replace("&#x27;", "'")
