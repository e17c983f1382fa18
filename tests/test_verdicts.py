"""Verdicts that hold on every seed, through the real pipeline (one sandboxed run per
variant executes the probes of every seed, see ``benchmarks/bench_verdicts.py``).

* every buggy variant (catalogued, inputs changed in place, outside the catalogue) is
  rejected on each of 50 student seeds, and its mistake is named on each of them;
* correct variants, and those that only change an upstream gradient in place (a warning),
  keep full marks on every seed;
* the benchmark's four figures, on one seed, meet the issue's bounds (the figures over
  50 seeds: ``python -m benchmarks.bench_verdicts``).
"""

from __future__ import annotations

import dataclasses
import functools

import pytest

from autograder.checks import REGISTRY
from benchmarks.bench_verdicts import (
    SLOW_PARTS,
    grade_many,
    make_plan,
    measure,
    seeds_for,
    subplan,
    variants,
)

BUGGY_SEEDS = 50
CORRECT_SEEDS = 10
SLOW_SEEDS = 2  # seeds for the parts that train a model per trial (SLOW_PARTS)
REGISTRY_PARTS = {a: [p.grade_id for p in REGISTRY[a].parts] for a in REGISTRY}


@functools.cache
def plan_of(assignment: str, seeds: int):
    """The cases of ``seeds`` students for every part (drawn once, shared by the tests)."""
    return make_plan(assignment, seeds_for(assignment, seeds), SLOW_SEEDS)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(REGISTRY))
def test_every_buggy_variant_is_rejected_and_named_on_every_seed(assignment):
    buggy = variants(assignment)[2]
    failures = []
    for grade_id in sorted({gid for _, gid, _ in buggy.values()}):
        mine = {name: v for name, v in buggy.items() if v[1] == grade_id}
        plan = subplan(plan_of(assignment, BUGGY_SEEDS), {grade_id})
        graded = grade_many(plan, {name: v[0] for name, v in mine.items()})
        for name, (_, gid, code) in mine.items():
            for seed, parts in graded[name].items():
                part = parts.get(gid)
                if part is None:  # a part that trains a model runs on SLOW_SEEDS seeds only
                    continue
                codes = [m["code"] for m in part.mistakes if m["kind"] != "possible"]
                if part.score >= part.points:
                    failures.append(f"{name} seed {seed}: not rejected")
                elif code not in codes:
                    failures.append(f"{name} seed {seed}: named {codes}, not {code}")
    assert not failures, failures[:10]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(REGISTRY))
def test_correct_and_warned_variants_keep_full_marks_on_every_seed(assignment):
    correct, warned, _ = variants(assignment)
    plan = plan_of(assignment, BUGGY_SEEDS)
    first = list(plan.cases.items())[:CORRECT_SEEDS]
    trimmed = {  # the parts that train a model: on the first seed only
        seed: {g: c for g, c in by_part.items() if k == 0 or g not in SLOW_PARTS}
        for k, (seed, by_part) in enumerate(first)
    }
    plan = subplan(dataclasses.replace(plan, cases=trimmed), set(REGISTRY_PARTS[assignment]))
    answers = {**correct, **{name: v[0] for name, v in warned.items()}}
    failures = []
    for name, by_seed in grade_many(plan, answers).items():
        for seed, parts in by_seed.items():
            for part in parts.values():
                kinds = {m["code"]: m["kind"] for m in part.mistakes}
                if part.score < part.points or set(kinds.values()) - {"warning"}:
                    failures.append(f"{name} seed {seed} {part.grade_id}: {kinds}")
            if name in warned:
                wanted = warned[name][2]
                if wanted not in {m["code"] for p in parts.values() for m in p.mistakes}:
                    failures.append(f"{name} seed {seed}: no {wanted}")
    assert not failures, failures[:10]


@pytest.mark.slow
def test_the_benchmark_figures_meet_the_bounds():
    figures = measure(sorted(REGISTRY), 1, 0)
    print("\n".join(figures.lines()))
    assert figures.false_rejections == []
    assert figures.missed == []  # 100 % rejection on every seed
    assert all(all(v) for v in figures.per_seed.values())
    assert figures.explained >= 0.95 * figures.rejected
    assert figures.right >= 0.95 * (figures.rejected - figures.structural)
    assert figures.rejected > 0 and figures.correct_runs > 0
