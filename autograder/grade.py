"""Grading a class: submission -> sandboxed run -> judged results -> records and feedback.

``grade_submission`` handles one student end to end and never raises because of what the
student did; ``grade_class`` walks a folder in nbgrader's layout, skips students that
already have a record (unless ``force``), and commits every result as soon as it exists.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np

from . import feedback, records
from .checks import AssignmentChecks, checks_for
from .judge import PartResult, judge_part
from .records import SubmissionResult
from .sandbox import Isolation, run
from .submission import (
    Submission,
    UnreadableSubmission,
    build_program,
    find_submissions,
    read_notebook,
)


def student_seed(base_seed: int, assignment: str, student: str) -> int:
    """A reproducible 63-bit seed per (course seed, assignment, student)."""
    digest = hashlib.sha256(f"{base_seed}:{assignment}:{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def grade_points(release: nbformat.NotebookNode) -> dict[str, float]:
    """Points of every graded cell, read from the release notebook's nbgrader metadata."""
    points = {}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def grade_submission(
    checks: AssignmentChecks,
    release: nbformat.NotebookNode,
    submission: Submission,
    base_seed: int,
    isolation: Isolation,
) -> SubmissionResult:
    """Grade one submission. Student faults become results; only grader faults raise."""
    start = time.perf_counter()
    seed = student_seed(base_seed, submission.assignment, submission.student)
    result = SubmissionResult(
        submission.student, submission.assignment, seed, "graded", isolation=isolation.describe()
    )
    points = grade_points(release)
    rng = np.random.default_rng(seed)
    cases = {part.grade_id: part.make_cases(rng) for part in checks.parts}
    try:
        submitted = read_notebook(submission.path)
    except UnreadableSubmission as error:
        result.status = "unreadable"
        result.problems.append(str(error))
    else:
        program = build_program(release, submitted)
        result.problems.extend(program.problems)
        inputs, probes = {}, []
        for part_cases in cases.values():
            for case in part_cases:
                inputs.update(case.inputs)
                probes.append(case.probe)
        outcome = run(program.cells, probes, inputs, checks.limits, isolation)
        if outcome.grader_error:
            result.status = "grader-error"
            result.problems.append(outcome.grader_error)
        result.cell_errors = dict(outcome.cell_errors)
        for part in checks.parts:
            part_points = points.get(part.grade_id, 0.0)
            result.parts.append(judge_part(part, cases[part.grade_id], outcome, part_points))
    if not result.parts:
        result.parts = [
            PartResult(p.grade_id, p.title, points.get(p.grade_id, 0.0), 0.0, [], [])
            for p in checks.parts
        ]
    result.seconds = round(time.perf_counter() - start, 3)
    return result


@dataclass
class ClassRun:
    """What ``grade_class`` needs besides the submissions themselves."""

    root: Path  # course root: exercises/<a>/<nb>.ipynb is the release
    out: Path  # gradebook.db, results/, feedback/
    base_seed: int = 2026
    force: bool = False
    book_url: str = ""


def release_notebook(root: Path, checks: AssignmentChecks) -> nbformat.NotebookNode:
    path = root / "exercises" / checks.name / f"{checks.notebook}.ipynb"
    return nbformat.read(path, as_version=4)


def grade_class(
    assignment: str,
    submitted: Path,
    config: ClassRun,
    on_result: Callable[[SubmissionResult, bool], None] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission in ``submitted``; results already on record are reused."""
    checks = checks_for(assignment)
    release = release_notebook(config.root, checks)
    config.out.mkdir(parents=True, exist_ok=True)
    db_url = records.gradebook_url(config.out)
    hidden = [config.root, submitted, config.out]
    isolation = Isolation.for_course(hidden)
    results = []
    with records.GradebookWriter(db_url, assignment, checks.notebook, release) as gradebook:
        for submission, cached in _pending(config, assignment, submitted, checks):
            result = cached or grade_submission(
                checks, release, submission, config.base_seed, isolation
            )
            if cached is None:
                gradebook.write(result)
                feedback.write_feedback(config.out, checks.notebook, result, config.book_url)
                records.write_record(config.out, result)
            results.append(result)
            if on_result:
                on_result(result, cached is not None)
    return results


def _pending(config, assignment, submitted, checks) -> Iterator[tuple[Submission, object]]:
    """Each submission with its existing record, or None when it must be (re)graded."""
    for submission in find_submissions(submitted, assignment, checks.notebook):
        cached = None
        if not config.force:
            cached = records.read_record(config.out, assignment, submission.student)
        yield submission, cached
