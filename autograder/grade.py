"""Grading a class: submission -> sandboxed run -> judged results -> records and feedback.

``grade_notebook`` handles one student end to end and never raises because of what the
student did; ``grade_class`` walks a folder in nbgrader's layout, reuses a record while
the submitted file, the hidden checks and the seed are unchanged, and commits every
result into the course's nbgrader gradebook as soon as it exists.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import os
import shutil
import stat
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import numpy_backprop
from nbgrader.api import MissingEntry

from . import autograded, feedback, records
from .checks import AssignmentChecks, checks_for
from .course import Course, read_timestamp
from .export import LmsExportPlugin
from .judge import PartResult, judge_part
from .records import SubmissionResult
from .sandbox import Isolation, run
from .submission import (
    MAX_NOTEBOOK_BYTES,
    Submission,
    UnreadableSubmission,
    build_program,
    find_submissions,
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
    cases = {part.grade_id: part.make_cases(rng) for part in checks.parts}
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
        for part in checks.parts:
            part_points = points.get(part.grade_id, 0.0)
            result.parts.append(judge_part(part, cases[part.grade_id], outcome, part_points))


@dataclass
class ClassRun:
    """What ``grade_class`` needs besides the submissions themselves."""

    root: Path  # repository: nbgrader_config.py, exercises/<a>/<nb>.ipynb is the release
    out: Path  # the reports: results/<a>/<student>.json, grades-<a>.csv
    base_seed: int = 2026
    force: bool = False
    book_url: str = ""  # default: c.Autograder.book_url of nbgrader_config.py
    workers: int = 0  # 0: chosen from the number of submissions and cores
    scheduler: str | None = None  # address of a Dask scheduler, or None for local processes
    course: Path | None = None  # nbgrader course root (gradebook, autograded/, feedback/);
    # None: a course of its own inside ``out`` (for tests and benchmarks)
    students: tuple[str, ...] = ()  # regrade only these (and always regrade them)


def default_workers(todo: int, cores: int | None = None) -> int:
    """Worker processes for ``todo`` submissions: each costs a process start and a fork
    server (about a second), worth it from about six submissions per worker."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, todo // 6))


def release_notebook(root: Path, checks: AssignmentChecks) -> nbformat.NotebookNode:
    path = root / "exercises" / checks.name / f"{checks.notebook}.ipynb"
    return nbformat.read(path, as_version=4)


def late_plugin(config):
    """nbgrader's configured LateSubmissionPlugin (``c.AssignLatePenalties.plugin_class``)."""
    from nbgrader.preprocessors import AssignLatePenalties

    return AssignLatePenalties(config=config).plugin_class(config=config)


@dataclass
class Graded:
    """A judged submission with the files that go with it."""

    submission: Submission
    result: SubmissionResult
    autograded: str  # the autograded notebook as JSON text, "" to rebuild it from the record


