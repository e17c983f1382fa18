"""The hidden checks and the released notebooks agree on what is graded."""

from __future__ import annotations

import numpy as np
from conftest import load_release

from autograder.checks import REGISTRY
from autograder.grade import grade_points, student_seed


def test_every_graded_cell_has_checks_and_every_check_has_a_graded_cell():
    for name, checks in REGISTRY.items():
        points = grade_points(load_release(name))
        assert {p.grade_id for p in checks.parts} == set(points)
        assert all(v > 0 for v in points.values())


def test_every_part_names_functions_that_the_release_asks_for():
    for name, checks in REGISTRY.items():
        text = "\n".join(c.source for c in load_release(name).cells)
        for part in checks.parts:
            for function in part.functions:
                assert f"def {function}(" in text


def test_cases_are_reproducible_from_the_seed_and_differ_between_students():
    checks = REGISTRY["assignment1"]
    part = checks.parts[1]
    seed_a, seed_b = student_seed(1, "assignment1", "ada"), student_seed(1, "assignment1", "bo")
    first = part.make_cases(np.random.default_rng(seed_a))
    again = part.make_cases(np.random.default_rng(seed_a))
    other = part.make_cases(np.random.default_rng(seed_b))
    for a, b, c in zip(first, again, other, strict=True):
        for key in a.inputs:
            np.testing.assert_array_equal(a.inputs[key], b.inputs[key])
        assert any(not np.array_equal(a.inputs[k], c.inputs[k]) for k in a.inputs)


def test_every_mistake_variant_differs_from_the_reference_somewhere():
    """A variant equal to the reference on every case could never be diagnosed."""
    for checks in REGISTRY.values():
        for part in checks.parts:
            cases = part.make_cases(np.random.default_rng(0))
            for mistake in part.mistakes:
                if mistake.code == part.nonfinite_mistake:
                    continue
                differs = [
                    any(
                        np.shape(case.variants[mistake.code][k]) != np.shape(v)
                        or not np.allclose(case.variants[mistake.code][k], v)
                        for k, v in case.expected.items()
                    )
                    for case in cases
                    if mistake.code in case.variants
                ]
                assert any(differs), (part.grade_id, mistake.code)
