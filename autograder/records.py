"""A JSON record per submission: the unit of a grading run's progress.

Each submission's files (autograded notebook, feedback) are written as soon as it is
judged, each atomically, and its JSON record right after them; the gradebook's rows
follow in batches (``gradebook.py``) and a rerun completes any that a kill left out, so
a grader that is killed loses at most the submissions it was working on.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

from .judge import CaseResult, PartResult


@dataclass
class SubmissionResult:
    """The judged result of one student's submission of one assignment."""

    student: str
    assignment: str
    seed: int
    status: str  # "graded", "unreadable" or "grader-error"
    parts: list[PartResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    cell_errors: dict[str, str] = field(default_factory=dict)
    isolation: str = ""
    seconds: float = 0.0
    submission_sha256: str = ""  # of the submitted file's bytes; "" when there is none
    checks_version: str = ""  # digest of the hidden checks' source (grade.checks_version)
    phases: dict[str, float] = field(default_factory=dict)  # milliseconds per phase of grading

    @property
    def cache_key(self) -> tuple[str, str, int]:
        """A record is reused only while all three are unchanged."""
        return (self.submission_sha256, self.checks_version, self.seed)

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.parts), 2)

    def to_dict(self) -> dict:
        data = plain(self)
        data["score"] = self.score
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SubmissionResult:
        data = dict(data)
        data.pop("score", None)
        parts = []
        for p in data.pop("parts"):
            cases = [CaseResult(**c) for c in p.pop("cases")]
            parts.append(PartResult(cases=cases, **p))
        return cls(parts=parts, **data)


def plain(value):
    """``value`` with every dataclass in it as a dict and every list and dict copied (what
    ``dataclasses.asdict`` gives, without its deep copy of each leaf: a record's dict in
    under half the time)."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in _fields(type(value))}
    return value


@functools.cache
def _fields(cls) -> tuple:
    return fields(cls)


def record_path(out: Path, assignment: str, student: str) -> Path:
    return out / "results" / assignment / f"{student}.json"


def atomic_write(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: all or nothing."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except FileNotFoundError:  # the first file of its folder
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_small_file(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of a small regular file, or None for a link, a folder, a FIFO, a missing
    or an oversized file (the submitted folders come from the students' side)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    return data if len(data) <= max_bytes else None


def copy_small_file(source: Path, target: Path, max_bytes: int = 4096) -> bool:
    """Copy a small regular file (nbgrader's ``timestamp.txt``) without following links."""
    data = read_small_file(source, max_bytes)
    if data is None:
        return False
    atomic_write(target, data.decode("utf-8", "replace"))
    return True


def record_text(result: SubmissionResult) -> str:
    """The JSON record of one submission (made where it was graded, in a worker)."""
    return json.dumps(result.to_dict(), indent=1)


def write_record(out: Path, result: SubmissionResult, text: str = "") -> Path:
    """Atomically write the JSON record of one submission (``text``, else made here): the
    last of its files, so a record exists only once its feedback and autograded notebook
    do (its gradebook rows follow in a batch; a rerun writes them if a kill came first)."""
    path = record_path(out, result.assignment, result.student)
    return atomic_write(path, text or record_text(result))


def read_record(out: Path, assignment: str, student: str) -> SubmissionResult | None:
    path = record_path(out, assignment, student)
    if not path.exists():
        return None
    try:
        return SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError):
        return None


def grades_csv_path(out: Path, assignment: str) -> Path:
    return out / f"grades-{assignment}.csv"
