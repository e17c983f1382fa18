"""Worker processes started before the command line's imports: taken by a run of their
size, stopped (with their fork servers) when no run takes them, never started for a
run that has nothing to grade."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_grade_class import grade_sample_class

from autograder import workers
from autograder.cli import main
from autograder.records import read_record


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
    assert workers.expected_todo(["a", "b", "c"], results) == 3  # no records yet
    results.mkdir(parents=True)
    (results / "a.json").write_text("{}")
    (results / "x.json").write_text("{}")  # a student who left
    assert workers.expected_todo(["a", "b", "c"], results) == 2


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
