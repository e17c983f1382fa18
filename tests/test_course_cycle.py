"""A whole course cycle on nbgrader's real exchange, on a temporary course: release,
fetch and submit as five students (one correct, one with a bug, one late, one who
resubmits a fixed notebook, one who never submits), collect (with ``--update``),
``autograder grade``, then the course gradebook, ``nbgrader export`` and the feedback
that ``release_feedback`` and ``fetch_feedback`` deliver."""

from __future__ import annotations

import csv
import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from nbgrader.exchange import ExchangeFactory
from nbgrader.plugins import CsvExportPlugin
from traitlets.config import Config

from autograder.cli import main
from autograder.course import course_config

BIN = Path(sys.executable).parent
CORRECT = "ada_correct"
BUGGY = "ben_mse_sign_flipped"
STUDENTS = {  # student -> (first name, notebooks submitted in order)
    "ada": ("Ada", [CORRECT]),
    "ben": ("Ben", [BUGGY]),
    "cy": ("Cy", [CORRECT]),  # late
    "dee": ("Dee", [BUGGY, CORRECT]),  # resubmits a fixed notebook
    "eve": ("Eve", []),  # never submits
}
pytestmark = pytest.mark.slow


class Course:
    """A temporary course with an exchange and a config and home folder per student.

    nbgrader's exchange runs in this process through its own classes (what the
    ``nbgrader`` commands call), each actor with its own configuration: that keeps the
    test's time down to the grading itself, about 2 s per ``nbgrader`` command saved.
    """

    def __init__(self, root: Path, work: Path):
        self.repo, self.root, self.work = root, work / "course", work
        self.exchange = work / "exchange"
        self.exchange.mkdir(mode=0o777)
        os.chmod(self.exchange, 0o777)
        source = self.root / "solutions" / "assignment1"
        source.mkdir(parents=True)
        shutil.copy(root / "solutions" / "assignment1" / "assignment1.py", source)
        config = (root / "nbgrader_config.py").read_text(encoding="utf-8")
        config = config.replace('penalty_method = "none"', 'penalty_method = "zero"')
        config = config.replace(
            "book_url = _published_book()", 'book_url = "https://example.org/backprop"'
        )
        config += f"c.Exchange.root = {str(self.exchange)!r}\n"
        (self.root / "nbgrader_config.py").write_text(config, encoding="utf-8")

    def api(self) -> NbGraderAPI:
        return NbGraderAPI(config=course_config(self.root))

    def instructor(self, action: str, *args, **kwargs) -> None:
        result = getattr(self.api(), action)(*args, **kwargs)
        assert result["success"], f"{action}: {result.get('error')}\n{result.get('log')}"

    def grade(self) -> int:
        return main(["--root", str(self.root), "grade", "assignment1"])

    def student(self, name: str, step: str) -> None:
        """One of nbgrader's student-side exchange steps, as ``name`` in their own home."""
        home = self.work / "homes" / name
        home.mkdir(parents=True, exist_ok=True)
        config = Config()
        config.CourseDirectory.course_id = "backprop"
        config.CourseDirectory.root = str(home)
        config.Exchange.root = str(self.exchange)
        config.Exchange.cache = str(home / "cache")
        config.Exchange.assignment_dir = str(home)
        coursedir = CourseDirectory(config=config, assignment_id="assignment1", student_id=name)
        exchange = ExchangeFactory(config=config)
        app = getattr(exchange, step)(
            coursedir=coursedir, authenticator=Authenticator(config=config), config=config
        )
        app.start()

    def submit(self, name: str, variant: str) -> None:
        home = self.work / "homes" / name
        if not (home / "assignment1").exists():
            self.student(name, "FetchAssignment")
        notebook = self.repo / "sample_class" / "submitted" / variant / "assignment1"
        shutil.copy(notebook / "assignment1.ipynb", home / "assignment1" / "assignment1.ipynb")
        self.student(name, "Submit")

    def gradebook(self) -> Gradebook:
        return Gradebook(f"sqlite:///{self.root / 'gradebook.db'}")


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@pytest.fixture(scope="module")
def cycle(root, tmp_path_factory):
    course = Course(root, tmp_path_factory.mktemp("cycle"))
    assert main(["--root", str(course.root), "release", "assignment1"]) == 0
    course.instructor("release_assignment", "assignment1")
    with course.gradebook() as gb:  # what `nbgrader db student add` does
        for name, (first, _) in STUDENTS.items():
            gb.update_or_create_student(
                name, first_name=first, last_name="Lovelace", email=f"{name}@example.org",
                lms_user_id=f"lms-{name}",
            )  # fmt: skip
    for name in ("ada", "ben", "dee"):
        course.submit(name, STUDENTS[name][1][0])
    with course.gradebook() as gb:  # `nbgrader db assignment add assignment1 --duedate=...`
        gb.update_or_create_assignment("assignment1", duedate=utc_now())
    course.submit("cy", CORRECT)
    course.instructor("collect", "assignment1", update=False)
    assert course.grade() == 0
    with course.gradebook() as gb:
        before = {n: gb.find_submission("assignment1", n).score for n in ("ada", "dee")}
    stamp = course.root / "autograded" / "ada" / "assignment1" / "assignment1.ipynb"
    ada_written = stamp.stat().st_mtime_ns
    course.submit("dee", STUDENTS["dee"][1][1])
    course.instructor("collect", "assignment1", update=True)
    assert course.grade() == 0
    return course, before, ada_written == stamp.stat().st_mtime_ns


