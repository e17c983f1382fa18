"""Where results land: nbgrader's course gradebook and a JSON record per submission.

Each submission's files are written as soon as it is judged, each atomically, and the
JSON record last, so a grader that is killed loses at most the submission it was
working on and a record always means the rest is in place.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbgrader import api as nbgrader_api
from nbgrader.api import (
    Assignment,
    Grade,
    Gradebook,
    MissingEntry,
    SubmittedAssignment,
    SubmittedNotebook,
)
from sqlalchemy import func, text
from sqlalchemy.exc import SAWarning

from .course import read_small_file
from .judge import CaseResult, PartResult


@dataclass
class SubmissionResult:
    """The judged result of one student's submission of one assignment."""

    student: str
    assignment: str
    seed: int
    status: str  # "graded", "unreadable" or "grader-error"
    parts: list[PartResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cell_errors: dict[str, str] = field(default_factory=dict)
    isolation: str = ""
    seconds: float = 0.0
    submission_sha256: str = ""  # of the submitted file's bytes; "" when there is none
    checks_version: str = ""  # digest of the hidden checks' source (grade.checks_version)

    @property
    def cache_key(self) -> tuple[str, str, int]:
        """A record is reused only while all three are unchanged."""
        return (self.submission_sha256, self.checks_version, self.seed)

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.parts), 2)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["score"] = self.score
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        data = dict(data)
        data.pop("score", None)
        parts = []
        for p in data.pop("parts"):
            cases = [CaseResult(**c) for c in p.pop("cases")]
            parts.append(PartResult(cases=cases, **p))
        return cls(parts=parts, **data)


def record_path(out: Path, assignment: str, student: str) -> Path:
    return out / "results" / assignment / f"{student}.json"


def atomic_write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def copy_small_file(source: Path, target: Path, max_bytes: int = 4096) -> bool:
    """Copy a small regular file (nbgrader's ``timestamp.txt``) without following links."""
    data = read_small_file(source, max_bytes)
    if data is None:
        return False
    atomic_write(target, data.decode("utf-8", "replace"))
    return True


def write_record(out: Path, result: SubmissionResult) -> Path:
    """Atomically write the JSON record of one submission: the last of its files, so a
    record exists only once the gradebook rows, feedback and autograded notebook do."""
    path = record_path(out, result.assignment, result.student)
    return atomic_write(path, json.dumps(result.to_dict(), indent=1))


def read_record(out: Path, assignment: str, student: str) -> SubmissionResult | None:
    path = record_path(out, assignment, student)
    if not path.exists():
        return None
    try:
        return SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError):
        return None


