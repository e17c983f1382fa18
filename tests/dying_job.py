"""A grading job whose worker process dies on one student (imported by spawned workers,
which get the test run's ``sys.path``): a stand-in for a worker killed by the system or
by a crash inside a library while it grades that submission."""

from __future__ import annotations

import os
from dataclasses import dataclass

from autograder.grade_submission import Job


@dataclass(frozen=True)
class DyingJob(Job):
    victim: str = ""  # the student whose grading kills the worker

    def grade(self, student: str, submitted, digest: str = ""):
        if student == self.victim:
            os._exit(9)
        return super().grade(student, submitted, digest)
