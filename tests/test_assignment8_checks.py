"""Assignment 8's two parts that are not judged by equality with a reference: the
log-uniform sampler (a statistical test) and the search (credit by comparison with
scikit-learn SVMs fitted at grading time). The variants of every assignment, this one
included, are graded in tests/test_assignment_checks.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from autograder import judge
from autograder.checks import checks_for
from autograder.checks.assignment8 import (
    ScoredCase,
    ScoredPart,
    judge_search,
    svm_baselines,
)
from autograder.sandbox import Outcome, Probe

pytestmark = pytest.mark.slow

ASSIGNMENT = "assignment8"


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


def test_ties_between_neighbours_are_not_read_as_an_evenly_spaced_grid():
    """Whole decades drawn at random (10 ** integer exponents: one neighbour in eight is
    equal) are wrong, but not the sorted grid of np.logspace."""
    part = checks_for(ASSIGNMENT).parts[0]
    case = part.make_cases(np.random.default_rng(3))[0]
    low, high, n = case.facts["low"], case.facts["high"], case.facts["n"]
    exponents = np.arange(np.ceil(np.log10(low)), np.floor(np.log10(high)) + 1)
    decades = 10.0 ** np.random.default_rng(4).choice(exponents, n)
    assert np.mean(np.diff(decades) == 0) > 0.1
    grid = np.logspace(np.log10(low), np.log10(high), n)
    outcome = Outcome()
    for values, named in ((decades, None), (grid, "grid-instead-of-random")):
        outcome.values[case.probe.id] = {"samples": values, "again": values}
        result = part.judge_case(case, outcome)
        assert not result.passed and result.mistake == named, result.problems
