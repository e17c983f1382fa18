"""What a submission's grade is once the gradebook's side is included: manual scores and
comments an instructor set, the submission time and nbgrader's late penalty.

Computed from plain data (the judged result and a ``Prior`` snapshot of the gradebook
taken at the start of a run), so a grading worker can render the feedback itself and the
main process writes exactly these numbers into the gradebook.
"""

from __future__ import annotations

import datetime
import functools
import pickle
from dataclasses import dataclass, field

from .records import SubmissionResult


@dataclass
class Marks:
    """What the gradebook holds for one submission, manual grading included."""

    scores: dict[str, float]  # final score per graded cell (a manual score wins)
    manual: set[str]  # graded cells whose score an instructor set by hand
    comments: dict[str, str]  # an instructor's comment per cell
    penalty: float  # late-submission penalty
    timestamp: datetime.datetime | None  # naive UTC, as nbgrader stores it

    @property
    def total(self) -> float:
        return round(max(0.0, sum(self.scores.values()) - self.penalty), 2)


@dataclass
class Prior:
    """One submission's rows in the gradebook before this run (all empty for a new one)."""

    auto: dict[str, float | None] = field(default_factory=dict)  # automatic score per cell
    manual: dict[str, float] = field(default_factory=dict)  # cells scored by hand
    comments: dict[str, str] = field(default_factory=dict)  # an instructor's comments
    timestamp: datetime.datetime | None = None
    extension: datetime.timedelta | None = None
    penalty: float = 0.0


@dataclass
class LatePolicy:
    """nbgrader's configured ``LateSubmissionPlugin`` (pickled, so that a grading worker
    imports nbgrader only for a late submission) and the assignment's due date."""

    plugin: bytes = b""  # pickle.dumps of the plugin instance, b"" for none
    duedate: datetime.datetime | None = None

    @classmethod
    def of(cls, plugin, duedate: datetime.datetime | None) -> LatePolicy:
        return cls(pickle.dumps(plugin) if plugin is not None else b"", duedate)

    def penalty(self, student: str, score: float, timestamp, extension) -> float:
        """The penalty nbgrader's autograde would store, bounded as nbgrader bounds it."""
        if not self.plugin or timestamp is None or self.duedate is None:
            return 0.0
        late = (timestamp - self.duedate - (extension or datetime.timedelta())).total_seconds()
        if late <= 0:
            return 0.0
        penalty = _plugin(self.plugin).late_submission_penalty(student, score, late)
        return 0.0 if penalty is None else min(max(float(penalty), 0.0), score)


@functools.lru_cache(maxsize=4)
def _plugin(blob: bytes):
    """The plugin, unpickled once per process (it comes from the instructor's own config)."""
    return pickle.loads(blob)


def marks_for(
    result: SubmissionResult,
    cells: list[str],
    prior: Prior,
    timestamp: datetime.datetime | None,
    late: LatePolicy,
) -> Marks:
    """The marks of ``result`` over the graded ``cells`` of its notebook: automatic scores,
    replaced by the instructor's where set, the time (the submission's own, else the one
    the gradebook has) and the late penalty on that total."""
    auto = {p.grade_id: p.score for p in result.parts}
    scores = {cell: prior.manual.get(cell, auto.get(cell, 0.0)) for cell in cells}
    when = timestamp or prior.timestamp
    total = sum(scores.values())
    penalty = late.penalty(result.student, total, when, prior.extension)
    return Marks(scores, set(prior.manual) & set(cells), dict(prior.comments), penalty, when)


def in_gradebook(result: SubmissionResult, marks: Marks, prior: Prior) -> bool:
    """Whether the gradebook already holds exactly what ``result`` and ``marks`` say: the
    automatic score of every cell, the time and the penalty (a run killed before its
    batch was written, or a changed due date, a later timestamp, say no)."""
    auto = {p.grade_id: p.score for p in result.parts}
    for cell in marks.scores:
        stored = prior.auto.get(cell)
        if stored is None or abs(stored - auto.get(cell, 0.0)) > 1e-9:
            return False
    return prior.timestamp == marks.timestamp and abs(prior.penalty - marks.penalty) <= 1e-9