def test_the_course_gradebook_holds_the_scores_timestamps_and_penalty(cycle):
    course, *_ = cycle
    with course.gradebook() as gb:
        rows = {n: gb.find_submission("assignment1", n) for n in ("ada", "ben", "cy", "dee")}
        assert rows["ada"].score == 11 and rows["dee"].score == 11
        assert 0 < rows["ben"].score < 11
        assert all(r.timestamp is not None for r in rows.values())
        assert rows["cy"].total_seconds_late > 0 and rows["ada"].total_seconds_late == 0
        assert rows["cy"].late_submission_penalty == 11  # "zero": the whole score
        assert rows["ada"].late_submission_penalty == 0
        assert not any(r.needs_manual_grade for r in rows.values())
        assert gb.find_student("eve").submissions == []


def test_a_resubmission_is_regraded_and_only_it(cycle):
    course, before, ada_untouched = cycle
    assert before["dee"] < 11 and before["ada"] == 11  # the buggy first submission
    with course.gradebook() as gb:
        assert gb.find_submission("assignment1", "dee").score == 11
    assert ada_untouched  # the unchanged submission was not regraded


def test_the_autograded_notebooks_carry_the_verdicts(cycle):
    import nbformat

    course, *_ = cycle
    path = course.root / "autograded" / "ben" / "assignment1" / "assignment1.ipynb"
    nb = nbformat.read(path, as_version=4)
    outputs = {
        c.metadata["nbgrader"]["grade_id"]: "".join(o.get("text", "") for o in c.outputs)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert outputs["test_mse"].startswith("Autograder: 0.67 / 2 (not passed)")
    assert "https://example.org/backprop/" in outputs["test_mse"]
    assert outputs["test_relu"].startswith("Autograder: 2 / 2 (passed)")
    assert (path.parent / "timestamp.txt").exists()


def test_nbgrader_export_and_the_lms_export_agree(cycle):
    course, *_ = cycle
    nbgrader = [str(BIN / "nbgrader"), "export"]
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(course.work)}
    with course.gradebook() as gb:  # nbgrader's default exporter, as `nbgrader export` runs it
        CsvExportPlugin(to=str(course.root / "nbgrader.csv")).export(gb)
    subprocess.run(  # the plugin through nbgrader's own command line
        [*nbgrader, "--exporter=autograder.export.LmsExportPlugin", "--to", "lms.csv"],
        cwd=course.root, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    with open(course.root / "nbgrader.csv", newline="") as handle:
        plain = {r["student_id"]: r for r in csv.DictReader(handle)}
    with open(course.root / "lms.csv", newline="") as handle:
        lms = {r["student_id"]: r for r in csv.DictReader(handle)}
    with open(course.root / "reports" / "grades-assignment1.csv", newline="") as handle:
        ours = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert set(plain) == set(lms) == set(ours) == set(STUDENTS)
    for name in STUDENTS:
        assert float(plain[name]["score"]) == pytest.approx(float(lms[name]["score"]))
        assert lms[name] == {**ours[name], "status": lms[name]["status"]}
    assert lms["eve"]["status"] == "missing" and float(lms["eve"]["score"]) == 0
    assert ours["eve"]["status"] == "missing"
    assert float(lms["cy"]["score"]) == 0 and float(lms["cy"]["raw_score"]) == 11
    assert lms["ada"]["email"] == "ada@example.org" and lms["ada"]["lms_user_id"] == "lms-ada"
    assert ours["ben"]["status"] == "graded" and float(ours["ada"]["score"]) == 11


def test_release_and_fetch_feedback_deliver_matching_scores(cycle):
    course, *_ = cycle
    course.instructor("release_feedback", "assignment1")
    with course.gradebook() as gb:
        expected = {
            n: round(max(0.0, s.score - s.late_submission_penalty), 2)
            for n in ("ada", "ben", "cy", "dee")
            for s in [gb.find_submission("assignment1", n)]
        }
    for name, score in expected.items():
        course.student(name, "FetchFeedback")
        found = list((course.work / "homes" / name / "assignment1" / "feedback").rglob("*.html"))
        assert found, f"no feedback fetched for {name}"
        newest = max(found, key=lambda p: p.parent.name)  # one folder per submission time
        text = newest.read_text(encoding="utf-8")
        assert re.search(rf"Score: {score:g} / 11\b", text), (name, score)
    late = max((course.work / "homes" / "cy").rglob("*.html")).read_text(encoding="utf-8")
    assert "Late submission: 11 points deducted" in late
