"""Grading one submission: its seed, the sandboxed run of its cells and the hidden checks,
the judged parts, and (in a grading worker) its rendered autograded notebook, feedback
and JSON record.

``grade_notebook`` never raises because of what the student did. Everything here is
plain data in and out, so it runs in worker processes or on a Dask cluster; it never
imports nbgrader's gradebook or applications (a worker starts in about half the time).
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import gc
import hashlib
import json
import os
import stat
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import numpy_backprop

from . import autograded, feedback, records
from .checks import AssignmentChecks, checks_for
from .judge import PartResult, judge_part
from .marks import LatePolicy, Marks, Prior, marks_for
from .records import SubmissionResult
from .sandbox import Isolation, run, zygote
from .submission import (
    MAX_NOTEBOOK_BYTES,
    Submission,
    UnreadableSubmission,
    build_program,
    parse_notebook,
    read_notebook,
)


def student_seed(base_seed: int, assignment: str, student: str, content_digest: str = "") -> int:
    """A reproducible 63-bit seed per (course seed, assignment, student, submitted file):
    a resubmission meets new hidden inputs, regrading the same file the same ones."""
    text = f"{base_seed}:{assignment}:{student}:{content_digest}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def submission_digest(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> str:
    """sha256 of a submitted regular file's bytes; "" for a link, a folder, a missing or an
    oversized file (those are reported by ``read_notebook``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
        os.close(fd)
        return ""
    with os.fdopen(fd, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def release_text(root: Path, checks: AssignmentChecks) -> str:
    """The release notebook's JSON text, as ``autograder release`` wrote (and validated) it."""
    return (root / "exercises" / checks.name / f"{checks.notebook}.ipynb").read_text("utf-8")


def hidden_folders(root: Path, submitted: Path, out: Path, course: Path) -> tuple[str, ...]:
    """The folders a run's sandboxes hide (the repository, the submissions, the reports,
    the course), as its ``Job`` carries them: part of its grading key."""
    return tuple(str(p) for p in (root, submitted, out, course))


@functools.cache
def checks_version(assignment: str) -> str:
    """A digest of everything that decides a verdict: the assignment's hidden checks, the
    shared check code, the judge and the reference implementations (numpy_backprop)."""
    package = Path(__file__).parent
    reference = Path(numpy_backprop.__file__).parent
    files = [
        package / "checks" / f"{assignment}.py",
        package / "checks" / "base.py",
        package / "judge.py",
        *sorted(reference.rglob("*.py")),
    ]
    digest = hashlib.sha256()
    for path in files:
        if path.exists():
            name = path.relative_to(reference.parent if path.is_relative_to(reference) else package)
            digest.update(name.as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


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
    digest: str = "",
) -> SubmissionResult:
    """Grade one loaded submission; never raises. Whatever goes wrong while grading it,
    including a fault of the grader that the submission provoked, becomes this student's
    result (status "grader-error", with the reason), so the class run goes on.

    ``digest`` is the sha256 of the submitted file: it enters the seed and the record."""
    start = time.perf_counter()
    seed = student_seed(base_seed, checks.name, student, digest)
    result = SubmissionResult(student, checks.name, seed, "graded", isolation=isolation.describe())
    result.submission_sha256 = digest
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
        result.parts = zero_parts(checks, points)
        result.cell_errors = {}
    result.seconds = round(time.perf_counter() - start, 3)
    return result


def zero_parts(checks: AssignmentChecks, points: dict[str, float]) -> list[PartResult]:
    """Every part with no points earned (a submission that could not be graded)."""
    return [
        PartResult(p.grade_id, p.title, points.get(p.grade_id, 0.0), 0.0, [], [])
        for p in checks.parts
    ]


def _grade_into(result, checks, release, points, submitted, isolation) -> None:
    """Fill ``result`` with the judged parts of one submission."""
    seed = result.seed
    rng = np.random.default_rng(seed)
    clock = time.perf_counter()
    cases = {part.grade_id: part.make_cases(rng) for part in checks.parts}
    result.phases["drawing inputs"] = _since(clock)
    if isinstance(submitted, UnreadableSubmission):
        result.status = "unreadable"
        result.problems.append(str(submitted))
        result.parts = zero_parts(checks, points)
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
        result.phases.update({name: round(1000 * t, 3) for name, t in outcome.phases.items()})
        clock = time.perf_counter()
        for part in checks.parts:
            part_points = points.get(part.grade_id, 0.0)
            result.parts.append(judge_part(part, cases[part.grade_id], outcome, part_points))
        result.phases["judging"] = _since(clock)


def _since(clock: float) -> float:
    """Milliseconds since ``clock`` (a ``time.perf_counter()`` value)."""
    return round(1000 * (time.perf_counter() - clock), 3)


@dataclass
class Graded:
    """A judged submission with its rendered files and the marks its gradebook rows get."""

    submission: Submission
    result: SubmissionResult
    marks: Marks
    autograded: str  # the autograded notebook as JSON text
    feedback: feedback.Pages
    record: str  # the JSON record


@dataclass(frozen=True)
class Todo:
    """One submission to grade, with what the gradebook already knows of it."""

    submission: Submission
    prior: Prior
    when: datetime.datetime | None  # the submission's timestamp.txt, naive UTC


@dataclass(frozen=True)
class Job:
    """Everything a grading worker needs besides the submission: plain, picklable data."""

    assignment: str
    release: str  # the release notebook as JSON text
    base_seed: int
    hidden: tuple[str, ...]  # paths the sandboxed child must not see
    book_url: str = ""
    version: str = ""  # checks_version(assignment)
    cells: tuple[str, ...] = ()  # the graded cells of the notebook, as the gradebook has them
    late: LatePolicy = field(default_factory=LatePolicy)

    def grade(self, student: str, submitted, digest: str = "") -> SubmissionResult:
        """Grade one submission with this worker's checks, which must be the instructor's:
        a worker with other hidden checks (another version installed on a cluster
        machine) gives a "grader-error" instead of verdicts nobody asked for."""
        checks = checks_for(self.assignment)
        release = _parsed(self.release)
        isolation = Isolation.for_course([Path(p) for p in self.hidden])
        here = checks_version(self.assignment)
        if self.version and here != self.version:
            result = self.failed(
                student,
                digest,
                f"the worker that took this submission has other hidden checks (version "
                f"{here}, expected {self.version}): install the same version everywhere",
            )
        else:
            result = grade_notebook(
                checks, release, student, submitted, self.base_seed, isolation, digest=digest
            )
        result.checks_version = self.version
        return result

    def grading_key(self) -> tuple:
        """What decides a submission's result in ``grade`` (not its rendering): two jobs
        with the same key grade every submission alike."""
        return (self.assignment, self.release, self.base_seed, self.hidden, self.version)

    def failed(self, student: str, digest: str, problem: str) -> SubmissionResult:
        """A "grader-error" result with no points: what a submission gets that the grader
        could not grade (``digest``: of the submitted file, "" if it cannot be read)."""
        seed = student_seed(self.base_seed, self.assignment, student, digest)
        result = SubmissionResult(student, self.assignment, seed, "grader-error")
        result.submission_sha256, result.checks_version = digest, self.version
        result.parts = zero_parts(checks_for(self.assignment), grade_points(_parsed(self.release)))
        result.problems.append(problem)
        return result

    def render(self, item: Todo, submitted, result: SubmissionResult) -> Graded:
        """The autograded notebook, marks and feedback of a judged submission."""
        clock = time.perf_counter()
        marks = marks_for(result, list(self.cells), item.prior, item.when, self.late)
        text = autograded.build(_release_json(self.release), submitted, result, self.book_url)
        pages = feedback.render(result, self.book_url, marks)
        result.phases["rendering"] = _since(clock)
        return Graded(item.submission, result, marks, text, pages, records.record_text(result))


@functools.lru_cache(maxsize=8)
def _parsed(release: str) -> nbformat.NotebookNode:
    """The release notebook, parsed once per process (read-only afterwards); the process
    that made the job read it from the release folder."""
    return parse_notebook(release)


@functools.lru_cache(maxsize=8)
def _release_json(release: str) -> dict:
    """The release notebook as its parsed JSON, lines split (read-only afterwards)."""
    return json.loads(release)


def start_worker() -> None:
    """Set up a process that will grade many submissions, then exit (a pool's worker):
    its fork server prepares the next sandbox while a submission is judged, and what it
    has imported is frozen for the garbage collector, so a full collection, and the
    interpreter's exit, no longer walk the modules' objects (about 0.2 s at each exit)."""
    zygote.enable_spares()
    gc.freeze()


def _grade_one(job: Job, item: Todo, loaded=None, digest=None, ahead=None) -> Graded:
    """Read, grade and render one submission (in a worker process, or inline);
    ``loaded`` and ``digest`` when it was read elsewhere; ``ahead``: its result from
    ``grade_ahead`` with a job of the same grading key, used if the file is still the one
    it graded. Never raises for a fault of the grader that the submission provoked: that
    becomes its "grader-error" result."""
    submission = item.submission
    try:
        digest = submission_digest(submission.path) if digest is None else digest
        submitted = load_submission(submission) if loaded is None else loaded
        result = ahead
        if result is None or result.submission_sha256 != digest:
            result = job.grade(submission.student, submitted, digest)
        return job.render(item, submitted, result)
    except Exception as error:  # grading itself already catches its faults: this is the rest
        where = traceback.extract_tb(error.__traceback__)[-1]
        reason = f"{type(error).__name__} in {Path(where.filename).name}:{where.lineno}"
        return grader_failed(job, item, f"the grader failed on this submission ({reason})")


def grade_ahead(job: Job, submission: Submission) -> SubmissionResult | None:
    """Grade one submission before the run has read the gradebook, which only its
    rendering needs (``_grade_one(..., ahead=result)`` does that later, in any worker);
    None when anything goes wrong here: the submission is then graded as usual."""
    try:
        digest = submission_digest(submission.path)
        return job.grade(submission.student, load_submission(submission), digest)
    except Exception:
        return None


def grader_failed(job: Job, item: Todo, reason: str) -> Graded:
    """A "grader-error" result for ``item`` with no points, its files and marks: what a
    submission gets when the grader could not grade it (an instructor must look at it)."""
    digest = ""
    with contextlib.suppress(OSError):
        digest = submission_digest(item.submission.path)
    result = job.failed(item.submission.student, digest, f"{reason}; an instructor must look at it")
    return job.render(item, UnreadableSubmission("not graded"), result)