def grade_class(
    assignment: str,
    submitted: Path,
    config: ClassRun,
    on_result: Callable[[SubmissionResult, bool], None] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission in ``submitted`` into the course's gradebook.

    A record is reused when the submitted file, the hidden checks and the seed are
    unchanged; whatever a killed run left incomplete for it is completed first. Per
    submission the autograded notebook, the gradebook rows and the feedback are written
    before the JSON record, and the CSV is exported from the gradebook at the end.
    """
    checks = checks_for(assignment)
    release = release_notebook(config.root, checks)
    course = Course.load(config.root, config.course or config.out)
    book_url = config.book_url or course.book_url
    version = checks_version(assignment)
    config.out.mkdir(parents=True, exist_ok=True)
    hidden = tuple(str(p) for p in (config.root, submitted, config.out, course.root))
    job = Job(assignment, nbformat.writes(release), config.base_seed, hidden, book_url)
    results, todo, incomplete = [], [], []
    with records.GradebookWriter(
        course.db_url, assignment, checks.notebook, release, late_plugin(course.config)
    ) as gradebook:
        complete = gradebook.complete()
        for submission, cached in _pending(config, assignment, submitted, checks, version):
            if cached is None:
                todo.append(submission)
            elif _files_missing(course, checks.notebook, cached, complete):
                incomplete.append(Graded(submission, cached, ""))
            else:
                results.append(cached)
                if on_result:
                    on_result(cached, True)
        writer = _Writer(course, config.out, checks.notebook, release, book_url, gradebook)
        for graded in incomplete:  # a killed run's leftovers, or files deleted since
            writer.commit(graded)
            results.append(graded.result)
            if on_result:
                on_result(graded.result, True)
        workers = config.workers or default_workers(len(todo))
        graded_now = (
            dask_results(job, todo, config.scheduler, workers)
            if config.scheduler
            else local_results(job, todo, workers)
        )
        for graded in graded_now:  # committed one by one, as they arrive
            graded.result.checks_version = version
            writer.commit(graded)
            results.append(graded.result)
            if on_result:
                on_result(graded.result, False)
        gradebook.gb.db.commit()
        export_csv(gradebook.gb, assignment, config.out)
    results.sort(key=lambda r: r.student)
    return results


def export_csv(gb, assignment: str, out: Path) -> Path:
    """``out/grades-<a>.csv`` through the LMS export plugin: every student of the gradebook."""
    path = records.grades_csv_path(out, assignment)
    plugin = LmsExportPlugin(to=str(path), assignment=[assignment], results=str(out / "results"))
    plugin.export(gb)
    return path


def _files_missing(course: Course, notebook: str, result: SubmissionResult, complete) -> bool:
    """Whether a record's gradebook rows, autograded notebook or feedback are missing, or
    nbgrader's own autograde has overwritten them since."""
    a, student = result.assignment, result.student
    nb = course.folder(course.autograded, student, a) / f"{notebook}.ipynb"
    html = course.folder(course.feedback, student, a) / f"{notebook}.html"
    if student not in complete or not html.exists():
        return True
    try:
        return autograded.written_by_nbgrader(nb.read_bytes())
    except OSError:
        return True


def nbgrader_autograded(course: Course, assignment: str) -> list[str]:
    """Students whose autograded notebook of ``assignment`` nbgrader's autograde wrote."""
    found = []
    for path in sorted((course.root / course.autograded).glob(f"*/{assignment}/*.ipynb")):
        try:
            if autograded.written_by_nbgrader(path.read_bytes()):
                found.append(path.parent.parent.name)
        except OSError:
            continue
    return found


def rewrite_feedback(
    root: Path, course: Course, out: Path, submitted: Path, assignment: str
) -> int:
    """Rewrite the feedback of every graded student from the gradebook (after manual
    grading in the formgrader); returns how many were written."""
    checks = checks_for(assignment)
    release = release_notebook(root, checks)
    count = 0
    with records.GradebookWriter(course.db_url, assignment, checks.notebook, release) as gb:
        for path in sorted((out / "results" / assignment).glob("*.json")):
            result = records.read_record(out, assignment, path.stem)
            if result is None:
                continue
            try:
                marks = gb.marks(result.student)
            except MissingEntry:  # the gradebook lost it: `autograder grade` restores it
                continue
            folder = course.folder(course.feedback, result.student, assignment)
            source = submitted / result.student / assignment
            feedback.write_feedback(folder, checks.notebook, result, course.book_url, marks, source)
            count += 1
        export_csv(gb.gb, assignment, out)
    return count


@dataclass
class _Writer:
    """Writes one graded submission's files in the order that keeps them all-or-nothing."""

    course: Course
    out: Path
    notebook: str
    release: nbformat.NotebookNode
    book_url: str
    gradebook: records.GradebookWriter

    def commit(self, graded: Graded) -> None:
        """Write everything of one submission, or, when that fails (a name the gradebook
        cannot store, a full disk), nothing: the result becomes a "grader-error"."""
        try:
            self._commit(graded)
        except Exception as error:
            self.gradebook.gb.db.rollback()
            for step in (self.course.autograded, self.course.feedback):
                folder = self.course.folder(step, graded.result.student, graded.result.assignment)
                shutil.rmtree(folder, ignore_errors=True)
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()  # the student's folder, when nothing else is in it
            records.record_path(self.out, graded.result.assignment, graded.result.student).unlink(
                missing_ok=True
            )
            graded.result.status = "grader-error"
            reason = f"{type(error).__name__}: {error}"[:300]
            graded.result.problems.append(f"the grader could not record this result: {reason}")

    def _commit(self, graded: Graded) -> None:
        result, folder = graded.result, graded.submission.path.parent
        course, a = self.course, result.assignment
        text = graded.autograded
        if not text:
            submitted = load_submission(graded.submission)
            nb = autograded.build(self.release, submitted, result, self.book_url)
            text = nbformat.writes(nb)
        target = course.folder(course.autograded, result.student, a)
        records.atomic_write(target / f"{self.notebook}.ipynb", text)
        records.copy_small_file(folder / "timestamp.txt", target / "timestamp.txt")
        self.gradebook.write(result, read_timestamp(folder))
        marks = self.gradebook.marks(result.student)
        feedback_dir = course.folder(course.feedback, result.student, a)
        feedback.write_feedback(feedback_dir, self.notebook, result, self.book_url, marks, folder)
        records.write_record(self.out, result)


@dataclass(frozen=True)
class Job:
    """Everything a grading worker needs besides the submission: plain, picklable data."""

    assignment: str
    release: str  # the release notebook as JSON text
    base_seed: int
    hidden: tuple[str, ...]  # paths the sandboxed child must not see
    book_url: str = ""

    def grade(self, student: str, submitted, digest: str = "") -> SubmissionResult:
        checks = checks_for(self.assignment)
        release = _parsed(self.release)
        isolation = Isolation.for_course([Path(p) for p in self.hidden])
        return grade_notebook(
            checks, release, student, submitted, self.base_seed, isolation, digest=digest
        )


@functools.lru_cache(maxsize=8)
def _parsed(release: str) -> nbformat.NotebookNode:
    """The release notebook, parsed once per process (read-only afterwards)."""
    return nbformat.reads(release, as_version=4)


def _grade_one(job: Job, submission: Submission, loaded=None, digest=None) -> Graded:
    """Read and grade one submission and build its autograded notebook (in a worker
    process, or inline); ``loaded`` and ``digest`` when it was read elsewhere."""
    digest = submission_digest(submission.path) if digest is None else digest
    submitted = load_submission(submission) if loaded is None else loaded
    result = job.grade(submission.student, submitted, digest)
    nb = autograded.build(_parsed(job.release), submitted, result, job.book_url)
    return Graded(submission, result, nbformat.writes(nb))


def local_results(job: Job, todo: list[Submission], workers: int) -> Iterator[Graded]:
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
            digest = submission_digest(submission.path)
            future = client.submit(_grade_one, job, submission, loaded, digest, pure=False)
            pending.add(future)
            if pending.count() >= ahead:
                yield next(pending).result()
        for future in pending:
            yield future.result()


def _pending(config, assignment, submitted, checks, version) -> Iterator[tuple[Submission, object]]:
    """Each submission (of the chosen students) with its reusable record, or None when it
    must be (re)graded: forced, chosen by name, no record, or the file, the checks or the
    seed changed since."""
    chosen = set(config.students)
    for submission in find_submissions(submitted, assignment, checks.notebook):
        if chosen and submission.student not in chosen:
            continue
        cached = None
        if not (config.force or chosen):
            cached = records.read_record(config.out, assignment, submission.student)
        if cached is not None and cached.status == "grader-error":
            cached = None  # the grader failed: try again
        if cached is not None:
            digest = submission_digest(submission.path)
            seed = student_seed(config.base_seed, assignment, submission.student, digest)
            if cached.cache_key != (digest, version, seed):
                cached = None
        yield submission, cached
