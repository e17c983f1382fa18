"""The bundled sample class, graded through the command line: the expected results, the
gradebook nbgrader exports, the feedback, resuming after an interruption, determinism."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import NEEDS_ATTENTION, main
from autograder.records import read_record

EXPECTED_TOTALS = {
    "ada_correct": 11.0,
    "ben_mse_sign_flipped": None,  # partial: checked below
    "cy_always_equal": 9.0,
    "dan_endless_loop": 9.0,
    "eve_corrupt_file": 0.0,
    "fay_ipython_trick": 6.0,
}


def grade_sample_class(root: Path, out: Path) -> list[str]:
    """Command-line arguments that grade the bundled sample class into ``out``."""
    submitted = root / "sample_class" / "submitted"
    return ["--root", str(root), "grade", "assignment1", "--submissions", str(submitted),
            "--course", str(out), "--out", str(out)]  # fmt: skip


@pytest.fixture(scope="module")
def sample(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    code = main(grade_sample_class(root, out))
    results = {s: read_record(out, "assignment1", s) for s in EXPECTED_TOTALS}
    return code, out, results


def part(result, grade_id):
    return next(p for p in result.parts if p.grade_id == grade_id)


def test_the_run_completes_with_exit_code_zero(sample):
    code, _, results = sample
    assert code == 0
    assert all(r is not None for r in results.values())


def test_the_correct_submission_gets_full_marks(sample):
    assert sample[2]["ada_correct"].score == 11


def test_the_classic_mistake_gets_partial_marks_with_the_part_explained(sample):
    result = sample[2]["ben_mse_sign_flipped"]
    mse = part(result, "test_mse")
    assert 0 < result.score < 11 and mse.score < mse.points
    assert result.score == 9 + mse.score
    assert [m["code"] for m in mse.mistakes] == ["mse-sign"]
    feedback = sample[1] / "feedback" / "ben_mse_sign_flipped" / "assignment1" / "assignment1.md"
    assert "wrong sign" in feedback.read_text()


def test_the_always_equal_object_scores_zero_on_the_cheated_part(sample):
    result = sample[2]["cy_always_equal"]
    assert part(result, "test_sigmoid").score == 0
    assert result.score == 9
    problems = [p for c in part(result, "test_sigmoid").cases for p in c.problems]
    assert any("not a NumPy array" in p for p in problems)


def test_the_endless_loop_times_out_on_its_part_only(sample):
    result = sample[2]["dan_endless_loop"]
    relu = part(result, "test_relu")
    assert relu.score == 0
    assert "timed out" in relu.cases[0].problems[0]
    assert result.score == 9


def test_the_corrupt_file_is_reported_as_unreadable(sample):
    result = sample[2]["eve_corrupt_file"]
    assert result.status == "unreadable" and result.score == 0
    assert "not valid JSON" in result.problems[0]
    html = sample[1] / "feedback" / "eve_corrupt_file" / "assignment1" / "assignment1.html"
    assert "could not be read" in html.read_text()


def test_the_ipython_trick_only_breaks_its_own_cell(sample):
    result = sample[2]["fay_ipython_trick"]
    assert "get_ipython" in result.cell_errors["dense_forward"]
    assert part(result, "test_dense_forward").score == 0
    assert result.score == 6


def test_nbgrader_export_lists_the_scores(sample, tmp_path):
    _, out, results = sample
    nbgrader = Path(sys.executable).with_name("nbgrader")
    subprocess.run(
        [
            str(nbgrader),
            "export",
            "--db",
            f"sqlite:///{out / 'gradebook.db'}",
            "--to",
            "grades.csv",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        env={"PATH": f"{nbgrader.parent}:/usr/bin:/bin"},
    )
    with open(tmp_path / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    for student, result in results.items():
        assert float(rows[student]["raw_score"]) == pytest.approx(result.score)
        assert float(rows[student]["max_score"]) == 11


def test_a_second_run_grades_nothing_new_and_force_regrades(sample, root, tmp_path):
    _, out, results = sample
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    record = copy / "results" / "assignment1" / "ada_correct.json"
    stamp = json.loads(record.read_text())
    stamp["seconds"] = -1.0  # a marker that survives only if the record is reused
    record.write_text(json.dumps(stamp))
    (copy / "results" / "assignment1" / "cy_always_equal.json").unlink()  # as if killed here
    args = grade_sample_class(root, copy)
    assert main(args) == 0
    assert read_record(copy, "assignment1", "ada_correct").seconds == -1.0
    regraded = read_record(copy, "assignment1", "cy_always_equal")
    assert regraded.score == results["cy_always_equal"].score
    assert regraded.seed == results["cy_always_equal"].seed
    assert main([*args, "--force"]) == 0
    assert read_record(copy, "assignment1", "ada_correct").seconds > 0


def test_the_same_submission_and_seed_always_get_the_same_result(sample, root, tmp_path):
    _, _, results = sample
    args = grade_sample_class(root, tmp_path)
    assert main(args) == 0
    for student, first in results.items():
        again = read_record(tmp_path, "assignment1", student)
        assert again.score == first.score and again.seed == first.seed
        assert [p.cases for p in again.parts] == [p.cases for p in first.parts]


def test_the_gradebook_is_stamped_with_nbgraders_schema_head():
    from alembic.script import ScriptDirectory
    from nbgrader import __file__ as nbgrader_init

    from autograder.gradebook import alembic_head

    scripts = ScriptDirectory(str(Path(nbgrader_init).parent / "alembic"))
    assert alembic_head() == scripts.get_current_head()


def test_a_worker_with_other_hidden_checks_refuses_to_grade(root):
    """On a cluster, a machine with another version of the checks installed would give
    verdicts from other checks: it reports a grader-error instead."""
    import nbformat

    from autograder.grade import Job, checks_version, load_submission
    from autograder.submission import Submission

    path = root / "sample_class" / "submitted" / "ada_correct" / "assignment1" / "assignment1.ipynb"
    submitted = load_submission(Submission("ada", "assignment1", path))
    release = nbformat.writes(nbformat.read(root / "exercises/assignment1/assignment1.ipynb", 4))
    for version, status in ((checks_version("assignment1"), "graded"), ("0" * 16, "grader-error")):
        result = Job("assignment1", release, 1, (str(root),), version=version).grade(
            "ada", submitted, "d1"
        )
        assert result.status == status
        assert result.score == (11 if status == "graded" else 0)
        assert result.checks_version == version
        assert ("other hidden checks" in " ".join(result.problems)) == (status != "graded")


def test_a_worker_that_dies_costs_only_the_submission_it_was_grading(root, tmp_path):
    """A dead worker breaks its pool; what was in flight is graded again one submission at
    a time, so only the submission that kills a worker again gets a grader-error."""
    import nbformat
    from dying_job import DyingJob

    from autograder.grade import Todo, checks_version, local_results
    from autograder.marks import Prior
    from autograder.submission import Submission

    source = root / "sample_class" / "submitted" / "ada_correct" / "assignment1"
    todo = []
    for name in ["s0", "s1", "s2", "victim", "s4", "s5", "s6", "s7"]:
        folder = tmp_path / name / "assignment1"
        folder.mkdir(parents=True)
        (folder / "assignment1.ipynb").write_bytes((source / "assignment1.ipynb").read_bytes())
        submission = Submission(name, "assignment1", folder / "assignment1.ipynb")
        todo.append(Todo(submission, Prior(), None))
    release = nbformat.writes(nbformat.read(root / "exercises/assignment1/assignment1.ipynb", 4))
    version = checks_version("assignment1")
    job = DyingJob("assignment1", release, 1, (str(root),), version=version, victim="victim")
    graded = {g.result.student: g for g in local_results(job, todo, workers=2)}
    assert sorted(graded) == sorted(t.submission.student for t in todo)
    for name, g in graded.items():
        if name == "victim":
            assert g.result.status == "grader-error"
            assert g.result.score == 0
            assert "died" in " ".join(g.result.problems)
            assert g.marks.total == 0
        else:
            assert (g.result.status, g.result.score) == ("graded", 11), name


def test_a_fault_while_rendering_is_that_students_grader_error(root, tmp_path, monkeypatch):
    """Grading catches its own faults; one while rendering the feedback must become the
    student's result too, and the rest of the class is graded."""
    from autograder import feedback

    render = feedback.render

    def fragile(result, book_url, marks):
        if result.student == "ben_mse_sign_flipped" and result.status != "grader-error":
            raise ZeroDivisionError("a fault of the grader")
        return render(result, book_url, marks)

    monkeypatch.setattr(feedback, "render", fragile)
    out = tmp_path / "out"
    code = main([*grade_sample_class(root, out), "--workers", "1"])
    assert code == NEEDS_ATTENTION
    records = {
        p.stem: json.loads(p.read_text()) for p in (out / "results" / "assignment1").glob("*.json")
    }
    assert records["ben_mse_sign_flipped"]["status"] == "grader-error"
    assert "ZeroDivisionError" in " ".join(records["ben_mse_sign_flipped"]["problems"])
    assert records["ada_correct"]["status"] == "graded"
    assert records["ada_correct"]["score"] == 11


def test_folders_named_like_rich_markup_are_shown_as_they_are(root, tmp_path, capsys):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    for name in ("[bold]ada", "ada", "ends_in\\"):  # rich would print the first as "ada"
        shutil.copytree(root / "sample_class" / "submitted" / "ada_correct", submitted / name)
    common = ["--root", str(root), "grade", "assignment1", "--submissions", str(submitted)]
    common += ["--course", str(out), "--out", str(out), "--workers", "1"]
    capsys.readouterr()
    assert main(common) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "11/11" in line]
    names = sorted(line.split("│")[1].strip() for line in rows)
    assert names == ["[bold]ada", "ada", "ends_in\\"]
    assert main([*common, "--student", "[nosuch]x"]) == 0
    assert "for: [nosuch]x" in capsys.readouterr().out
