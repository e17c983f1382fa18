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

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
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
        """(header, rows) for the chosen assignments and students."""
        assignments = [
            a for a in gradebook.assignments if not self.assignment or a.name in self.assignment
        ]
        cells = [c.name for a in assignments for nb in a.notebooks for c in nb.grade_cells]
        cells = list(dict.fromkeys(cells))
        header = COLUMNS + cells
        rows = []
        for assignment in assignments:
            for student in sorted(gradebook.students, key=lambda s: s.id):
                if self.student and student.id not in self.student:
                    continue
                rows.append(self._row(gradebook, assignment, student, cells))
        return header, rows

    def _row(self, gradebook: Gradebook, assignment, student, cells: list[str]) -> list:
        person = [student.id, student.first_name, student.last_name, student.email]
        person = [*person, student.lms_user_id, assignment.name]
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:
            return [*person, "", 0.0, 0.0, 0.0, assignment.max_score, "missing"] + [0.0] * len(
                cells
            )
        raw, penalty = submission.score, submission.late_submission_penalty or 0.0
        status = (
            record_status(self.results, assignment.name, student.id) if self.results else "graded"
        )
        scores = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
        return [
            *person,
            submission.timestamp or "",
            raw,
            penalty,
            round(max(0.0, raw - penalty), 2),
            assignment.max_score,
            status,
            *(scores.get(c, 0.0) for c in cells),
        ]

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
