"""The vocabulary of hidden checks: parts, cases, mistakes.

A ``Part`` is one graded cell of an assignment (its nbgrader ``grade_id`` receives the
points). Each part builds ``Case``s from a random generator: a probe (the calls the
child makes with the student's functions), the input arrays, the reference outputs and,
for every known ``Mistake``, the outputs that mistake would produce on the same inputs.
Everything here runs in the parent, with the trusted reference implementations.

A probe is data that the child interprets (``autograder/sandbox/child.py``):

* ``steps``: a list run in order. ``{"call": name, "args": [arg, ...], "save": [names]}``
  calls the student's function ``name`` and binds its results (a tuple of
  ``len(save)`` values; a single name also accepts a bare value).
  ``{"get": var, "key": k, "save": name}`` binds ``var[k]`` (e.g. a state array kept in an
  optimizer's ``config`` dict).
* an ``arg`` is ``{"in": name}`` (a fresh copy of an input array), ``{"var": name}`` (a
  value bound by an earlier step), ``{"lit": json}`` (a number, string, list...),
  ``{"dict": {key: arg}}``, ``{"list": [arg]}``, or ``{"code": "lambda x: ...",
  "with": {name: arg}}`` (an expression evaluated in the child with ``np`` and the bound
  names: how a grader hands a function, e.g. to a student's gradient checker).
* ``send``: the bound names whose values come back to the parent; each must be a NumPy
  array or a number.

After every call the child also sends each array built from an ``{"in": name}`` argument
(top level or inside dict/list arguments) as the student's function left it, under the
name ``after:<name>``; the judge compares it with the original input and applies the
part's ``changes`` policy (``Changed``): a change is wrong (the case fails), a warning
(feedback only) or allowed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..sandbox import Limits, Probe

Outputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class Mistake:
    """A mistake learners really make, explained in plain words with a book section."""

    code: str
    title: str
    explanation: str
    section: str  # "page.html#label" in the book
    # "mistake" (catalogued), "convention" (another source's convention), "structure"
    # (how a wrong output relates to the right one), "changed" (an input changed in
    # place: wrong), "warning" (an input changed in place: no points lost), "possible"
    # (one of several catalogued mistakes that fit equally)
    kind: str = "mistake"


def convention(mistake: Mistake) -> Mistake:
    """``mistake`` marked as another source's valid convention (the feedback says so)."""
    return dataclasses.replace(mistake, kind="convention")


@dataclass(frozen=True)
class Changed:
    """What it costs when a student's function changes an input array in place.

    ``pattern`` is an fnmatch pattern of input names (as the part's cases name them,
    without the case prefix); ``verdict`` is "wrong" (the case fails), "warn" (feedback
    only) or "allowed"; ``why`` says, for the feedback, when the change breaks a network.
    """

    pattern: str
    verdict: str
    why: str
    function: str = "*"  # fnmatch pattern of the function that received the input


FORWARD_WRONG = Changed(
    "*",
    "wrong",
    "A function must leave the arrays it is given as they were: the caller still uses "
    "them (the forward pass's input is kept in the cache for the backward pass, the same "
    "batch goes through other layers, a loss's scores are read again for accuracy). Work "
    "on a copy (x.copy(), np.maximum(x, 0)) or on new arrays instead of writing into it.",
)
UPSTREAM_WHY = (
    "Your backward pass changed the upstream gradient it was given (dout, dh, dnext_h, "
    "dnext_c...) in place, for example with dout[mask] = 0 or dnext_c += .... It gives the "
    "right gradients here, but it breaks a network where one gradient feeds two branches "
    "(a residual connection, a hidden state read by the output layer and by the next time "
    "step): the other branch then receives your modified array. Write into a new array."
)
UPSTREAM_WARN = tuple(Changed(p, "warn", UPSTREAM_WHY) for p in ("dout*", "dh", "dnext_*", "da"))


@dataclass
class Case:
    """One probe with its inputs, the reference outputs and the outputs of each mistake."""

    label: str
    probe: Probe
    inputs: dict[str, np.ndarray]
    expected: Outputs
    variants: dict[str, Outputs] = field(default_factory=dict)


@dataclass(frozen=True)
class Part:
    grade_id: str
    title: str
    functions: tuple[str, ...]
    section: str
    mistakes: tuple[Mistake, ...]
    make_cases: Callable[[np.random.Generator], list[Case]]
    scalars: frozenset[str] = frozenset()  # outputs that may come back as any size-1 array
    nonfinite_mistake: str | None = None  # diagnosis when the output is NaN/inf but should not be
    changes: tuple[Changed, ...] = UPSTREAM_WARN  # first matching rule applies; else wrong
    loose: frozenset[str] = frozenset()  # outputs a mistake may leave right (bookkeeping)
    time_axis: int | None = None  # axis of the time steps in outputs with >= 3 axes
    gates: bool = False  # outputs whose last axis holds 4H columns are LSTM gate blocks

    def mistake(self, code: str) -> Mistake:
        return next(m for m in self.mistakes if m.code == code)

    def change_rule(self, name: str, function: str = "") -> Changed:
        """The policy for input ``name`` (without the case prefix) given to ``function``."""
        return next(
            r
            for r in [*self.changes, FORWARD_WRONG]
            if fnmatch.fnmatchcase(name, r.pattern) and fnmatch.fnmatchcase(function, r.function)
        )


@dataclass(frozen=True)
class AssignmentChecks:
    name: str
    notebook: str
    parts: tuple[Part, ...]
    limits: Limits = field(default_factory=Limits)


def planted(rng: np.random.Generator, x: np.ndarray, values) -> np.ndarray:
    """``x`` with ``values`` written at distinct random positions: a contract point (the
    largest magnitude of both signs, an exact zero, a tie) present on every seed."""
    x = np.array(x, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).ravel()
    where = rng.choice(x.size, size=values.size, replace=False)
    x.flat[where] = values
    return x


def steps_forward_backward(forward: str, backward: str, params: list[str], grads: list[str]):
    """Probe steps: ``out, cache = forward(x, *params)``; ``grads = backward(dout, cache)``."""
    return [
        {"call": forward, "args": [{"in": n} for n in ["x", *params]], "save": ["out", "cache"]},
        {"call": backward, "args": [{"in": "dout"}, {"var": "cache"}], "save": grads},
    ]


def rename_inputs(arg: dict, prefix: str) -> dict:
    """A probe argument with every input name prefixed, also inside dict, list and code
    arguments."""
    if "in" in arg:
        return {"in": prefix + arg["in"]}
    if "dict" in arg:
        return {"dict": {k: rename_inputs(v, prefix) for k, v in arg["dict"].items()}}
    if "list" in arg:
        return {"list": [rename_inputs(v, prefix) for v in arg["list"]]}
    if "code" in arg and arg.get("with"):
        return {**arg, "with": {k: rename_inputs(v, prefix) for k, v in arg["with"].items()}}
    return arg


def make_case(part: str, index: int, label: str, steps, send, inputs, expected, variants) -> Case:
    """Build a case whose input names are made unique across the whole plan."""
    prefix = f"{part}.{index}."
    renamed = []
    for step in steps:
        step = dict(step)
        if "args" in step:
            step["args"] = [rename_inputs(a, prefix) for a in step["args"]]
        renamed.append(step)
    probe = Probe(id=f"{part}#{index}", steps=renamed, send=list(send), group=part)
    return Case(
        label=label,
        probe=probe,
        inputs={prefix + k: np.asarray(v) for k, v in inputs.items()},
        expected=expected,
        variants=variants,
    )
