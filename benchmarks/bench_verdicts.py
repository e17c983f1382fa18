"""Verdicts over many student seeds: every variant under ``tests/variants_*.py`` graded
through the real pipeline (sandboxed child, judge) on the hidden cases of many seeds.

    python -m benchmarks.bench_verdicts [--seeds 50] [--slow-seeds 3] [--assignments a1,a2]

One sandboxed run per variant executes the probes of every seed (their names carry the
seed), so the cost is one child per variant. Prints the four figures of issue 11:

1. false rejections of correct variants (must be 0);
2. rejection rate of buggy variants, per seed (must be 100 % on every seed);
3. the share of rejected answers that get a catalogued name or a structural diagnosis;
4. the share named right (the expected mistake, alone) among those with a catalogued one.

Parts that train a model (``SLOW_PARTS``) run on the first ``--slow-seeds`` seeds only.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from autograder.checks import REGISTRY, checks_for
from autograder.checks.base import Case, rename_inputs
from autograder.grade import grade_points, student_seed
from autograder.judge import PartResult, judge_part
from autograder.sandbox import Isolation, Probe, run
from autograder.submission import build_program, fill_answers, solution_answers

ROOT = Path(__file__).resolve().parents[1]
SLOW_PARTS = {"test_search"}  # trains a network per trial: a few seeds are enough
NAMED_KINDS = {"mistake", "possible", "convention", "structure", "changed"}


def variants(assignment: str):
    """(CORRECT, WARNED, BUGGY) of ``tests/variants_<assignment>.py``. WARNED answers
    (an upstream gradient changed in place) must keep full marks with a warning; BUGGY
    includes the in-place and structural variants (``CHANGED``, ``STRUCTURAL``)."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    module = importlib.import_module(f"variants_{assignment}")
    buggy = {**module.BUGGY, **getattr(module, "CHANGED", {}), **getattr(module, "STRUCTURAL", {})}
    return module.CORRECT, getattr(module, "WARNED", {}), buggy


def seeds_for(assignment: str, count: int) -> list[int]:
    """The seeds of ``count`` students, as ``grade_class`` derives them."""
    return [student_seed(2026, assignment, f"student{k:03d}") for k in range(count)]


def _relabel(case: Case, tag: str) -> Case:
    """``case`` with its probe id and input names prefixed by ``tag`` (one seed)."""
    steps = []
    for step in case.probe.steps:
        step = dict(step)
        if "args" in step:
            step["args"] = [rename_inputs(a, tag) for a in step["args"]]
        steps.append(step)
    probe = Probe(tag + case.probe.id, steps, case.probe.send, tag + case.probe.group)
    changes = {"probe": probe, "inputs": {tag + k: v for k, v in case.inputs.items()}}
    facts = getattr(case, "facts", None)
    if facts and "probe" in facts:
        changes["facts"] = {**facts, "probe": tag + facts["probe"]}
    return dataclasses.replace(case, **changes)


@dataclass
class Plan:
    """The cases of every seed, relabelled, and what one sandboxed run needs."""

    assignment: str
    cases: dict[int, dict[str, list[Case]]] = field(default_factory=dict)  # seed -> part
    probes: list[Probe] = field(default_factory=list)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)


def make_plan(assignment: str, seeds: list[int], slow_seeds: int, parts=None) -> Plan:
    """Cases of ``seeds`` for ``parts`` (grade_ids; all by default), drawn exactly as
    ``grade_notebook`` draws them."""
    checks, plan = checks_for(assignment), Plan(assignment)
    for k, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        plan.cases[seed] = {}
        for index, part in enumerate(checks.parts):
            skipped = part.grade_id in SLOW_PARTS and k >= slow_seeds
            if skipped and index == len(checks.parts) - 1:
                break  # nothing drawn after it: no need to draw it (a search fits SVMs)
            cases = part.make_cases(rng)
            if skipped or (parts is not None and part.grade_id not in parts):
                continue
            cases = [_relabel(c, f"s{seed}/") for c in cases]
            plan.cases[seed][part.grade_id] = cases
            plan.probes += [c.probe for c in cases]
            for case in cases:
                plan.inputs.update(case.inputs)
    return plan


def subplan(plan: Plan, grade_ids: set[str]) -> Plan:
    """The cases of ``plan`` that belong to ``grade_ids`` only."""
    out = Plan(plan.assignment)
    for seed, by_part in plan.cases.items():
        out.cases[seed] = {g: cases for g, cases in by_part.items() if g in grade_ids}
        for cases in out.cases[seed].values():
            out.probes += [c.probe for c in cases]
            for case in cases:
                out.inputs.update(case.inputs)
    return out


