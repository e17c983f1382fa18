"""Grading a class: submission -> sandboxed run -> judged results -> records and feedback.

``grade_notebook`` handles one student end to end and never raises because of what the
student did; ``grade_class`` walks a folder in nbgrader's layout, skips students that
already have a record (unless ``force``), and commits every result as soon as it exists.
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
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
    text = f"{base_seed}:{assignment}:{student}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def grade_points(release: nbformat.NotebookNode) -> dict[str, float]:
    """Points of every graded cell, read from the release notebook's nbgrader metadata."""
    points = {}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def load_submission(submission: Submission) -> nbformat.NotebookNode | UnreadableSubmission:
    """The submitted notebook, or the reason it cannot be read (never raises for bad files)."""
    try:
        return read_notebook(submission.path)
    except UnreadableSubmission as error:
        return error
    except Exception as error:  # a file the reader did not foresee: still this student's
        return UnreadableSubmission(f"the file could not be read ({type(error).__name__})")


def grade_notebook(
    checks: AssignmentChecks,
    release: nbformat.NotebookNode,
    student: str,
    submitted: nbformat.NotebookNode | UnreadableSubmission,
    base_seed: int,
    isolation: Isolation,
) -> SubmissionResult:
    """Grade one loaded submission; never raises. Whatever goes wrong while grading it,
    including a fault of the grader that the submission provoked, becomes this student's
    result (status "grader-error", with the reason), so the class run goes on."""
    start = time.perf_counter()
    seed = student_seed(base_seed, checks.name, student)
    result = SubmissionResult(student, checks.name, seed, "graded", isolation=isolation.describe())
    points = grade_points(release)
    try:
        _grade_into(result, checks, release, points, submitted, isolation)
    except Exception as error:  # a grader bug, but it must stay this student's
        result.status = "grader-error"
        where = traceback.extract_tb(error.__traceback__)[-1]
        result.problems.append(
            f"the grader failed on this submission ({type(error).__name__} in "
            f"{Path(where.filename).name}:{where.lineno}); an instructor must look at it"
        )
        result.parts = [
            PartResult(p.grade_id, p.title, points.get(p.grade_id, 0.0), 0.0, [], [])
            for p in checks.parts
        ]
        result.cell_errors = {}
    result.seconds = round(time.perf_counter() - start, 3)
    return result


def _grade_into(result, checks, release, points, submitted, isolation) -> None:
    """Fill ``result`` with the judged parts of one submission."""
    seed = result.seed
    rng = np.random.default_rng(seed)
    cases = {part.grade_id: part.make_cases(rng) for part in checks.parts}
    if isinstance(submitted, UnreadableSubmission):
        result.status = "unreadable"
        result.problems.append(str(submitted))
        result.parts = [
            PartResult(p.grade_id, p.title, points.get(p.grade_id, 0.0), 0.0, [], [])
            for p in checks.parts
        ]
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


@dataclass
class ClassRun:
    """What ``grade_class`` needs besides the submissions themselves."""

    root: Path  # course root: exercises/<a>/<nb>.ipynb is the release
    out: Path  # gradebook.db, results/, feedback/
    base_seed: int = 2026
    force: bool = False
    book_url: str = ""
    workers: int = 1
    scheduler: str | None = None  # address of a Dask scheduler, or None for local threads


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
    hidden = tuple(str(p) for p in (config.root, submitted, config.out))
    results, todo = [], []
    with records.GradebookWriter(db_url, assignment, checks.notebook, release) as gradebook:
        for submission, cached in _pending(config, assignment, submitted, checks):
            if cached is None:
                todo.append(submission)
                continue
            results.append(cached)
            if on_result:
                on_result(cached, True)
        job = Job(assignment, nbformat.writes(release), config.base_seed, hidden)
        graded = (
            dask_results(job, todo, config.scheduler, config.workers)
            if config.scheduler
            else local_results(job, todo, config.workers)
        )
        for result in graded:  # committed one by one, as they arrive
            gradebook.write(result)
            feedback.write_feedback(config.out, checks.notebook, result, config.book_url)
            records.write_record(config.out, result)
            results.append(result)
            if on_result:
                on_result(result, False)
    results.sort(key=lambda r: r.student)
    records.write_grades_csv(config.out, assignment, results)
    return results


@dataclass(frozen=True)
class Job:
    """Everything a grading worker needs besides the submission: plain, picklable data."""

    assignment: str
    release: str  # the release notebook as JSON text
    base_seed: int
    hidden: tuple[str, ...]  # paths the sandboxed child must not see

    def grade(self, student: str, submitted) -> SubmissionResult:
        checks = checks_for(self.assignment)
        release = _parsed(self.release)
        isolation = Isolation.for_course([Path(p) for p in self.hidden])
        return grade_notebook(checks, release, student, submitted, self.base_seed, isolation)


@functools.lru_cache(maxsize=8)
def _parsed(release: str) -> nbformat.NotebookNode:
    """The release notebook, parsed once per process (read-only afterwards)."""
    return nbformat.reads(release, as_version=4)


def _grade_one(job: Job, submission: Submission) -> SubmissionResult:
    """Read and grade one submission (in a worker process, or inline)."""
    return job.grade(submission.student, load_submission(submission))


def local_results(job: Job, todo: list[Submission], workers: int) -> Iterator[SubmissionResult]:
    """Grade on this machine: inline for one worker, else in ``workers`` processes, each
    with its own fork server, so judging runs on every core despite the GIL.

    Submissions are read as they are graded and at most two per worker are in flight, so
    memory stays flat however large the class.
    """
    if workers <= 1:
        yield from (_grade_one(job, submission) for submission in todo)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = set()
        for submission in todo:
            pending.add(pool.submit(_grade_one, job, submission))
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
        for future in as_completed(pending):
            yield future.result()


def dask_results(job: Job, todo: list[Submission], address: str, workers: int):
    """Grade on a Dask cluster; notebooks are read here and shipped as data, results
    come back as they finish. At most a few tasks per worker are in flight."""
    from distributed import Client
    from distributed import as_completed as dask_as_completed

    with Client(address) as client:
        ahead = max(2, 2 * len(client.scheduler_info()["workers"]), workers)
        pending = dask_as_completed()
        for submission in todo:
            loaded = load_submission(submission)
            future = client.submit(job.grade, submission.student, loaded, pure=False)
            pending.add(future)
            if pending.count() >= ahead:
                yield next(pending).result()
        for future in pending:
            yield future.result()


def _pending(config, assignment, submitted, checks) -> Iterator[tuple[Submission, object]]:
    """Each submission with its existing record, or None when it must be (re)graded."""
    for submission in find_submissions(submitted, assignment, checks.notebook):
        cached = None
        if not config.force:
            cached = records.read_record(config.out, assignment, submission.student)
        yield submission, cached
