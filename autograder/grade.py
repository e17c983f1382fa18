"""Grading a class: submissions -> grading workers -> records, files and the course's
nbgrader gradebook -> the CSV.

``grade_class`` walks a folder in nbgrader's layout, reuses a record while the
submitted file, the hidden checks and the seed are unchanged (and the gradebook agrees
with it), sends the rest to worker processes or a Dask cluster (``grade_submission``),
and writes what comes back. The per-submission names are re-exported here.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import autograded, feedback, records
from . import workers as workers_mod
from .checks import AssignmentChecks, checks_for
from .course import Course, read_timestamp
from .export import LmsExportPlugin
from .grade_submission import (  # noqa: F401  (re-exported for callers of this module)
    Graded,
    Job,
    Todo,
    _grade_one,
    checks_version,
    grade_notebook,
    grade_points,
    grader_failed,
    hidden_folders,
    load_submission,
    release_text,
    student_seed,
    submission_digest,
    zero_parts,
)
from .gradebook import GradebookWriter, stored_marks
from .marks import in_gradebook, marks_for
from .records import SubmissionResult
from .sandbox import zygote
from .submission import Submission, find_submissions, parse_notebook
from .workers import default_workers


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


def release_notebook(root: Path, checks: AssignmentChecks) -> nbformat.NotebookNode:
    return parse_notebook(release_text(root, checks))


def late_plugin(config):
    """nbgrader's configured LateSubmissionPlugin (``c.AssignLatePenalties.plugin_class``)."""
    from nbgrader.preprocessors import AssignLatePenalties

    return AssignLatePenalties(config=config).plugin_class(config=config)


def grade_class(
    assignment: str,
    submitted: Path,
    config: ClassRun,
    on_result: Callable[[SubmissionResult, bool], None] | None = None,
) -> list[SubmissionResult]:
    """Grade every submission in ``submitted`` into the course's gradebook.

    A record is reused when the submitted file, the hidden checks and the seed are
    unchanged and the gradebook and files agree with it; whatever a killed run left
    incomplete for it is completed first. Workers grade and render each submission (its
    autograded notebook and feedback); this process writes those files and the JSON
    record as each arrives, the gradebook rows in batches, and the CSV at the end.
    """
    checks = checks_for(assignment)
    text = release_text(config.root, checks)
    release = parse_notebook(text)
    course = Course.load(config.root, config.course or config.out)
    book_url = config.book_url or course.book_url
    config.out.mkdir(parents=True, exist_ok=True)
    hidden = hidden_folders(config.root, submitted, config.out, course.root)
    late = late_plugin(course.config)
    with GradebookWriter(course.db_url, assignment, checks.notebook, release, late) as gb:
        job = Job(
            assignment,
            text,
            config.base_seed,
            hidden,
            book_url,
            version=checks_version(assignment),
            cells=tuple(gb.cells),
            late=gb.late,
        )
        writer = _Writer(course, config.out, checks.notebook, gb, on_result)
        todo, incomplete = [], []
        for submission, cached in _pending(config, assignment, submitted, checks, job.version):
            item = Todo(
                submission, gb.prior(submission.student), read_timestamp(submission.path.parent)
            )
            if cached is None:
                todo.append(item)
            elif _in_sync(course, checks.notebook, job, cached, item):
                writer.reused(cached)
            else:
                incomplete.append((item, cached))
        for item, cached in incomplete:  # a killed run's leftovers, or changed since
            loaded = load_submission(item.submission)
            writer.commit(job.render(item, loaded, cached), cached=True)
        workers = config.workers or default_workers(len(todo))
        graded_now = (
            dask_results(job, todo, config.scheduler, workers)
            if config.scheduler
            else local_results(job, todo, workers)
        )
        for graded in graded_now:  # files and record as they arrive, rows in batches
            writer.commit(graded, cached=False)
        writer.flush()
        export_csv(gb.gb, assignment, config.out)
    return sorted(writer.results, key=lambda r: r.student)


