"""Grades for an LMS, as an nbgrader export plugin: one row per student in the gradebook.

Works from the gradebook alone, so it agrees with the formgrader and the feedback::

    nbgrader export --exporter=autograder.export.LmsExportPlugin --to grades.csv

Columns: student id, names, email, LMS id, assignment, submission time, raw score, late
penalty, score (raw minus penalty, at least 0), max score, status ("missing" for a student
who submitted nothing, else the status of the autograder's record, "graded" without one)
and the score of every graded cell. ``autograder grade`` writes the same file into its
``--out`` folder after every run.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

from nbgrader.api import (
    BaseCell,
    Grade,
    Gradebook,
    Student,
    SubmittedAssignment,
    SubmittedNotebook,
)
from nbgrader.plugins import ExportPlugin
from sqlalchemy import select
from traitlets import Unicode

COLUMNS = [
    "student_id",
    "first_name",
    "last_name",
    "email",
    "lms_user_id",
    "assignment",
    "timestamp",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
    "status",
]


def record_status(results: str, assignment: str, student: str) -> str:
    """The status in ``<results>/<assignment>/<student>.json``, or "graded" without one."""
    path = Path(results) / assignment / f"{student}.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["status"])
    except (OSError, ValueError, KeyError, TypeError):
        return "graded"


class LmsExportPlugin(ExportPlugin):
    """Every gradebook student with names, email, LMS id, late penalty and status."""

    results = Unicode("", help="folder of the autograder's JSON records (for the status)").tag(
        config=True
    )

    def rows(self, gradebook: Gradebook) -> tuple[list[str], list[list]]:
        """(header, rows) for the chosen assignments and students: the students in one
        query, then two per assignment, whatever the size of the class (scores as nbgrader's own
        ``SubmittedAssignment.score``, ``Grade.score`` and late penalty compute them)."""
        db = gradebook.db
        assignments = [
            a for a in gradebook.assignments if not self.assignment or a.name in self.assignment
        ]
        cells = [c.name for a in assignments for nb in a.notebooks for c in nb.grade_cells]
        cells = list(dict.fromkeys(cells))
        people = db.execute(
            select(
                Student.id,
                Student.first_name,
                Student.last_name,
                Student.email,
                Student.lms_user_id,
            ).order_by(Student.id)
        ).all()
        rows = []
        for assignment in assignments:
            submitted = {
                student: (when, float(raw), float(penalty or 0.0))
                for student, when, raw, penalty in db.execute(
                    select(
                        SubmittedAssignment.student_id,
                        SubmittedAssignment.timestamp,
                        SubmittedAssignment.score,
                        SubmittedAssignment.late_submission_penalty,
                    ).where(SubmittedAssignment.assignment_id == assignment.id)
                )
            }
            scores: dict[str, dict[str, float]] = {}
            for student, cell, score in db.execute(
                select(SubmittedAssignment.student_id, BaseCell.name, Grade.score)
                .select_from(Grade)
                .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                .join(
                    SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id
                )
                .join(BaseCell, Grade.cell_id == BaseCell.id)
                .where(SubmittedAssignment.assignment_id == assignment.id)
            ):
                scores.setdefault(student, {})[cell] = float(score)
            for person in people:
                if self.student and person[0] not in self.student:
                    continue
                row = self._row(assignment, list(person), submitted.get(person[0]))
                rows.append(row + [scores.get(person[0], {}).get(c, 0.0) for c in cells])
        db.commit()
        return COLUMNS + cells, rows

    def _row(self, assignment, person: list, submitted) -> list:
        """The columns before the cells' scores for one student of one assignment."""
        person = [*person, assignment.name]
        if submitted is None:
            return [*person, "", 0.0, 0.0, 0.0, assignment.max_score, "missing"]
        when, raw, penalty = submitted
        status = (
            record_status(self.results, assignment.name, person[0]) if self.results else "graded"
        )
        final = round(max(0.0, raw - penalty), 2)
        return [*person, when or "", raw, penalty, final, assignment.max_score, status]

    def export(self, gradebook: Gradebook) -> None:
        dest = Path(self.to or "grades.csv")
        header, rows = self.rows(gradebook)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".tmp")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(["" if v is None else v for v in row] for row in rows)
        os.replace(tmp, dest)
