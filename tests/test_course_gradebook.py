"""Grading into a course's gradebook: a record is reused only while the submitted file,
the hidden checks and the seed are unchanged; ``--student`` regrades one student; what a
killed run left incomplete is completed; manual grading is never overwritten and reaches
the feedback."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import write_submission
from nbgrader.api import Gradebook

from autograder.cli import NEEDS_ATTENTION, main
from autograder.grade import default_workers, student_seed
from autograder.records import read_record

STUDENTS = ("ada_correct", "ben_mse_sign_flipped", "eve_corrupt_file")


def test_the_seed_depends_on_the_submitted_content_and_takes_any_name():
    base = student_seed(2026, "assignment1", "ada", "aa")
    assert base == student_seed(2026, "assignment1", "ada", "aa")
    assert base != student_seed(2026, "assignment1", "ada", "ab")
    assert base != student_seed(2026, "assignment1", "bo", "aa")
    odd = student_seed(2026, "assignment1", "lone\udc80surrogate", "aa")
    assert 0 <= odd < 2**63 and odd != base


def test_the_default_workers_grow_with_the_class_and_stop_at_the_cores():
    assert default_workers(4, cores=8) == 1
    assert default_workers(0, cores=8) == 1
    assert default_workers(30, cores=8) == 5
    assert default_workers(1000, cores=8) == 8


@pytest.fixture
def course(root, tmp_path):
    """A course folder with three collected submissions, graded once."""
    submitted = tmp_path / "course" / "submitted"
    for student in STUDENTS:
        shutil.copytree(root / "sample_class" / "submitted" / student, submitted / student)
    args = ["--root", str(root), "grade", "assignment1", "--course", str(tmp_path / "course")]
    assert main(args) == 0
    return tmp_path / "course", args


def records_dir(course):
    return course / "reports" / "results" / "assignment1"


def mark_reused(course, student):
    """Stamp a record so that a later run shows whether it was reused (-1) or regraded."""
    path = records_dir(course) / f"{student}.json"
    data = json.loads(path.read_text())
    data["seconds"] = -1.0
    path.write_text(json.dumps(data))
    return data


def seconds(course, student):
    return read_record(course / "reports", "assignment1", student).seconds


def test_a_changed_submission_is_regraded_and_an_unchanged_one_is_not(course):
    folder, args = course
    for student in STUDENTS:
        mark_reused(folder, student)
    old_seed = read_record(folder / "reports", "assignment1", "ben_mse_sign_flipped").seed
    write_submission(folder / "submitted", "ben_mse_sign_flipped", "assignment1", {})  # fixed
    assert main(args) == 0
    regraded = read_record(folder / "reports", "assignment1", "ben_mse_sign_flipped")
    assert regraded.seconds > 0 and regraded.score == 11
    assert regraded.seed != old_seed  # a resubmission meets new hidden inputs
    assert seconds(folder, "ada_correct") == -1.0
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        assert gb.find_submission("assignment1", "ben_mse_sign_flipped").score == 11


def test_new_hidden_checks_regrade_and_student_regrades_only_that_student(course):
    folder, args = course
    for student in STUDENTS:
        data = mark_reused(folder, student)
    data["checks_version"] = "older"  # eve's record was made by other hidden checks
    (records_dir(folder) / "eve_corrupt_file.json").write_text(json.dumps(data))
    assert main([*args, "--student", "ada_correct"]) == 0
    assert seconds(folder, "ada_correct") > 0
    assert seconds(folder, "ben_mse_sign_flipped") == seconds(folder, "eve_corrupt_file") == -1
    assert main(args) == 0
    assert seconds(folder, "eve_corrupt_file") >= 0
    assert seconds(folder, "ben_mse_sign_flipped") == -1.0


def test_a_rerun_completes_what_a_killed_run_left_out_without_regrading(course):
    folder, args = course
    for student in STUDENTS:
        mark_reused(folder, student)
    ada = ("ada_correct", "assignment1", "assignment1")
    (folder / "feedback" / ada[0] / ada[1] / "assignment1.html").unlink()
    (folder / "autograded" / "ben_mse_sign_flipped" / ada[1] / "assignment1.ipynb").unlink()
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        gb.remove_submission("assignment1", "eve_corrupt_file")
    (folder / "reports" / "grades-assignment1.csv").unlink()
    assert main(args) == 0
    for student in STUDENTS:
        assert seconds(folder, student) == -1.0  # completed from the record, not regraded
    assert (folder / "feedback" / ada[0] / ada[1] / "assignment1.html").exists()
    assert (folder / "autograded" / "ben_mse_sign_flipped" / ada[1] / "assignment1.ipynb").exists()
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        assert gb.find_submission("assignment1", "eve_corrupt_file").score == 0
        assert gb.find_submission("assignment1", "ada_correct").score == 11
    rows = (folder / "reports" / "grades-assignment1.csv").read_text().splitlines()
    assert len(rows) == 1 + len(STUDENTS)


def test_gradebook_rows_without_a_record_are_regraded(course):
    folder, args = course
    mark_reused(folder, "ada_correct")
    (records_dir(folder) / "ben_mse_sign_flipped.json").unlink()  # killed before the record
    assert main(args) == 0
    assert seconds(folder, "ben_mse_sign_flipped") > 0
    assert seconds(folder, "ada_correct") == -1.0


def test_manual_scores_and_comments_survive_regrading_and_reach_the_feedback(course):
    folder, args = course
    student = "ben_mse_sign_flipped"
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        gb.find_grade("test_mse", "assignment1", "assignment1", student).manual_score = 1.5
        comment = gb.find_comment("mse", "assignment1", "assignment1", student)
        comment.manual_comment = "Check the sign of the gradient."
        gb.db.commit()
    assert main([*args, "--student", student]) == 0
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        grade = gb.find_grade("test_mse", "assignment1", "assignment1", student)
        assert grade.manual_score == 1.5 and 0 < grade.auto_score < 2
        assert gb.find_submission("assignment1", student).score == 10.5
    html = (folder / "feedback" / student / "assignment1" / "assignment1.html").read_text()
    assert "Score: 10.5 / 11" in html and "(set by your instructor)" in html
    assert "Check the sign of the gradient." in html
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        gb.find_grade("test_mse", "assignment1", "assignment1", student).manual_score = 2.0
        gb.db.commit()
    feedback = ["--root", args[1], "feedback", "assignment1", "--course", str(folder)]
    assert main(feedback) == 0
    html = (folder / "feedback" / student / "assignment1" / "assignment1.html").read_text()
    assert "Score: 11 / 11" in html
    csv_text = (folder / "reports" / "grades-assignment1.csv").read_text()
    assert f"{student},,,,,assignment1," in csv_text and ",11.0,0.0,11.0,11.0,graded," in csv_text


def test_a_result_the_gradebook_cannot_store_leaves_nothing_and_sets_the_exit_code(
    root, tmp_path, monkeypatch
):
    """When the gradebook refuses a student's rows (here: a full disk, simulated), that
    student gets a "grader-error" with none of its files, the others are graded, and the
    exit code says that someone needs attention."""
    import sqlite3

    from autograder.gradebook import GradebookWriter

    real = GradebookWriter._write

    def disk_full_for_bob(self, batch):  # the batch, then bob alone, are refused
        if any(result.student == "bob" for result, _ in batch):
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, batch)

    monkeypatch.setattr(GradebookWriter, "_write", disk_full_for_bob)
    submitted = tmp_path / "submitted"
    for name in ("ada", "bob"):
        shutil.copytree(root / "sample_class" / "submitted" / "ada_correct", submitted / name)
    course = tmp_path / "course"
    args = ["--root", str(root), "grade", "assignment1", "--submissions", str(submitted)]
    assert main([*args, "--course", str(course)]) == NEEDS_ATTENTION
    assert read_record(course / "reports", "assignment1", "ada").score == 11
    assert read_record(course / "reports", "assignment1", "bob") is None
    for step in ("autograded", "feedback"):
        assert sorted(os.listdir(course / step)) == ["ada"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert [s.id for s in gb.students] == ["ada"]


def test_files_in_a_submitted_folder_that_are_not_small_regular_files_are_ignored(tmp_path):
    from autograder.course import read_timestamp
    from autograder.grade import submission_digest

    (tmp_path / "real.ipynb").write_bytes(b"{}")
    (tmp_path / "folder.ipynb").mkdir()
    os.symlink(tmp_path / "real.ipynb", tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    assert len(submission_digest(tmp_path / "real.ipynb")) == 64
    for name in ("folder", "link", "fifo", "missing"):
        assert submission_digest(tmp_path / f"{name}.ipynb") == ""
    for content in ("2026-03-01 17:00:00.5 UTC", "not a time", "9" * 300):
        (tmp_path / "timestamp.txt").write_text(content)
        parsed = read_timestamp(tmp_path)
        assert (parsed is not None) == (content[0] == "2"), content
    (tmp_path / "timestamp.txt").unlink()
    os.mkfifo(tmp_path / "timestamp.txt")  # would block a plain open() forever
    assert read_timestamp(tmp_path) is None


def test_a_gradebook_that_lags_its_records_is_completed_without_regrading(course):
    """Rows are written in batches after the records: a kill between the two leaves a
    gradebook with stale or missing scores, which the next run restores from the record."""
    folder, args = course
    for student in STUDENTS:
        mark_reused(folder, student)
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        ada = gb.find_submission_notebook("assignment1", "assignment1", "ada_correct")
        for grade in ada.grades:
            grade.auto_score = 0.0  # an older submission's scores
        grade = gb.find_grade("test_mse", "assignment1", "assignment1", "ben_mse_sign_flipped")
        grade.auto_score = None  # a row created but never scored
        gb.db.commit()
    assert main(args) == 0
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            record = read_record(folder / "reports", "assignment1", student)
            assert seconds(folder, student) == -1.0  # from the record, not regraded
            assert gb.find_submission("assignment1", student).score == pytest.approx(record.score)


def test_a_later_timestamp_for_the_same_file_updates_the_gradebook_not_the_grade(course):
    """``collect --update`` of an unchanged notebook brings a later submission time: the
    verdict stays, the gradebook's time (which lateness is computed from) and the
    feedback's copy of timestamp.txt follow it."""
    folder, args = course
    mark_reused(folder, "ada_correct")
    stamp = folder / "submitted" / "ada_correct" / "assignment1" / "timestamp.txt"
    stamp.write_text("2031-05-04 12:30:00.000000 UTC")
    assert main(args) == 0
    assert seconds(folder, "ada_correct") == -1.0
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        when = gb.find_submission("assignment1", "ada_correct").timestamp
    assert (when.year, when.month, when.hour, when.minute) == (2031, 5, 12, 30)
    copied = folder / "feedback" / "ada_correct" / "assignment1" / "timestamp.txt"
    assert copied.read_text().startswith("2031-05-04")


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own autoflush
def test_rows_written_in_batches_are_the_rows_nbgraders_add_submission_creates(course):
    """Every table nbgrader's ``add_submission`` fills gets the same rows for a graded
    student (cells, defaults), and nbgrader's own score properties read them."""
    folder, _ = course
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        gb.add_student("nbgrader_made")
        gb.add_submission("assignment1", "nbgrader_made")

        def shape(student):
            nb = gb.find_submission_notebook("assignment1", "assignment1", student)
            grades = sorted((g.cell_id, g.manual_score, g.extra_credit) for g in nb.grades)
            comments = sorted((c.cell_id, c.manual_comment, c.auto_comment) for c in nb.comments)
            submission = gb.find_submission("assignment1", student)
            return grades, comments, len(submission.notebooks), nb.flagged, submission.extension

        for student in STUDENTS:
            assert shape(student) == shape("nbgrader_made")
            notebook = gb.find_submission_notebook("assignment1", "assignment1", student)
            assert not notebook.needs_manual_grade
            record = read_record(folder / "reports", "assignment1", student)
            assert notebook.score == pytest.approx(record.score)
            assert notebook.max_score == 11
