"""Inside Gradescope's container: grade ``/autograder/submission`` and write
``/autograder/results/results.json``.

``run_autograder`` starts this as root for every submission (``python -m
autograder.gradescope.run`` from ``/autograder/source``). The submission is graded by
``grade.grade_notebook`` with the same sandbox as ``autograder grade``: the student's
cells run in children under a uid of their own with ``/autograder`` (the grader, its
hidden checks, the submission and the results) hidden from them. Whatever happens, a
valid ``results.json`` is written: a student fault is a result with a score of 0 where it
struck, a grader fault is a result that says so, with the traceback on stdout (which only
the instructor sees).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import grade_submission as grade
from ..checks import AssignmentChecks, checks_for
from ..records import SubmissionResult
from ..sandbox import Isolation
from ..submission import UnreadableSubmission
from .locate import find_notebook
from .policy import Policy
from .results import failure_json, results_json

ROOT_ENV = "AUTOGRADER_GRADESCOPE_ROOT"  # only tests set it: a folder standing in for /autograder
CONFIG = "gradescope.json"  # in the archive: assignment, course seed, policy
RELEASE = "release"  # in the archive: the release notebook


@dataclass(frozen=True)
class Layout:
    """Gradescope's folders: ``source`` (the unpacked archive), ``submission``, ``results``."""

    root: Path

    @classmethod
    def from_environment(cls) -> Layout:
        return cls(Path(os.environ.get(ROOT_ENV, "/autograder")))

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def results(self) -> Path:
        return self.root / "results"


@dataclass(frozen=True)
class Config:
    assignment: str
    seed: int
    policy: Policy

    @classmethod
    def load(cls, path: Path) -> Config:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["assignment"], int(data["seed"]), Policy.from_dict(data["policy"]))


def grade_submission(
    checks: AssignmentChecks,
    release: nbformat.NotebookNode,
    submitted: nbformat.NotebookNode | UnreadableSubmission,
    digest: str,
    base_seed: int,
    isolation: Isolation,
) -> SubmissionResult:
    """``grade.grade_notebook`` with hidden inputs seeded by the notebook's sha256, so a
    changed notebook gets fresh inputs and a regrade of the same one the same inputs."""
    return grade.grade_notebook(
        checks, release, "submission", submitted, base_seed, isolation, digest=digest
    )


def lock_down(layout: Layout) -> None:
    """Only root may enter the grader's and the submission's folders (besides the
    sandbox's own hiding of ``/autograder``), when running as root."""
    if os.geteuid() == 0:
        for folder in (layout.source, layout.submission):
            if folder.is_dir():
                os.chmod(folder, 0o700)


def grade_here(layout: Layout, started: float) -> dict:
    """Grade the one submission of ``layout`` (``started``: epoch seconds); the results.json
    content."""
    config = Config.load(layout.source / CONFIG)
    checks = checks_for(config.assignment)
    release_path = layout.source / RELEASE / f"{checks.notebook}.ipynb"
    release = nbformat.read(release_path, as_version=4)
    found = find_notebook(layout.submission, release, checks.notebook)
    lock_down(layout)
    isolation = Isolation.for_course([layout.root])
    result = grade_submission(checks, release, found.notebook, found.digest, config.seed, isolation)
    if result.status == "grader-error":
        print(f"grader error: {'; '.join(result.problems)}", flush=True)
    print(
        f"{result.assignment}: {result.score:g} ({result.status}), seed {result.seed}, "
        f"file {found.name or '-'}, {result.isolation}",
        flush=True,
    )
    return results_json(result, found, config.policy, time.time() - started)


def write_results(path: Path, results: dict) -> None:
    """Write ``results.json`` atomically (Gradescope reads it after this process ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, ensure_ascii=False)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


STARTED_ENV = "AUTOGRADER_GRADESCOPE_STARTED"  # set by run_autograder: epoch seconds


def _started() -> float:
    try:
        return float(os.environ[STARTED_ENV])
    except (KeyError, ValueError):
        return time.time()


def main() -> int:
    started = _started()
    layout = Layout.from_environment()
    try:
        results = grade_here(layout, started)
    except Exception:  # a grader fault: say so to the student, the details to stdout
        traceback.print_exc(file=sys.stdout)
        results = failure_json(time.time() - started)
    write_results(layout.results / "results.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
