"""The grading worker processes of a local class run, which may be started early.

A spawned worker takes about 0.7 s to start (a new interpreter importing NumPy and the
grader), and the command line spends its first 1.5-2 s importing nbgrader and reading the
course on one core. ``start_early`` starts the workers first, so both happen at once; the
run then takes them with ``take`` if it needs that many, and ``stop_unused`` stops them
otherwise. This module imports neither nbgrader nor the grader.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

_EARLY: dict[int, ProcessPoolExecutor] = {}  # started by start_early, by size


def default_workers(todo: int, cores: int | None = None) -> int:
    """Worker processes for ``todo`` submissions: each costs a process start and a fork
    server (about a second), worth it from about six submissions per worker."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(cores, todo // 6))


def _start(hidden: tuple[str, ...] = (), assignment: str = "") -> None:
    from .grade_submission import start_worker

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
    server for ``assignment`` hiding ``hidden`` (the run's guessed folders; a fork server
    started for other folders is replaced on first use) while this process goes on."""
    if workers < 2 or workers in _EARLY:
        return
    pool = new_pool(workers, hidden, assignment)
    for _ in range(workers):  # the executor starts one process per task while none is idle
        pool.submit(os.getpid)
    _EARLY[workers] = pool


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


def expected_todo(names: list[str], results: Path) -> int:
    """How many of the submissions ``names`` have no JSON record in ``results`` yet: a
    guess of the run's work, made before the course and the records can be read."""
    try:
        done = {p.stem for p in results.iterdir()}
    except OSError:
        done = set()
    return sum(1 for name in names if name not in done)