def export_csv(gb, assignment: str, out: Path) -> Path:
    """``out/grades-<a>.csv`` through the LMS export plugin: every student of the gradebook."""
    path = records.grades_csv_path(out, assignment)
    plugin = LmsExportPlugin(to=str(path), assignment=[assignment], results=str(out / "results"))
    plugin.export(gb)
    return path


def _in_sync(course: Course, notebook: str, job: Job, result: SubmissionResult, item: Todo) -> bool:
    """Whether a record's gradebook rows hold its scores, time and penalty, and its
    autograded notebook and feedback exist and nbgrader's own autograde has not
    overwritten them since."""
    marks = marks_for(result, list(job.cells), item.prior, item.when, job.late)
    if not in_gradebook(result, marks, item.prior):
        return False
    a, student = result.assignment, result.student
    nb = course.folder(course.autograded, student, a) / f"{notebook}.ipynb"
    html = course.folder(course.feedback, student, a) / f"{notebook}.html"
    if not html.exists():
        return False
    try:
        return not autograded.written_by_nbgrader(nb.read_bytes())
    except OSError:
        return False


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
    with GradebookWriter(course.db_url, assignment, checks.notebook, release) as gb:
        for path in sorted((out / "results" / assignment).glob("*.json")):
            result = records.read_record(out, assignment, path.stem)
            prior = None if result is None else gb.priors.get(result.student)
            if prior is None:  # no record, or the gradebook lost it: `grade` restores it
                continue
            pages = feedback.render(result, course.book_url, stored_marks(prior, gb.cells))
            folder = course.folder(course.feedback, result.student, assignment)
            source = submitted / result.student / assignment
            feedback.write_feedback(folder, checks.notebook, pages, source)
            count += 1
        export_csv(gb.gb, assignment, out)
    return count


