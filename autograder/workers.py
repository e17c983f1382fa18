"""The grading worker processes of a local class run, which may be started early.

A spawned worker takes about 0.7 s to start (a new interpreter importing NumPy and the
grader), and the command line spends its first 1.5-2 s importing nbgrader and reading the
course on one core. ``start_early`` starts the workers first, and ``grade_ahead`` has them
grade the first submissions meanwhile (the gradebook is needed only to render them); the
run then takes the workers with ``take`` if it needs that many, and what they graded
with ``claim`` if it grades alike, and ``stop_unused`` stops them otherwise. This module
imports neither nbgrader nor, until a run starts, the grader.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

_EARLY: dict[int, ProcessPoolExecutor] = {}  # started by start_early, by size
# Workers (and the sandboxes they start) run below the command's own priority: while the
# command imports nbgrader, the workers' grading ahead takes only the cores it leaves
# idle (at the same priority it slowed the imports by half, and the run gained nothing);
# during the run, each result is written as soon as it arrives.
NICENESS = 10


def default_workers(todo: int, cores: int | None = None) -> int:
    """Worker processes for ``todo`` submissions: each costs a process start and a fork
    server (about a second), worth it from about six submissions per worker."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, todo // 6))


def _start(hidden: tuple[str, ...] = (), assignment: str = "") -> None:
    from .grade_submission import start_worker

    os.nice(NICENESS)
    start_worker()
    if not assignment:
        return
    from .checks import checks_for
    from .sandbox import Isolation, zygote

    try:  # its fork server too, for the isolation the run is expected to ask for
        isolation = Isolation.for_course([Path(p) for p in hidden])
        zygote.zygote(isolation, checks_for(assignment).limits)
    except Exception:  # an unknown assignment, no sandbox here: the run itself will say
        return


def new_pool(workers: int, *initargs) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (no fork of a threaded parent)."""
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, context, initializer=_start, initargs=initargs)


def start_early(workers: int, hidden: tuple[str, ...], assignment: str) -> None:
    """Start ``workers`` processes now, each importing the grader and starting its fork
    server for ``assignment`` hiding ``hidden`` (the run's folders, read from the course's
    configuration; a fork server started for other folders is replaced on first use)
    while this process goes on."""
    if workers < 2 or workers in _EARLY:
        return
    pool = new_pool(workers, hidden, assignment)
    for _ in range(workers):  # the executor starts one process per task while none is idle
        pool.submit(os.getpid)
    _EARLY[workers] = pool


AHEAD_PER_WORKER = 100  # submissions graded ahead per worker, at most (a few seconds' work)


def grade_ahead(workers: int, job, submissions: list) -> None:
    """Have the early pool of ``workers`` processes grade the first ``submissions`` (the
    ones the run is expected to grade) with ``job`` while this process loads nbgrader and
    the gradebook; a run takes the results with ``claim`` if its job grades alike."""
    pool = _EARLY.get(workers)
    if pool is None or getattr(pool, "ahead", None) is not None:
        return
    from .grade_submission import grade_ahead as grade_one_ahead

    chosen = submissions[: AHEAD_PER_WORKER * workers]
    futures = {s.student: pool.submit(grade_one_ahead, job, s) for s in chosen}
    pool.ahead = (job.grading_key(), futures)


def claim(pool: ProcessPoolExecutor, key: tuple) -> dict:
    """Student -> future of a result graded ahead by ``pool`` with a job whose grading key
    is ``key``: started or done (the rest are cancelled, so the run grades them as
    usual); nothing if the pool graded with another key or none."""
    graded_with, futures = getattr(pool, "ahead", None) or ((), {})
    pool.ahead = ((), {})
    if graded_with != key:
        for future in futures.values():
            future.cancel()
        return {}
    return {student: f for student, f in futures.items() if not f.cancel()}


def take(workers: int) -> ProcessPoolExecutor:
    """The early pool of this size if there is one, else a new pool; any other early
    pool is stopped."""
    pool = _EARLY.pop(workers, None)
    stop_unused()
    return pool or new_pool(workers)


def stop_unused() -> None:
    """Stop the early pools that no run took."""
    while _EARLY:
        _, pool = _EARLY.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def without_record(submissions: list, out: Path) -> list:
    """The submissions that have no JSON record in ``out`` yet: the work a run is expected
    to do (it also regrades a record whose file, checks or seed changed)."""
    from .records import record_path

    return [s for s in submissions if not record_path(out, s.assignment, s.student).exists()]
