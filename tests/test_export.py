"""The LMS export reads the gradebook in a few bulk queries; every row must equal what
nbgrader's own ORM says of the same student (scores, manual grades, extra credit, late
penalties over several notebooks, missing students, names and LMS ids)."""

from __future__ import annotations

import csv
import datetime

import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder.export import COLUMNS, LmsExportPlugin
from autograder.gradebook import ensure_alembic_on_path

CELLS = {"nb1": ["p1", "p2"], "nb2": ["p3"]}
MAX = {"p1": 2.0, "p2": 3.0, "p3": 5.0}


def orm_row(gb: Gradebook, assignment: str, student, cells: list[str]) -> list:
    """One student's row from nbgrader's ORM objects, one query at a time."""
    person = [student.id, student.first_name, student.last_name, student.email]
    person += [student.lms_user_id, assignment]
    max_score = gb.find_assignment(assignment).max_score
    try:
        submission = gb.find_submission(assignment, student.id)
    except MissingEntry:
        return [*person, "", 0.0, 0.0, 0.0, max_score, "missing"] + [0.0] * len(cells)
    raw, penalty = submission.score, submission.late_submission_penalty or 0.0
    scores = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
    final = round(max(0.0, raw - penalty), 2)
    row = [*person, submission.timestamp or "", raw, penalty, final, max_score, "graded"]
    return row + [scores.get(c, 0.0) for c in cells]


@pytest.fixture
def gradebook(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    ensure_alembic_on_path()  # nbgrader stamps a new gradebook by running `alembic`
    with Gradebook(url) as gb:
        gb.add_assignment("a1", duedate=datetime.datetime(2026, 3, 1))
        for nb, cells in CELLS.items():
            gb.add_notebook(nb, "a1")
            for cell in cells:
                gb.add_grade_cell(cell, nb, "a1", max_score=MAX[cell], cell_type="code")
        people = [
            ("zoe", "Zoë", "Ångström", "z@example.org", "lms-9"),
            ("adam", None, None, None, None),
            ("kim", "Kim", "Lee", None, "lms-2"),
            ("absent", "Ab", "Sent", None, None),
        ]
        for sid, first, last, email, lms in people:
            gb.add_student(sid, first_name=first, last_name=last, email=email, lms_user_id=lms)
        when = {"zoe": datetime.datetime(2026, 3, 2, 9), "adam": None, "kim": None}
        for sid, ts in when.items():
            gb.add_submission("a1", sid, timestamp=ts)
        for sid, auto in (
            ("zoe", [2.0, 1.5, 5.0]),
            ("adam", [0.0, 3.0, 2.5]),
            ("kim", [1.0, 0, 0]),
        ):
            names = [c for cells in CELLS.values() for c in cells]
            for cell, score in zip(names, auto, strict=True):
                nb = next(n for n, cells in CELLS.items() if cell in cells)
                grade = gb.find_grade(cell, nb, "a1", sid)
                grade.auto_score = score
        manual = gb.find_grade("p2", "nb1", "a1", "adam")
        manual.manual_score, manual.extra_credit = 1.0, 0.5
        gb.find_grade("p3", "nb2", "a1", "kim").extra_credit = 2.0
        for nb, penalty in (("nb1", 1.25), ("nb2", 0.5)):
            gb.find_submission_notebook(nb, "a1", "zoe").late_submission_penalty = penalty
        gb.db.commit()
    return url


def test_the_bulk_rows_are_the_rows_nbgraders_orm_gives(gradebook):
    cells = [c for names in CELLS.values() for c in names]
    with Gradebook(gradebook) as gb:
        header, rows = LmsExportPlugin(assignment=["a1"]).rows(gb)
        expected = [orm_row(gb, "a1", s, cells) for s in sorted(gb.students, key=lambda s: s.id)]
    assert header == COLUMNS + cells
    assert rows == expected
    by_id = {row[0]: row for row in rows}
    assert by_id["zoe"][7:10] == [8.5, 1.75, 6.75]  # raw, two notebooks' penalties, final
    assert by_id["adam"][7] == 0.0 + 1.5 + 2.5  # the manual score and its extra credit win
    assert by_id["absent"][11] == "missing"


def test_a_chosen_student_gets_only_their_row_and_the_file_is_written(gradebook, tmp_path):
    with Gradebook(gradebook) as gb:
        _, rows = LmsExportPlugin(assignment=["a1"], student=["kim"]).rows(gb)
        assert [row[0] for row in rows] == ["kim"]
        assert rows[0][9] == 3.0  # 1 + 0 + 0 + 2 extra credit
        target = tmp_path / "out" / "grades.csv"
        LmsExportPlugin(to=str(target), assignment=["a1"]).export(gb)
    with target.open(encoding="utf-8") as handle:
        table = list(csv.reader(handle))
    assert table[0] == [*COLUMNS, "p1", "p2", "p3"]
    assert [r[0] for r in table[1:]] == ["absent", "adam", "kim", "zoe"]
    assert table[4][1:3] == ["Zoë", "Ångström"]
