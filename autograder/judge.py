"""Judging: the arrays that came back from the sandbox against the reference outputs.

Runs in the parent only. A value is accepted when it is a finite numeric array of the
expected shape whose entries agree with the reference within ``RTOL`` (relative to each
entry) plus a small absolute tolerance scaled to the array's magnitude. When it is not,
the judge says what differed in plain words and looks for the catalogued mistake whose
outputs the student reproduced exactly.

Every input array comes back after the call (``after:<name>``) and is compared with the
original; the part's ``changes`` policy says whether a change fails the case or only
earns a warning. A catalogued mistake is named only when it explains every failing case
on which it can be computed; when several do, all are listed as possible. When none does,
``diagnosis.relations`` that hold on every failing case describe how the wrong outputs
relate to the right ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import diagnosis
from .checks.base import Case, Mistake, Part
from .sandbox import Outcome

RTOL = 1e-6
ATOL_SCALE = 1e-9


@dataclass
class CaseResult:
    label: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    mistake: str | None = None  # the code named for this case (catalogued or structural)
    changed: list[str] = field(default_factory=list)  # inputs changed in place: wrong
    warned: list[str] = field(default_factory=list)  # inputs changed in place: a warning
    matches: list[str] = field(default_factory=list)  # catalogued codes fitting this case
    wrong: list[str] = field(default_factory=list)  # outputs with wrong values
    relations: dict[str, str] = field(default_factory=dict)  # structural key -> words


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
    """Same shape and every entry within tolerance (NaN matches NaN, an infinity the same
    infinity, for mistake variants)."""
    return diagnosis.near(received, expected, RTOL, ATOL_SCALE)


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


def _base_name(case: Case, name: str) -> str:
    part, _, index = case.probe.id.rpartition("#")
    return name.removeprefix(f"{part}.{index}.")


def _callers(case: Case) -> dict[str, str]:
    """Input name -> the function it is passed to (for the feedback's words)."""
    out = {}

    def walk(arg, function):
        if "in" in arg:
            out.setdefault(arg["in"], function)
        for sub in [*arg.get("dict", {}).values(), *arg.get("list", [])]:
            walk(sub, function)

    for step in case.probe.steps:
        for arg in step.get("args", []):
            walk(arg, step["call"])
    return out


def check_inputs(part: Part, case: Case, returned: dict) -> tuple[list[str], list[str]]:
    """(inputs changed against the policy, inputs changed with a warning), short names,
    from the arrays sent back after the calls."""
    wrong, warned = [], []
    callers = _callers(case)
    for name, original in case.inputs.items():
        after = returned.get(f"after:{name}")
        if after is None or isinstance(after, str):
            continue
        original = np.asarray(original)
        if after.shape == original.shape and _same(after, original):
            continue
        short = _base_name(case, name)
        verdict = part.change_rule(short, callers.get(name, "")).verdict
        if verdict != "allowed":
            (wrong if verdict == "wrong" else warned).append(short)
    return wrong, warned


def _same(after: np.ndarray, original: np.ndarray) -> bool:
    """Equal up to rounding (1e-12 of the array's magnitude): x[i] += h; x[i] -= h is no
    change worth a verdict."""
    if after.dtype == original.dtype and np.array_equal(after, original):
        return True  # the common case, and the cheap one
    return diagnosis.near(after.astype(np.float64), original.astype(np.float64), 1e-12, 1e-12)


def _caller(case: Case, short: str) -> str:
    return _callers(case).get(case.probe.id.replace("#", ".") + "." + short, "")


def _changed_words(case: Case, short: str) -> str:
    return f"`{_caller(case, short) or 'your function'}` changed its argument `{short}` in place"


def _context(part: Part, case: Case) -> diagnosis.Context:
    inputs = {_base_name(case, k): np.asarray(v) for k, v in case.inputs.items()}
    first = next((v for v in inputs.values() if np.ndim(v) >= 1), None)
    batch = int(first.shape[0]) if first is not None else None
    return diagnosis.Context(inputs, batch, part.time_axis, part.gates)


def _arrays(part: Part, case: Case, outcome: Outcome) -> dict[str, np.ndarray]:
    """The valid arrays a probe returned for the outputs ``case`` expects."""
    returned = outcome.values.get(case.probe.id, {})
    arrays = {}
    for name in case.expected:
        array, problem = _as_array(name, returned.get(name), part)
        if problem is None:
            arrays[name] = array
    return arrays


def _matches(part: Part, case: Case, arrays: dict, wrong: list[str]) -> list[str]:
    """Catalogued codes whose outputs the student reproduced on this case: every output,
    except the part's ``loose`` ones (bookkeeping such as a step counter, which may follow
    another scheme) when some other wrong output is reproduced."""
    strict = [name for name in wrong if name not in part.loose]
    codes = []
    for code, outputs in case.variants.items():
        if not outputs:
            continue
        fits = all(
            (name in part.loose and (strict or not wrong))
            or (name in arrays and close(arrays[name], np.asarray(value, dtype=np.float64)))
            for name, value in outputs.items()
        )
        if fits:
            codes.append(code)
    return codes


def judge_case(part: Part, case: Case, outcome: Outcome) -> CaseResult:
    """Compare one probe's returned values with the reference outputs of ``case``."""
    pid = case.probe.id
    if pid in outcome.probe_errors:
        error = outcome.probe_errors[pid]
        result = CaseResult(case.label, False, [error])
        for step in case.probe.steps:
            if "get" in step and error.startswith(f"KeyError: '{step['key']}'"):
                result.relations[f"{step['key']}:missing"] = (
                    f"the state `{step['key']}` is not stored in `config` after the call"
                )
        return result
    returned = outcome.values.get(pid, {})
    arrays, problems, wrong = {}, [], []
    nonfinite = False
    for name, expected in case.expected.items():
        array, problem = _as_array(name, returned.get(name), part)
        if problem:
            problems.append(problem)
            wrong.append(name)
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
        else:
            continue
        wrong.append(name)
    changed, warned = check_inputs(part, case, returned)
    problems += [_changed_words(case, short) for short in changed]
    result = CaseResult(case.label, not problems, problems, changed=changed, warned=warned)
    result.wrong = wrong
    if not wrong:  # catalogued matches only matter once some case of the part fails
        return result
    result.matches = _matches(part, case, arrays, wrong)
    if nonfinite and part.nonfinite_mistake:
        result.matches.append(part.nonfinite_mistake)
    ctx = _context(part, case)
    for name in wrong:
        if name in arrays:
            expected = np.asarray(case.expected[name], dtype=np.float64)
            found = diagnosis.relations(name, arrays[name], expected, ctx)
            result.relations.update({f"{name}:{k}": words for k, words in found.items()})
    state = _initial_state(case)
    for name in wrong:
        if name in arrays and name in state and close(arrays[name], state[name]):
            result.relations[f"{name}:unchanged"] = f"`{name}` was not changed by the calls"
    return result


def _initial_state(case: Case) -> dict[str, np.ndarray]:
    """Values handed to the first call inside a dict argument (an optimizer's config)."""
    calls = [s for s in case.probe.steps if "call" in s]
    out = {}
    for arg in calls[0]["args"] if calls else []:
        for key, spec in arg.get("dict", {}).items():
            if "lit" in spec and isinstance(spec["lit"], (int, float)):
                out[key] = np.float64(spec["lit"])
            elif "in" in spec:
                out[key] = np.asarray(case.inputs[spec["in"]], dtype=np.float64)
    return out


def _named(part: Part, cases: list[Case], results: list[CaseResult]) -> list[Mistake]:
    """The mistakes named for a part: catalogued ones that explain every failing case on
    which they can be computed (all of them, as possible, when several do), else the
    relations that hold on every failing case; then every input changed in place."""
    failing = [(c, r) for c, r in zip(cases, results, strict=True) if r.wrong or r.relations]
    named: list[Mistake] = []
    if failing:
        fitting = [
            code
            for code in dict.fromkeys(code for _, r in failing for code in r.matches)
            if all(code in r.matches for c, r in failing if code in c.variants)
        ]
        if len(fitting) > 1:
            fitting = _tie_break(fitting, list(zip(cases, results, strict=True)), failing)
        if len(fitting) == 1:
            named.append(part.mistake(fitting[0]))
        elif fitting:
            named.extend(_possible(part.mistake(code), len(fitting)) for code in fitting)
        else:
            named.extend(_structural(part, [r for _, r in failing]))
    for case, r in zip(cases, results, strict=True):
        for short in r.changed:
            why = part.change_rule(short, _caller(case, short)).why
            title = f"`{short}` is changed in place"
            named.append(Mistake(f"changed:{short}", title, why, part.section, "changed"))
        for short in r.warned:
            why = part.change_rule(short, _caller(case, short)).why
            title = f"`{short}` is changed in place"
            named.append(Mistake(f"warning:{short}", title, why, part.section, "warning"))
    return list({m.code: m for m in named}.values())


def _tie_break(codes: list[str], pairs: list, failing: list) -> list[str]:
    """Of several fitting codes, drop those that predict a failure on a case the student
    passed, then those that explain strictly fewer failing cases than another."""
    kept = [c for c in codes if all(c in r.matches for case, r in pairs if c in case.variants)]
    kept = kept or codes
    cover = {c: {id(r) for _, r in failing if c in r.matches} for c in kept}
    return [c for c in kept if not any(cover[c] < other for other in cover.values())]


def _possible(mistake: Mistake, count: int) -> Mistake:
    return Mistake(
        mistake.code,
        f"{mistake.title} (one of {count} mistakes that fit your outputs equally)",
        mistake.explanation,
        mistake.section,
        "possible",
    )


def _structural(part: Part, failing: list[CaseResult]) -> list[Mistake]:
    """Relations ("output:kind") that hold on every failing case where that output is
    wrong (or, for a missing state, on every failing case), as structural diagnoses."""
    out = []
    for key in dict.fromkeys(k for r in failing for k in r.relations):
        output = key.split(":", 1)[0]
        concerned = [r for r in failing if output in r.wrong] or failing
        if not all(key in r.relations for r in concerned):
            continue
        words = next(r.relations[key] for r in concerned)
        out.append(
            Mistake(
                f"structure:{key}",
                words[0].upper() + words[1:],
                "This holds on every hidden input your answer got wrong; it usually points "
                "to the one step that is off. Compare that step with the book's derivation.",
                part.section,
                "structure",
            )
        )
    return out


def judge_part(part: Part, cases: list[Case], outcome: Outcome, points: float) -> PartResult:
    """Partial credit: ``points`` times the fraction of cases passed, rounded to 0.01.

    A part that defines ``judge_case(case, outcome)`` (judged by a statistical test or by
    comparison with a baseline, not by equality with a reference) judges its own cases.
    """
    own = getattr(part, "judge_case", None)
    results = [own(case, outcome) if own else judge_case(part, case, outcome) for case in cases]
    passed = sum(r.passed for r in results)
    score = round(points * passed / len(results), 2) if results else 0.0
    if own:
        codes = list(dict.fromkeys(r.mistake for r in results if r.mistake))
        named = [part.mistake(code) for code in codes]
    else:
        if any(r.wrong or r.relations for r in results):
            for case, r in zip(cases, results, strict=True):
                if not r.wrong and case.probe.id not in outcome.probe_errors:
                    r.matches = _matches(part, case, _arrays(part, case, outcome), [])
        named = _named(part, cases, results)
        codes = {m.code for m in named}
        for r in results:
            r.mistake = next((c for c in r.matches if c in codes), None)
    mistakes = [asdict(m) for m in named]
    return PartResult(part.grade_id, part.title, points, score, results, mistakes)
