"""What the sandbox costs per submission: one fork server, many small submissions.

    python -m benchmarks.bench_sandbox [--submissions 300]

First a synthetic submission (a setup cell, an answer cell and twenty quick probes): the
isolation mode and, for that mode and for ``plain`` (no bubblewrap, no namespaces: the
baseline measured in the same run), the median and mean milliseconds per submission and
their ratio. Then the instructor's assignment 1 graded end to end, phase by phase (fork
and jail set-up, setup cells, student cells, probes, stopping the child, judging), in
milliseconds per submission.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
import numpy as np

from autograder.checks import checks_for
from autograder.judge import judge_part
from autograder.sandbox import Cell, Isolation, Limits, Probe, run
from autograder.submission import build_program, fill_answers, solution_answers

ROOT = Path(__file__).resolve().parents[1]

CELLS = [
    Cell("setup", "import numpy as np"),
    Cell("answer", "def relu(x):\n    return np.maximum(x, 0.0)\n"),
]
PROBES = [
    Probe(f"p{i}", [{"call": "relu", "args": [{"in": f"x{i}"}], "save": ["y"]}], ["y"])
    for i in range(20)
]


def per_submission(isolation: Isolation, count: int) -> list[float]:
    """Milliseconds of each of ``count`` submissions, after one warm-up."""
    rng = np.random.default_rng(0)
    inputs = {f"x{i}": rng.normal(size=(8, 16)) for i in range(20)}
    run(CELLS, PROBES, inputs, Limits(), isolation)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        outcome = run(CELLS, PROBES, inputs, Limits(), isolation)
        times.append((time.perf_counter() - start) * 1000)
        assert not outcome.probe_errors, outcome.probe_errors
    return times


def phase_breakdown(count: int) -> dict[str, float]:
    """Milliseconds per submission in each phase of grading assignment 1's answer key."""
    checks = checks_for("assignment1")
    release = nbformat.read(ROOT / "exercises" / "assignment1" / "assignment1.ipynb", 4)
    key = nbformat.read(ROOT / "solutions" / "assignment1" / "assignment1.ipynb", 4)
    program = build_program(release, fill_answers(release, solution_answers(key)))
    isolation = Isolation.for_course([ROOT])
    totals: dict[str, float] = {}
    for index in range(count + 1):
        rng = np.random.default_rng(index)
        cases = {part.grade_id: part.make_cases(rng) for part in checks.parts}
        inputs = {k: v for c in cases.values() for case in c for k, v in case.inputs.items()}
        probes = [case.probe for c in cases.values() for case in c]
        outcome = run(program.cells, probes, inputs, checks.limits, isolation)
        start = time.perf_counter()
        for part in checks.parts:
            judge_part(part, cases[part.grade_id], outcome, 1.0)
        if index == 0:
            continue  # warm-up
        outcome.phases["judging"] = time.perf_counter() - start
        for name, seconds in outcome.phases.items():
            totals[name] = totals.get(name, 0.0) + seconds * 1000 / count
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--submissions", type=int, default=300)
    args = parser.parse_args()
    best = Isolation.for_course([])
    rows = {}
    for mode in dict.fromkeys([best.mode, "plain"]):
        times = per_submission(Isolation.for_course([], mode=mode), args.submissions)
        rows[mode] = (statistics.median(times), statistics.fmean(times))
        print(f"{mode:>7}: median {rows[mode][0]:6.1f} ms, mean {rows[mode][1]:6.1f} ms")
    if best.mode != "plain":
        ratio = rows[best.mode][0] / rows["plain"][0]
        print(f"{best.mode} / plain (median per submission): {ratio:.2f}")
    print(f"\nassignment 1, answer key, {best.mode} mode, ms per submission by phase:")
    phases = phase_breakdown(min(args.submissions, 100))
    for name, ms in phases.items():
        print(f"  {name:42} {ms:7.2f}")
    print(f"  {'total':42} {sum(phases.values()):7.2f}")


if __name__ == "__main__":
    main()