def grade_many(plan: Plan, answers: dict[str, dict[str, str]], threads: int = 2) -> dict:
    """``grade_plan`` for several variants (name -> answers), ``threads`` at a time: the
    sandboxed children of one run while the judge works on another's results."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = {name: pool.submit(grade_plan, plan, cells) for name, cells in answers.items()}
        return {name: future.result() for name, future in futures.items()}


def grade_plan(plan: Plan, answers: dict[str, str]) -> dict[int, dict[str, PartResult]]:
    """Grade one variant's answers on every seed of ``plan`` in one sandboxed run."""
    checks = checks_for(plan.assignment)
    release = nbformat.read(ROOT / "exercises" / plan.assignment / f"{checks.notebook}.ipynb", 4)
    instructor = ROOT / "solutions" / plan.assignment / f"{checks.notebook}.ipynb"
    base = solution_answers(nbformat.read(instructor, 4))
    program = build_program(release, fill_answers(release, {**base, **answers}))
    rounds = max(1, len(plan.cases))
    limits = dataclasses.replace(
        checks.limits,
        cpu_seconds=checks.limits.cpu_seconds * rounds,
        total_seconds=checks.limits.total_seconds * rounds,
        result_bytes=checks.limits.result_bytes * 4,
    )
    outcome = run(program.cells, plan.probes, plan.inputs, limits, Isolation.for_course([ROOT]))
    points = grade_points(release)
    parts = {p.grade_id: p for p in checks.parts}
    return {
        seed: {
            gid: judge_part(parts[gid], cases, outcome, points.get(gid, 0.0))
            for gid, cases in by_part.items()
        }
        for seed, by_part in plan.cases.items()
    }


@dataclass
class Figures:
    correct_runs: int = 0
    false_rejections: list[str] = field(default_factory=list)
    per_seed: dict[tuple[str, int], list[bool]] = field(default_factory=dict)
    rejected: int = 0
    explained: int = 0
    right: int = 0
    structural: int = 0  # rejected variants whose mistake is outside the catalogue
    possible: int = 0
    missed: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    misnamed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rates = [sum(v) / len(v) for v in self.per_seed.values() if v]
        worst = min(rates, default=1.0)
        share = self.explained / self.rejected if self.rejected else 1.0
        catalogued = self.rejected - self.structural
        named = self.right / catalogued if catalogued else 1.0
        return [
            f"false rejections of correct variants: {len(self.false_rejections)} "
            f"of {self.correct_runs} graded (variant, seed) pairs (warned variants included)",
            f"rejection rate of buggy variants per seed: lowest {worst:.1%}, "
            f"mean {np.mean(rates) if rates else 1.0:.1%} over {len(rates)} (assignment, seed)",
            f"rejected answers with a catalogued name or a structural diagnosis: "
            f"{self.explained}/{self.rejected} = {share:.1%}",
            f"named right (the expected mistake, alone) among those with a catalogued "
            f"mistake: {self.right}/{catalogued} = {named:.1%} "
            f"(listed among possible ones: {self.possible})",
        ]


def measure(assignments: Iterable[str], count: int, slow_seeds: int) -> Figures:
    figures = Figures()
    for assignment in assignments:
        correct, warned, buggy = variants(assignment)
        seeds = seeds_for(assignment, count)
        plan = make_plan(assignment, seeds, slow_seeds)
        expected_warning = {name: code for name, (_, _, code) in warned.items()}
        graded = grade_many(plan, {**correct, **{k: v[0] for k, v in warned.items()}})
        for name, by_seed in graded.items():
            for seed, parts in by_seed.items():
                figures.correct_runs += 1
                codes = {m["code"] for p in parts.values() for m in p.mistakes}
                bad = [
                    p.grade_id
                    for p in parts.values()
                    if p.score < p.points or any(m["kind"] != "warning" for m in p.mistakes)
                ]
                if name in expected_warning and expected_warning[name] not in codes:
                    bad.append(f"no {expected_warning[name]}")
                if bad:
                    figures.false_rejections.append(f"{assignment}/{name} seed {seed}: {bad}")
        graded = {
            name: by_seed
            for gid in {gid for _, gid, _ in buggy.values()}
            for name, by_seed in grade_many(
                subplan(plan, {gid}), {n: v[0] for n, v in buggy.items() if v[1] == gid}
            ).items()
        }
        for name, (_, grade_id, code) in buggy.items():
            for seed, parts in graded[name].items():
                part = parts.get(grade_id)
                if part is None:
                    continue
                rejected = part.score < part.points
                figures.per_seed.setdefault((assignment, seed), []).append(rejected)
                where = f"{assignment}/{name} seed {seed}"
                if not rejected:
                    figures.missed.append(where)
                    continue
                figures.rejected += 1
                codes = [m["code"] for m in part.mistakes if m["kind"] in NAMED_KINDS]
                figures.explained += bool(codes)
                if not codes:
                    figures.unexplained.append(where)
                kinds = {m["code"]: m["kind"] for m in part.mistakes}
                if code.startswith("structure:"):  # no catalogued mistake to name
                    figures.structural += 1
                    if code not in kinds:
                        figures.misnamed.append(f"{where}: expected {code}, named {codes}")
                elif code in kinds and kinds[code] != "possible":
                    figures.right += 1
                elif code in kinds:
                    figures.possible += 1
                    figures.ambiguous.append(f"{where}: {codes}")
                else:
                    figures.misnamed.append(f"{where}: expected {code}, named {codes}")
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--slow-seeds", type=int, default=3)
    parser.add_argument("--assignments", default=",".join(sorted(REGISTRY)))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    figures = measure(args.assignments.split(","), args.seeds, args.slow_seeds)
    for line in figures.lines():
        print(line)
    for title, items in [
        ("false rejections", figures.false_rejections),
        ("buggy variants not rejected", figures.missed),
        ("rejected without a diagnosis", figures.unexplained),
        ("named wrongly", figures.misnamed),
        ("named among several possible", figures.ambiguous),
    ]:
        for item in items[:20]:
            print(f"  {title}: {item}")
    print(f"({args.seeds} seeds, {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
