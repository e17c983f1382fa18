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
"""

from __future__ import annotations

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

    def mistake(self, code: str) -> Mistake:
        return next(m for m in self.mistakes if m.code == code)


@dataclass(frozen=True)
class AssignmentChecks:
    name: str
    notebook: str
    parts: tuple[Part, ...]
    limits: Limits = field(default_factory=Limits)


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