class _Writer:
    """Writes each graded submission's files and record at once, its gradebook rows in
    batches, and reports every result once its rows are in."""

    BATCH_ROWS = 200  # submissions per gradebook transaction, at most
    BATCH_SECONDS = 0.25  # and at most this long after the first of them was queued

    def __init__(self, course: Course, out: Path, notebook: str, gb: GradebookWriter, on_result):
        self.course, self.out, self.notebook, self.gb = course, out, notebook, gb
        self.on_result = on_result
        self.results: list[SubmissionResult] = []
        self._pending: list[tuple[Graded, bool]] = []
        self._since = 0.0

    def reused(self, result: SubmissionResult) -> None:
        self._report(result, True)

    def commit(self, graded: Graded, cached: bool) -> None:
        """Write one submission's files and record and queue its gradebook rows; when a
        file cannot be written (a full disk), nothing of it stays: a "grader-error"."""
        try:
            self._write_files(graded)
        except Exception as error:
            self._undo(graded.result, error)
            self._report(graded.result, cached)
            return
        if not self._pending:
            self._since = time.monotonic()
        self.gb.queue(graded.result, graded.marks)
        self._pending.append((graded, cached))
        waited = time.monotonic() - self._since
        if len(self._pending) >= self.BATCH_ROWS or waited >= self.BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the queued gradebook rows; a submission the gradebook refuses (a name it
        cannot store) loses its files and record and becomes a "grader-error"."""
        refused = {result.student: error for result, error in self.gb.flush()}
        for graded, cached in self._pending:
            if graded.result.student in refused:
                self._undo(graded.result, refused[graded.result.student])
            self._report(graded.result, cached)
        self._pending = []

    def _write_files(self, graded: Graded) -> None:
        result, folder = graded.result, graded.submission.path.parent
        course, a = self.course, result.assignment
        target = course.folder(course.autograded, result.student, a)
        records.atomic_write(target / f"{self.notebook}.ipynb", graded.autograded)
        records.copy_small_file(folder / "timestamp.txt", target / "timestamp.txt")
        feedback_dir = course.folder(course.feedback, result.student, a)
        feedback.write_feedback(feedback_dir, self.notebook, graded.feedback, folder)
        records.write_record(self.out, result, graded.record)

    def _undo(self, result: SubmissionResult, error: Exception) -> None:
        for step in (self.course.autograded, self.course.feedback):
            folder = self.course.folder(step, result.student, result.assignment)
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # the student's folder, when nothing else is in it
        with contextlib.suppress(OSError):
            records.record_path(self.out, result.assignment, result.student).unlink(missing_ok=True)
        result.status = "grader-error"
        reason = f"{type(error).__name__}: {error}"[:300]
        result.problems.append(f"the grader could not record this result: {reason}")

    def _report(self, result: SubmissionResult, cached: bool) -> None:
        self.results.append(result)
        if self.on_result:
            self.on_result(result, cached)


def local_results(job: Job, todo: list[Todo], workers: int) -> Iterator[Graded]:
    """Grade on this machine: inline for one worker, else in ``workers`` processes, each
    with its own fork server, so judging and rendering run on every core despite the GIL.

    Submissions are read as they are graded and at most two per worker are in flight, so
    memory stays flat however large the class. A worker that dies (killed by the system,
    a crash inside a library) breaks its pool: a new pool grades what was in flight one
    submission at a time, so a submission that kills a worker again is known, and gets a
    "grader-error" result of its own; the others are graded as usual. Submissions the
    workers started early graded ahead with a job of the same grading key (see
    ``workers.grade_ahead``) are only rendered, unless their file changed since.
    """
    if workers <= 1:
        workers_mod.stop_unused()
        with zygote.spares():
            yield from (_grade_one(job, item) for item in todo)
        return
    queue: deque[Todo] = deque(todo)
    suspects: deque[Todo] = deque()  # in flight when a pool broke
    claimed = False
    while queue or suspects:
        with workers_mod.take(workers) as pool:
            pending: dict[Future, Todo] = {}
            ahead: set[Future] = set()  # graded ahead (workers.grade_ahead), not rendered
            if not claimed:  # the early pool's results, if it graded as this job does
                claimed, found, kept = True, workers_mod.claim(pool, job.grading_key()), deque()
                for item in queue:
                    future = found.get(item.submission.student)
                    if future is None:
                        kept.append(item)
                    else:
                        pending[future] = item
                        ahead.add(future)
                queue = kept
            try:
                while suspects:
                    graded = pool.submit(_grade_one, job, suspects[0]).result()
                    suspects.popleft()
                    yield graded
                while queue or pending:
                    while queue and len(pending) < 2 * workers:
                        item = queue.popleft()
                        pending[pool.submit(_grade_one, job, item)] = item
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        value, item = future.result(), pending.pop(future)
                        if future in ahead:  # rendered by a worker, with this job's gradebook
                            pending[pool.submit(_grade_one, job, item, ahead=value)] = item
                        else:
                            yield value
            except BrokenProcessPool:
                if pending:
                    suspects.extend(pending.values())
                else:  # it died grading this one alone
                    reason = "the process grading this submission died (twice)"
                    yield grader_failed(job, suspects.popleft(), reason)


def dask_results(job: Job, todo: list[Todo], address: str, workers: int):
    """Grade on a Dask cluster; notebooks are read here and shipped as data, results
    come back as they finish. At most a few tasks per worker are in flight."""
    from distributed import Client
    from distributed import as_completed as dask_as_completed

    with Client(address) as client:
        ahead = max(2, 2 * len(client.scheduler_info()["workers"]), workers)
        pending = dask_as_completed()
        for item in todo:
            loaded = load_submission(item.submission)
            digest = submission_digest(item.submission.path)
            future = client.submit(_grade_one, job, item, loaded, digest, pure=False)
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
