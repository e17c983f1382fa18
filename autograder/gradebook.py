"""The course's nbgrader gradebook, written in batches.

nbgrader's own API commits once per call and, with SQLAlchemy's ``expire_on_commit``,
reloads the assignment, its notebooks and cells after every commit: about 40 ms per
submission in the grader's main process. This writer reads the gradebook once at the
start (a ``Prior`` per submission), then writes the rows of many submissions at once:
the same rows nbgrader's ``add_submission`` creates (a submitted assignment, a submitted
notebook per notebook, a grade per graded or task cell, a comment per solution or task
cell), with SQL statements executed for the whole batch in one transaction. Only
automatic scores, timestamps and late penalties are written; manual scores and comments
stay as the instructor left them.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader import api as nbgrader_api
from nbgrader.api import (
    Comment,
    Grade,
    Gradebook,
    MissingEntry,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
)
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import SAWarning

from .marks import LatePolicy, Marks, Prior
from .records import SubmissionResult


def ensure_alembic_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` command found on PATH: make it the one
    installed beside this interpreter, even when the virtual environment is not activated."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


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


def _uuid() -> str:
    return uuid.uuid4().hex  # nbgrader's own ids (api.new_uuid)


@dataclass(frozen=True)
class _Layout:
    """Ids of the assignment's notebooks and cells, as nbgrader's add_submission mirrors
    them into every submission."""

    assignment_id: str
    notebook_id: str  # the graded notebook's
    cells: dict[str, str]  # graded cell name -> cell id, in the release's order
    grades: dict[str, tuple[str, ...]]  # notebook id -> cells that get a Grade row
    comments: dict[str, tuple[str, ...]]  # notebook id -> cells that get a Comment row


class GradebookWriter:
    """The course's nbgrader gradebook for one assignment, opened once per grading run."""

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
            # A write-ahead log makes each batch's commit an append instead of a rewrite
            # of the journal; still durable across a killed grader.
            self.gb.db.execute(text("PRAGMA journal_mode=WAL"))
            self.gb.db.execute(text("PRAGMA synchronous=NORMAL"))
        self.assignment, self.notebook = assignment, notebook
        self._sync(release)
        found = self.gb.find_assignment(assignment)
        self.late = LatePolicy.of(late_plugin, found.duedate)
        self.layout = self._layout(found)
        self.gb.db.commit()
        self._students = set(self.gb.db.scalars(select(Student.id)))
        self._submitted: dict[str, tuple[str, str]] = {}  # student -> (assignment, notebook) ids
        self.priors = self.snapshot()
        self._queue: list[tuple[SubmissionResult, Marks]] = []

    @property
    def cells(self) -> list[str]:
        """The graded notebook's graded cells, in the release's order."""
        return list(self.layout.cells)

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

    def _layout(self, found) -> _Layout:
        grades, comments, cells, ours = {}, {}, {}, ""
        for nb in found.notebooks:
            graded = [c.id for c in (*nb.grade_cells, *nb.task_cells)]
            commented = [c.id for c in (*nb.solution_cells, *nb.task_cells)]
            grades[nb.id], comments[nb.id] = tuple(graded), tuple(commented)
            if nb.name == self.notebook:
                ours = nb.id
                cells = {c.name: c.id for c in nb.grade_cells}
        return _Layout(found.id, ours, cells, grades, comments)

    def snapshot(self) -> dict[str, Prior]:
        """Every submission of the assignment as the gradebook holds it now, by student."""
        layout, db = self.layout, self.gb.db
        names = {cell_id: name for name, cell_id in layout.cells.items()}
        rows = db.execute(
            select(
                SubmittedAssignment.student_id,
                SubmittedAssignment.id,
                SubmittedAssignment.timestamp,
                SubmittedAssignment.extension,
                SubmittedNotebook.id,
                SubmittedNotebook.late_submission_penalty,
            )
            .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .where(SubmittedAssignment.assignment_id == layout.assignment_id)
            .where(SubmittedNotebook.notebook_id == layout.notebook_id)
        )
        priors, by_notebook = {}, {}
        for student, sa_id, when, extension, sn_id, penalty in rows:
            priors[student] = Prior(
                timestamp=when, extension=extension, penalty=float(penalty or 0.0)
            )
            self._submitted[student] = (sa_id, sn_id)
            by_notebook[sn_id] = priors[student]
        scores = select(Grade.notebook_id, Grade.cell_id, Grade.auto_score, Grade.manual_score)
        for sn_id, cell_id, auto, manual in db.execute(self._ours(scores, Grade)):
            prior, name = by_notebook.get(sn_id), names.get(cell_id)
            if prior is None or name is None:
                continue
            prior.auto[name] = None if auto is None else float(auto)
            if manual is not None:
                prior.manual[name] = float(manual)
        said = select(Comment.notebook_id, Comment.cell_id, Comment.manual_comment)
        cell_names = self._cell_names()
        for sn_id, cell_id, comment in db.execute(self._ours(said, Comment)):
            prior = by_notebook.get(sn_id)
            if prior is not None and comment and cell_id in cell_names:
                prior.comments[cell_names[cell_id]] = comment
        db.commit()
        return priors

    def _ours(self, statement, table):
        """``statement`` over ``table``'s rows in this assignment's graded notebook."""
        return (
            statement.join(SubmittedNotebook, table.notebook_id == SubmittedNotebook.id)
            .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
            .where(SubmittedAssignment.assignment_id == self.layout.assignment_id)
            .where(SubmittedNotebook.notebook_id == self.layout.notebook_id)
        )

    def _cell_names(self) -> dict[str, str]:
        nb = self.gb.find_notebook(self.notebook, self.assignment)
        return {c.id: c.name for c in (*nb.grade_cells, *nb.solution_cells, *nb.task_cells)}

    def prior(self, student: str) -> Prior:
        return self.priors.get(student) or Prior()

    def queue(self, result: SubmissionResult, marks: Marks) -> None:
        """Add one submission's rows to the next batch."""
        self._queue.append((result, marks))

    @property
    def pending(self) -> int:
        return len(self._queue)

    def flush(self) -> list[tuple[SubmissionResult, Exception]]:
        """Write the queued submissions, all in one transaction. When the batch is refused,
        each submission is tried on its own; those refused again are returned (nothing of
        theirs is left in the gradebook) and the rest are written."""
        batch, self._queue = self._queue, []
        if not batch:
            return []
        try:
            self._write(batch)
            return []
        except Exception:
            self.gb.db.rollback()
            self._forget(batch)
        failed = []
        for item in batch:
            try:
                self._write([item])
            except Exception as error:
                self.gb.db.rollback()
                self._forget([item])
                failed.append((item[0], error))
        return failed

    def _forget(self, batch) -> None:
        """Drop ids remembered for rows a rolled-back transaction did not keep."""
        for result, _ in batch:
            self._students.discard(result.student)
            self._submitted.pop(result.student, None)
        self._students |= set(self.gb.db.scalars(select(Student.id)))
        self.gb.db.commit()
        self.priors = self.snapshot()

    def _write(self, batch: list[tuple[SubmissionResult, Marks]]) -> None:
        db, layout = self.gb.db, self.layout
        students, assignments, notebooks, grades, comments = [], [], [], [], []
        for result, _ in batch:
            student = result.student
            if student not in self._students:
                students.append({"id": student})
                self._students.add(student)
            if student in self._submitted:
                continue
            sa_id = _uuid()
            assignments.append(
                {"id": sa_id, "assignment_id": layout.assignment_id, "student_id": student}
            )
            for nb_id, cells in layout.grades.items():
                sn_id = _uuid()
                notebooks.append({"id": sn_id, "assignment_id": sa_id, "notebook_id": nb_id})
                grades += [{"id": _uuid(), "notebook_id": sn_id, "cell_id": c} for c in cells]
                comments += [
                    {"id": _uuid(), "notebook_id": sn_id, "cell_id": c}
                    for c in layout.comments[nb_id]
                ]
                if nb_id == layout.notebook_id:
                    self._submitted[student] = (sa_id, sn_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            for table, rows in (
                (Student, students),
                (SubmittedAssignment, assignments),
                (SubmittedNotebook, notebooks),
                (Grade, grades),
                (Comment, comments),
            ):
                if rows:
                    db.execute(insert(table.__table__), rows)
            self._update(batch)
        db.commit()
        for result, marks in batch:
            self.priors[result.student] = self._stored(result, marks)

    def _update(self, batch: list[tuple[SubmissionResult, Marks]]) -> None:
        """Automatic scores, timestamps and penalties of the batch, one statement each."""
        db, layout = self.gb.db, self.layout
        scores, times, penalties = [], [], []
        for result, marks in batch:
            sa_id, sn_id = self._submitted[result.student]
            auto = {p.grade_id: p.score for p in result.parts}
            for name, cell_id in layout.cells.items():
                scores.append({"nb": sn_id, "cell": cell_id, "score": auto.get(name, 0.0)})
            if marks.timestamp is not None:
                times.append({"sa": sa_id, "when": marks.timestamp})
            penalty = marks.penalty or None  # nbgrader stores no penalty as NULL
            penalties.append({"nb": sn_id, "penalty": penalty})
        grade, sa, sn = Grade.__table__, SubmittedAssignment.__table__, SubmittedNotebook.__table__
        statements = (
            (
                update(grade)
                .where(grade.c.notebook_id == bindparam("nb"), grade.c.cell_id == bindparam("cell"))
                .values(auto_score=bindparam("score"), needs_manual_grade=False),
                scores,
            ),
            (
                update(sa).where(sa.c.id == bindparam("sa")).values(timestamp=bindparam("when")),
                times,
            ),
            (
                update(sn)
                .where(sn.c.id == bindparam("nb"))
                .values(late_submission_penalty=bindparam("penalty")),
                penalties,
            ),
        )
        connection = db.connection()
        for statement, rows in statements:
            if rows:
                connection.execute(statement, rows)

    def _stored(self, result: SubmissionResult, marks: Marks) -> Prior:
        old = self.prior(result.student)
        auto = {p.grade_id: p.score for p in result.parts}
        return Prior(
            auto={name: auto.get(name, 0.0) for name in self.layout.cells},
            manual=old.manual,
            comments=old.comments,
            timestamp=marks.timestamp,
            extension=old.extension,
            penalty=marks.penalty,
        )

    def close(self) -> None:
        self.gb.close()

    def __enter__(self) -> GradebookWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stored_marks(prior: Prior, cells: list[str]) -> Marks:
    """The marks the gradebook holds (after manual grading in the formgrader)."""
    scores = {c: prior.manual.get(c, prior.auto.get(c) or 0.0) for c in cells}
    return Marks(scores, set(prior.manual), dict(prior.comments), prior.penalty, prior.timestamp)
