"""Worker processes started before the command line's imports: taken by a run of their
size, stopped (with their fork servers) when no run takes them, never started for a
run that has nothing to grade; what they grade ahead is used only by a run that grades
alike, and only for files that did not change since."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
from concurrent.futures import wait
from pathlib import Path

import pytest
from test_grade_class import grade_sample_class

from autograder import cli, workers
from autograder.checks import checks_for
from autograder.cli import main
from autograder.course import Course, course_folders
from autograder.grade_submission import Job, checks_version, release_text
from autograder.records import read_record
from autograder.submission import Submission, find_submissions


def processes() -> dict[int, int]:
    """Every living process (zombies count as dead): pid -> parent pid, from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                table[int(entry.name)] = int(fields[1])
    return table


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid``."""
    table = processes()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in table.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return pids & processes().keys()


def wait_until(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def no_early_pools():
    yield
    workers.stop_unused()


def test_the_expected_work_is_the_submissions_without_a_record(tmp_path):
    results = tmp_path / "results" / "assignment1"
    found = [Submission(name, "assignment1", tmp_path / name) for name in ("a", "b", "c")]
    assert len(workers.without_record(found, tmp_path)) == 3  # no records yet
    results.mkdir(parents=True)
    (results / "a.json").write_text("{}")
    (results / "x.json").write_text("{}")  # a student who left
    assert [s.student for s in workers.without_record(found, tmp_path)] == ["b", "c"]


def test_a_run_of_the_early_pools_size_takes_it(root, tmp_path, no_early_pools):
    hidden = (str(root), str(tmp_path))
    workers.start_early(2, hidden, "assignment1")
    early = workers._EARLY[2]
    with workers.take(2) as pool:
        assert pool is early
        assert not workers._EARLY
        pids = {pool.submit(os.getpid).result() for _ in range(8)}
        assert pids <= set(pool._processes) and len(pool._processes) == 2


def test_an_early_pool_no_run_takes_stops_with_its_fork_servers(root, tmp_path, no_early_pools):
    workers.start_early(2, (str(root), str(tmp_path)), "assignment1")
    early = workers._EARLY[2]
    assert wait_until(lambda: len(early._processes) == 2)
    started = set(early._processes)
    # Each early worker starts its fork server (a process of its own) before any task.
    assert wait_until(lambda: all(descendants(pid) for pid in started))
    below = set().union(*(descendants(pid) for pid in started))
    with workers.take(3) as pool:  # the run chose three workers: a new pool
        assert pool is not early and not workers._EARLY
        assert wait_until(lambda: not alive(started | below), 20)
        assert len({pool.submit(os.getpid).result() for _ in range(3)} & started) == 0


def test_an_unknown_assignment_is_refused_however_the_workers_started(root, tmp_path):
    args = [*grade_sample_class(root, tmp_path / "out"), "--workers", "2"]
    args[args.index("assignment1")] = "nosuch"
    assert main(args) == 2
    assert not workers._EARLY


def test_the_command_line_grades_with_the_workers_it_started_early(
    root, tmp_path, monkeypatch, no_early_pools
):
    made = []
    new_pool = workers.new_pool

    def recording(count, *initargs):
        made.append((count, initargs))
        return new_pool(count, *initargs)

    monkeypatch.setattr(workers, "new_pool", recording)
    out = tmp_path / "out"
    assert main([*grade_sample_class(root, out), "--workers", "2"]) == 0
    assert [(count, bool(initargs)) for count, initargs in made] == [(2, True)]  # one, early
    assert read_record(out, "assignment1", "ada_correct").score == 11
    made.clear()
    assert main([*grade_sample_class(root, out), "--workers", "2"]) == 0  # all reused
    assert made == [] and not workers._EARLY


def graded_as(result) -> tuple:
    """What a record says of a submission, its timings left out."""
    parts = [(p.grade_id, p.score, [m["code"] for m in p.mistakes]) for p in result.parts]
    return (result.status, result.seed, result.submission_sha256, result.score, parts,
            result.problems, result.cell_errors)  # fmt: skip


def grading_phases(result) -> dict:
    """The timings of the sandboxed run and the judging (unique to one grading)."""
    return {k: v for k, v in result.phases.items() if k != "rendering"}


def test_a_run_uses_what_its_early_workers_graded_ahead_unless_the_file_changed(
    root, tmp_path, monkeypatch, no_early_pools
):
    submitted = tmp_path / "submitted"
    shutil.copytree(root / "sample_class" / "submitted", submitted)
    ahead, plain = tmp_path / "ahead", tmp_path / "plain"
    common = ["--root", str(root), "grade", "assignment1", "--submissions", str(submitted)]
    args = [*common, "--course", str(ahead), "--out", str(ahead), "--workers", "2"]
    cli._start_workers_early(cli._parser().parse_args(args))
    _, futures = workers._EARLY[2].ahead
    assert sorted(futures) == sorted(p.name for p in submitted.iterdir())
    assert not wait(futures.values(), timeout=120).not_done
    # ada resubmits after her notebook was graded ahead, before the run reads it: fay's
    ada = submitted / "ada_correct" / "assignment1" / "assignment1.ipynb"
    shutil.copy(submitted / "fay_ipython_trick" / "assignment1" / "assignment1.ipynb", ada)
    claimed, claim = [], workers.claim
    monkeypatch.setattr(workers, "claim", lambda *a: claimed.append(claim(*a)) or claimed[-1])
    assert main(args) == 0
    assert [sorted(found) for found in claimed] == [sorted(futures)]  # one claim, all taken
    assert main([*common, "--course", str(plain), "--out", str(plain), "--workers", "1"]) == 0
    for student, future in futures.items():
        record = read_record(ahead, "assignment1", student)
        assert graded_as(record) == graded_as(read_record(plain, "assignment1", student))
        used = grading_phases(record) == grading_phases(future.result())
        assert used == (student != "ada_correct"), student
    digest = hashlib.sha256(ada.read_bytes()).hexdigest()
    assert read_record(ahead, "assignment1", "ada_correct").submission_sha256 == digest
    assert read_record(ahead, "assignment1", "ada_correct").score < 11


def test_what_was_graded_ahead_for_another_grading_is_not_used(root, tmp_path, no_early_pools):
    checks = checks_for("assignment1")
    hidden = (str(root), str(tmp_path))
    job = Job("assignment1", release_text(root, checks), 7, hidden, version="v")
    sample = root / "sample_class" / "submitted"
    submissions = find_submissions(sample, "assignment1", "assignment1")
    workers.start_early(2, hidden, "assignment1")
    workers.grade_ahead(2, job, submissions)
    pool = workers._EARLY[2]
    _, futures = pool.ahead
    changes = {"release": job.release + " ", "base_seed": 8, "hidden": hidden[:1]}
    changes.update(version=checks_version("assignment1"), assignment="assignment2")
    for field, value in changes.items():  # each changes what a submission's grade is
        assert dataclasses.replace(job, **{field: value}).grading_key() != job.grading_key()
    # what only the rendering uses is not part of it
    rendered = dataclasses.replace(job, book_url="https://example.org/", cells=("c",))
    assert rendered.grading_key() == job.grading_key()
    other = dataclasses.replace(job, base_seed=8)
    assert workers.claim(pool, other.grading_key()) == {}
    assert workers.claim(pool, job.grading_key()) == {}  # claimed (and dropped) once
    wait(futures.values(), timeout=120)
    assert all(f.cancelled() or f.done() for f in futures.values())


def test_the_course_folders_read_without_nbgrader_are_nbgraders(root, tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    assert course_folders(root) == (Course.load(root).root, Course.load(root).submitted)
    for config in ("", 'c.CourseDirectory.submitted_directory = "handed_in"\n'):
        (course / "nbgrader_config.py").write_text(config)
        loaded = Course.load(root, course)
        assert course_folders(root, course) == (loaded.root, loaded.submitted)
    assert loaded.submitted == "handed_in"
