"""Where results land: a JSON record per submission and nbgrader's own gradebook.

Each submission's record is written atomically as soon as it is judged, so a grader
that is killed loses at most the submission it was working on.
"""

from __future__ import annotations

import csv
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
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import text
from sqlalchemy.exc import SAWarning

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


def write_record(out: Path, result: SubmissionResult) -> Path:
    """Atomically write the JSON record of one submission."""
    path = record_path(out, result.assignment, result.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(result.to_dict(), handle, indent=1)
    os.replace(tmp, path)
    return path


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


def write_grades_csv(out: Path, assignment: str, results: list[SubmissionResult]) -> Path:
    """One row per student (student, score, max_score, status, part scores) for an LMS."""
    path = grades_csv_path(out, assignment)
    part_ids = [p.grade_id for p in results[0].parts] if results else []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "score", "max_score", "status", *part_ids])
        for r in results:
            scores = {p.grade_id: p.score for p in r.parts}
            total = sum(p.points for p in r.parts)
            writer.writerow(
                [r.student, r.score, total, r.status, *(scores.get(i) for i in part_ids)]
            )
    return path


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


class GradebookWriter:
    """nbgrader's gradebook for one assignment, opened once per grading run.

    nbgrader starts a subprocess (``alembic heads``) each time a Gradebook is opened, so
    the grader keeps one open and commits after every submission.
    """

    def __init__(self, db_url: str, assignment: str, notebook: str, release: nbformat.NotebookNode):
        ensure_alembic_on_path()
        nbgrader_api.get_alembic_version = alembic_head
        self.gb = Gradebook(db_url)
        if db_url.startswith("sqlite"):
            # A write-ahead log makes each per-submission commit an append instead of a
            # rewrite of the journal; still durable across a killed grader.
            self.gb.db.execute(text("PRAGMA journal_mode=WAL"))
            self.gb.db.execute(text("PRAGMA synchronous=NORMAL"))
        self.assignment, self.notebook = assignment, notebook
        self._sync(release)

    def _sync(self, release: nbformat.NotebookNode) -> None:
        """Make sure the gradebook knows the assignment, its notebook and its graded cells."""
        gb, assignment, notebook = self.gb, self.assignment, self.notebook
        gb.update_or_create_assignment(assignment)
        gb.update_or_create_notebook(notebook, assignment)
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

    def write(self, result: SubmissionResult) -> None:
        """Store the automatic score of every graded cell of one submission, and commit."""
        gb = self.gb
        gb.update_or_create_student(result.student)
        try:
            gb.find_submission(result.assignment, result.student)
        except MissingEntry:
            with warnings.catch_warnings():  # nbgrader's own autoflush warnings, harmless
                warnings.simplefilter("ignore", SAWarning)
                gb.add_submission(result.assignment, result.student)
        scores = {p.grade_id: p.score for p in result.parts}
        nb = gb.find_submission_notebook(self.notebook, result.assignment, result.student)
        for grade in nb.grades:
            grade.auto_score = scores.get(grade.name, 0.0)
            grade.needs_manual_grade = False
        gb.db.commit()

    def close(self) -> None:
        self.gb.close()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