def ensure_alembic_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` command found on PATH: make it the one
    installed beside this interpreter, even when the virtual environment is not activated."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def grades_csv_path(out: Path, assignment: str) -> Path:
    return out / f"grades-{assignment}.csv"


def gradebook_url(out: Path) -> str:
    return f"sqlite:///{(out / 'gradebook.db').resolve()}"


@functools.cache
def alembic_head() -> str:
    """The newest revision of nbgrader's gradebook schema, read from its migration files.

    nbgrader stamps a new gradebook with this revision by running ``alembic heads`` in a
    subprocess, which costs seconds per new database; the head is the one revision that
    no other revision names as its ``down_revision``.
    """
    import nbgrader

    versions = Path(nbgrader.__file__).parent / "alembic" / "versions"
    pattern = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([0-9a-f]+)?", re.MULTILINE)
    revisions, parents = set(), set()
    for script in versions.glob("*.py"):
        for key, value in pattern.findall(script.read_text(encoding="utf-8")):
            (revisions if key == "revision" else parents).add(value)
    (head,) = revisions - parents - {""}
    return head


@dataclass
class Marks:
    """What the gradebook holds for one submission, manual grading included."""

    scores: dict[str, float]  # final score per graded cell (a manual score wins)
    manual: set[str]  # graded cells whose score an instructor set by hand
    comments: dict[str, str]  # an instructor's comment per cell
    penalty: float  # late-submission penalty
    timestamp: datetime.datetime | None

    @property
    def total(self) -> float:
        return round(max(0.0, sum(self.scores.values()) - self.penalty), 2)


class GradebookWriter:
    """The course's nbgrader gradebook for one assignment, opened once per grading run.

    nbgrader starts a subprocess (``alembic heads``) each time a Gradebook is opened, so
    the grader keeps one open and commits after every submission. Only automatic scores,
    timestamps and late penalties are written: manual scores and comments stay as the
    instructor left them.
    """

    def __init__(
        self,
        db_url: str,
        assignment: str,
        notebook: str,
        release: nbformat.NotebookNode,
        late_plugin=None,
    ):
        ensure_alembic_on_path()
        nbgrader_api.get_alembic_version = alembic_head
        self.gb = Gradebook(db_url)
        if db_url.startswith("sqlite"):
            # A write-ahead log makes each per-submission commit an append instead of a
            # rewrite of the journal; still durable across a killed grader.
            self.gb.db.execute(text("PRAGMA journal_mode=WAL"))
            self.gb.db.execute(text("PRAGMA synchronous=NORMAL"))
        self.assignment, self.notebook = assignment, notebook
        self.late_plugin = late_plugin
        self._sync(release)
        self.duedate = self.gb.find_assignment(assignment).duedate
        self._students = {s.id for s in self.gb.students}

    def _sync(self, release: nbformat.NotebookNode) -> None:
        """Make sure the gradebook knows the assignment, its notebook and its graded cells
        (keeping whatever nbgrader's generate_assignment stored, such as the due date)."""
        gb, assignment, notebook = self.gb, self.assignment, self.notebook
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            gb.add_assignment(assignment)
        try:
            gb.find_notebook(notebook, assignment)
        except MissingEntry:
            gb.add_notebook(notebook, assignment)
        for cell in release.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                gb.update_or_create_grade_cell(
                    meta["grade_id"],
                    notebook,
                    assignment,
                    max_score=float(meta.get("points", 0)),
                    cell_type=cell.cell_type,
                )
            if meta.get("solution"):
                gb.update_or_create_solution_cell(meta["grade_id"], notebook, assignment)

    def write(self, result: SubmissionResult, timestamp: datetime.datetime | None = None) -> None:
        """Store the automatic score of every graded cell of one submission, its timestamp
        and its late penalty, and commit."""
        gb = self.gb
        with warnings.catch_warnings():  # nbgrader's own autoflush warnings, harmless
            warnings.simplefilter("ignore", SAWarning)
            if result.student not in self._students:
                gb.add_student(result.student)
                self._students.add(result.student)
            try:
                submission = gb.find_submission(result.assignment, result.student)
            except MissingEntry:
                submission = gb.add_submission(result.assignment, result.student)
        if timestamp is not None:  # as nbgrader's autograde: keep a time it already has
            submission.timestamp = timestamp
        timestamp = submission.timestamp
        scores = {p.grade_id: p.score for p in result.parts}
        nb = gb.find_submission_notebook(self.notebook, result.assignment, result.student)
        total = 0.0
        for grade in nb.grades:
            grade.auto_score = scores.get(grade.name, 0.0)
            grade.needs_manual_grade = False
            total += grade.manual_score if grade.manual_score is not None else grade.auto_score
        nb.late_submission_penalty = self._penalty(result.student, total, timestamp)
        gb.db.commit()

    def _penalty(self, student: str, score: float, timestamp) -> float | None:
        """nbgrader's configured LateSubmissionPlugin, bounded as nbgrader bounds it."""
        if self.late_plugin is None or timestamp is None or self.duedate is None:
            return None
        late = (timestamp - self.duedate).total_seconds()
        if late <= 0:
            return None
        penalty = self.late_plugin.late_submission_penalty(student, score, late)
        return None if penalty is None else min(max(float(penalty), 0.0), score)

    def marks(self, student: str) -> Marks:
        """The gradebook's scores, manual grading and comments of one submission."""
        nb = self.gb.find_submission_notebook(self.notebook, self.assignment, student)
        scores, manual = {}, set()
        for grade in nb.grades:
            if grade.manual_score is not None:
                manual.add(grade.name)
                scores[grade.name] = float(grade.manual_score)
            else:
                scores[grade.name] = float(grade.auto_score or 0.0)
        comments = {c.name: c.manual_comment for c in nb.comments if c.manual_comment}
        penalty = float(nb.late_submission_penalty or 0.0)
        return Marks(scores, manual, comments, penalty, nb.assignment.timestamp)

    def complete(self) -> set[str]:
        """Students whose every graded cell of this assignment has an automatic score."""
        counts = (
            self.gb.db.query(SubmittedAssignment.student_id, func.count(Grade.id))
            .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .join(Grade, Grade.notebook_id == SubmittedNotebook.id)
            .filter(Assignment.name == self.assignment, Grade.auto_score.isnot(None))
            .group_by(SubmittedAssignment.student_id)
        )
        cells = len(self.gb.find_notebook(self.notebook, self.assignment).grade_cells)
        return {student for student, count in counts if count == cells}

    def close(self) -> None:
        self.gb.close()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
