"""Judging: the arrays that came back from the sandbox against the reference outputs.

Runs in the parent only. A value is accepted when it is a finite numeric array of the
expected shape whose entries agree with the reference within ``RTOL`` (relative to each
entry) plus a small absolute tolerance scaled to the array's magnitude. When it is not,
the judge says what differed in plain words and looks for the catalogued mistake whose
outputs the student reproduced exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .checks.base import Case, Part
from .sandbox import Outcome

RTOL = 1e-6
ATOL_SCALE = 1e-9


@dataclass
class CaseResult:
    label: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    mistake: str | None = None


@dataclass
class PartResult:
    grade_id: str
    title: str
    points: float
    score: float
    cases: list[CaseResult]
    mistakes: list[dict]  # diagnosed Mistake records, as dicts, in order of first appearance

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    def to_dict(self) -> dict:
        return asdict(self)


def close(received: np.ndarray, expected: np.ndarray) -> bool:
    """Same shape and every entry within tolerance (NaN matches NaN, for mistake variants)."""
    if received.shape != expected.shape:
        return False
    scale = float(np.max(np.abs(expected[np.isfinite(expected)]), initial=1.0))
    with np.errstate(invalid="ignore"):
        return bool(
            np.allclose(received, expected, rtol=RTOL, atol=ATOL_SCALE * scale, equal_nan=True)
        )


def relative_error(received: np.ndarray, expected: np.ndarray) -> tuple[float, tuple]:
    """Largest |a - b| / max(|a| + |b|, 1e-8) and where it occurs."""
    error = np.abs(received - expected) / np.maximum(np.abs(received) + np.abs(expected), 1e-8)
    index = np.unravel_index(int(np.argmax(error)), error.shape) if error.ndim else ()
    return float(error[index] if error.ndim else error), tuple(int(i) for i in index)


def _as_array(name: str, value, part: Part) -> tuple[np.ndarray | None, str | None]:
    """Validate one returned value; returns (array, None) or (None, problem in words)."""
    if value is None:
        return None, f"`{name}` was not returned"
    if isinstance(value, str):
        kind = value.removeprefix("bad:")
        return None, f"`{name}` is an object of type `{kind}`, not a NumPy array of floats"
    if value.dtype.kind not in "biuf":
        return None, f"`{name}` has dtype {value.dtype}, not a float type"
    array = value.astype(np.float64)
    if name in part.scalars and array.size == 1:
        array = array.reshape(())
    return array, None


def judge_case(part: Part, case: Case, outcome: Outcome) -> CaseResult:
    """Compare one probe's returned values with the reference outputs of ``case``."""
    pid = case.probe.id
    if pid in outcome.probe_errors:
        return CaseResult(case.label, False, [outcome.probe_errors[pid]])
    returned = outcome.values.get(pid, {})
    arrays, problems = {}, []
    nonfinite = False
    for name, expected in case.expected.items():
        array, problem = _as_array(name, returned.get(name), part)
        if problem:
            problems.append(problem)
            continue
        arrays[name] = array
        expected = np.asarray(expected, dtype=np.float64)
        if array.shape != expected.shape:
            problems.append(
                f"`{name}` has shape {array.shape}, but it should have shape {expected.shape}"
            )
        elif not np.all(np.isfinite(array)):
            bad = int(np.sum(~np.isfinite(array)))
            problems.append(f"`{name}` contains {bad} NaN or infinite value(s)")
            nonfinite = nonfinite or bool(np.all(np.isfinite(expected)))
        elif not close(array, expected):
            error, where = relative_error(array, expected)
            at = f" at index {where}" if where else ""
            problems.append(
                f"`{name}` has the right shape {array.shape} but wrong values: the largest "
                f"relative error is {error:.2g}{at} (expected {expected[where]:.6g}, "
                f"got {array[where]:.6g})"
            )
    if not problems:
        return CaseResult(case.label, True)
    return CaseResult(case.label, False, problems, _diagnose(part, case, arrays, nonfinite))


def _diagnose(part: Part, case: Case, arrays: dict, nonfinite: bool) -> str | None:
    for code, outputs in case.variants.items():
        if outputs and all(
            name in arrays and close(arrays[name], np.asarray(value, dtype=np.float64))
            for name, value in outputs.items()
        ):
            return code
    if nonfinite and part.nonfinite_mistake:
        return part.nonfinite_mistake
    return None


def judge_part(part: Part, cases: list[Case], outcome: Outcome, points: float) -> PartResult:
    """Partial credit: ``points`` times the fraction of cases passed, rounded to 0.01.

    A part that defines ``judge_case(case, outcome)`` (judged by a statistical test or by
    comparison with a baseline, not by equality with a reference) judges its own cases.
    """
    own = getattr(part, "judge_case", None)
    results = [own(case, outcome) if own else judge_case(part, case, outcome) for case in cases]
    passed = sum(r.passed for r in results)
    score = round(points * passed / len(results), 2) if results else 0.0
    codes = list(dict.fromkeys(r.mistake for r in results if r.mistake))
    mistakes = [asdict(part.mistake(code)) for code in codes]
    return PartResult(part.grade_id, part.title, points, score, results, mistakes)
