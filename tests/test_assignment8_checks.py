"""Every hidden check of assignment 8 through the real pipeline (sandboxed run, judge):
correct answers written differently get full marks; each catalogued mistake loses points
on its part, keeps every other part, and is named in the result and the feedback.

Two parts are ``ScoredPart``s (a statistical test, a comparison with SVM baselines): the
judge must let them judge their own cases. Until ``autograder/judge.py`` does so (the
change is one dispatch in ``judge_part``), this module grades with ``judge_part_with_rules``
below, which is that dispatch and nothing else, and the test that asks the real judge for
it is expected to fail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import write_submission
from variants_assignment8 import BUGGY, CORRECT

from autograder import judge
from autograder.checks import checks_for
from autograder.checks.assignment8 import (
    ScoredCase,
    ScoredPart,
    judge_search,
    svm_baselines,
)
from autograder.grade import ClassRun, grade_class
from autograder.sandbox import Outcome, Probe

pytestmark = pytest.mark.slow

ASSIGNMENT = "assignment8"
TOTAL = 12


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


def test_the_judge_lets_scored_parts_judge_their_own_cases():
    calls = []

    class Own(ScoredPart):
        def judge_case(self, case, outcome):
            calls.append(case.label)
            return judge.CaseResult(case.label, True)

    part = Own("g", "t", (), "s", (), lambda rng: [])
    case = ScoredCase("c", Probe(id="p", steps=[], send=[]), {}, {}, {}, {})
    result = judge.judge_part(part, [case], Outcome(), 1.0)
    assert calls == ["c"] and result.score == 1.0


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


# ------------------------------------------------------------ the comparison, in isolation


def _search_outcome(pred, histories, lrs):
    trials = len(lrs)
    values = {
        "pred": np.asarray(pred, dtype=float),
        "learning_rates": np.asarray(lrs, dtype=float),
        "regs": np.full(trials, 1e-4),
        "val_accuracies": np.full(trials, 0.5),
        "loss_histories": np.asarray(histories, dtype=float),
    }
    return Outcome(values={"search#0": values})


@pytest.fixture(scope="module")
def search_part_and_cases():
    part = next(p for p in checks_for(ASSIGNMENT).parts if p.grade_id == "test_search")
    return part, part.make_cases(np.random.default_rng(1))


def _with_accuracy(y_test, accuracy):
    """Predictions right on the fewest whole images that reach ``accuracy`` of y_test."""
    pred = y_test.copy()
    wrong = len(y_test) - int(np.ceil(accuracy * len(y_test) - 1e-9))
    pred[:wrong] = (pred[:wrong] + 1) % 10
    return pred


@pytest.mark.parametrize(
    ("accuracy", "credit"),
    [(0.99, 1.0), (0.97, 1.0), (0.955, 1.0), (0.93, 0.5), (0.90, 0.5), (0.85, 0.0)],
)
def test_the_search_earns_credit_by_comparison_with_the_svms(
    search_part_and_cases, accuracy, credit
):
    """Full credit from 2 points below the RBF SVM (here 97.5%), half from the linear
    SVM's accuracy (here 90%), none below."""
    part, cases = search_part_and_cases
    cases = [replace(case, facts={**case.facts, "linear": 0.90, "rbf": 0.975}) for case in cases]
    pred = _with_accuracy(cases[0].facts["y_test"], accuracy)
    outcome = _search_outcome(pred, np.linspace(2.3, 0.1, 10)[None, :], [1e-2])
    passed = [judge_search(part, case, outcome).passed for case in cases]
    assert sum(passed) / len(passed) == credit


def test_a_flat_loss_is_diagnosed_as_a_learning_rate_too_small(search_part_and_cases):
    part, cases = search_part_and_cases
    y_test = cases[0].facts["y_test"]
    flat = np.full((3, 10), 2.302) + np.linspace(0, 1e-4, 10)
    outcome = _search_outcome((y_test + 1) % 10, flat, [1e-8, 2e-8, 5e-8])
    results = [judge_search(part, case, outcome) for case in cases]
    assert [r.mistake for r in results] == ["learning-rate-too-small"] * 2
    moving = _search_outcome((y_test + 1) % 10, np.linspace(2.3, 1.0, 10)[None, :], [1e-3])
    assert judge_search(part, cases[0], moving).mistake is None


def test_the_baselines_are_fitted_on_the_split_and_cached():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)
    x[:, 0] += 3.0 * y  # separable enough for both kernels
    first = svm_baselines(x[:40], y[:40], x[40:], y[40:])
    assert all(0.5 < acc <= 1.0 for acc in first)
    assert svm_baselines(x[:40], y[:40], x[40:], y[40:]) is first
