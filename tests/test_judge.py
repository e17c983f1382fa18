"""The judge's general mechanisms on hand-made outcomes (no sandbox): inputs checked after
the call, matching that must explain every failing case, ties listed as possible, and
the structural relations of ``autograder.diagnosis``."""

from __future__ import annotations

import numpy as np
import pytest

from autograder import diagnosis
from autograder.checks.base import UPSTREAM_WARN, Changed, Mistake, Part, make_case
from autograder.judge import judge_part
from autograder.sandbox import Outcome

STEPS = [
    {"call": "f_forward", "args": [{"in": "x"}], "save": ["out", "cache"]},
    {"call": "f_backward", "args": [{"in": "dout"}, {"var": "cache"}], "save": ["dx"]},
]
MISTAKES = tuple(Mistake(c, f"title {c}", "why", "page.html#x") for c in ("neg", "half", "tie"))


def part(**kw) -> Part:
    return Part("test_f", "f", ("f_forward", "f_backward"), "page.html#f", MISTAKES, None, **kw)


def cases(rng, variants_of, count=3):
    out = []
    for k in range(count):
        x, dout = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
        inputs, expected = {"x": x, "dout": dout}, {"out": 2 * x, "dx": 2 * dout}
        variants = variants_of(k, x, dout)
        out.append(make_case("f", k, f"case {k}", STEPS, ["out", "dx"], inputs, expected, variants))
    return out


def outcome_of(cs, answer, change=None) -> Outcome:
    """The outcome of a student whose outputs are ``answer(case)``; ``change`` edits the
    inputs as they come back after the call."""
    outcome = Outcome()
    for case in cs:
        values = dict(answer(case))
        for name, value in case.inputs.items():
            after = value.copy()
            if change:
                change(name.rsplit(".", 1)[1], after)
            values[f"after:{name}"] = after
        outcome.values[case.probe.id] = values
    return outcome


def right(case):
    return {k: v.copy() for k, v in case.expected.items()}


def test_a_forward_pass_that_changes_x_loses_the_case_and_is_named(rng):
    cs = cases(rng, lambda k, x, d: {})
    result = judge_part(part(), cs, outcome_of(cs, right, lambda n, a: a.clip(0, out=a)), 3)
    assert result.score == 0
    assert "changed:x" in {m["code"] for m in result.mistakes}
    assert "`f_forward` changed its argument `x` in place" in result.cases[0].problems


def test_a_backward_pass_that_changes_dout_keeps_its_points_with_a_warning(rng):
    cs = cases(rng, lambda k, x, d: {})
    result = judge_part(
        part(), cs, outcome_of(cs, right, lambda n, a: a.fill(0) if n == "dout" else None), 3
    )
    assert result.score == 3
    assert [(m["code"], m["kind"]) for m in result.mistakes] == [("warning:dout", "warning")]


def test_a_change_the_part_allows_costs_nothing_and_rounding_is_no_change(rng):
    cs = cases(rng, lambda k, x, d: {})
    allowed = part(changes=(Changed("x", "allowed", ""), *UPSTREAM_WARN))
    only_x = outcome_of(cs, right, lambda n, a: a.fill(1) if n == "x" else None)
    assert not judge_part(allowed, cs, only_x, 3).mistakes
    nudge = lambda n, a: a.__iadd__(1e-14 * a)  # noqa: E731
    result = judge_part(part(), cs, outcome_of(cs, right, nudge), 3)
    assert result.score == 3 and not result.mistakes


def test_a_mistake_is_named_only_when_it_explains_every_failing_case(rng):
    # "neg" fits cases 0 and 1 but can be computed on case 2 too, where it does not fit.
    cs = cases(rng, lambda k, x, d: {"neg": {"out": 2 * x, "dx": -2 * d}})

    def answer(c):
        return {
            "out": c.expected["out"],
            "dx": -c.expected["dx"] * (1.5 if c.label == "case 2" else 1),
        }

    result = judge_part(part(), cs, outcome_of(cs, answer), 3)
    assert "neg" not in {m["code"] for m in result.mistakes}
    answer_all = lambda c: {"out": c.expected["out"], "dx": -c.expected["dx"]}  # noqa: E731
    result = judge_part(part(), cs, outcome_of(cs, answer_all), 3)
    assert [m["code"] for m in result.mistakes] == ["neg"]


def test_two_mistakes_that_fit_equally_are_both_listed_as_possible(rng):
    cs = cases(rng, lambda k, x, d: {c: {"out": 2 * x, "dx": -2 * d} for c in ("neg", "tie")})
    result = judge_part(
        part(), cs, outcome_of(cs, lambda c: {"out": c.expected["out"], "dx": -c.expected["dx"]}), 3
    )
    assert {(m["code"], m["kind"]) for m in result.mistakes} == {
        ("neg", "possible"),
        ("tie", "possible"),
    }


def test_a_fitting_mistake_that_a_passed_case_refutes_loses_the_tie(rng):
    # "tie" predicts a failure on case 2, which the student passed: "neg" is named alone.
    def variants(k, x, d):
        out = {"neg": {"out": 2 * x, "dx": -2 * d}} if k < 2 else {}
        out["tie"] = {"out": 2 * x, "dx": -2 * d}
        return out

    cs = cases(rng, variants)

    def answer(c):
        return (
            right(c) if c.label == "case 2" else {"out": c.expected["out"], "dx": -c.expected["dx"]}
        )

    result = judge_part(part(), cs, outcome_of(cs, answer), 3)
    assert [m["code"] for m in result.mistakes] == ["neg"]


def test_loose_outputs_do_not_stop_a_match(rng):
    cs = cases(rng, lambda k, x, d: {"half": {"out": x, "dx": 2 * d}})
    answer = lambda c: {"out": c.expected["out"] / 2, "dx": 3 * c.expected["dx"]}  # noqa: E731
    assert "half" not in {
        m["code"] for m in judge_part(part(), cs, outcome_of(cs, answer), 3).mistakes
    }
    loose = part(loose=frozenset({"dx"}))
    assert [m["code"] for m in judge_part(loose, cs, outcome_of(cs, answer), 3).mistakes] == [
        "half"
    ]


def test_without_a_catalogued_match_the_common_relation_is_named(rng):
    cs = cases(rng, lambda k, x, d: {})
    answer = lambda c: {"out": c.expected["out"], "dx": c.expected["dx"] / 4}  # noqa: E731
    result = judge_part(part(), cs, outcome_of(cs, answer), 3)
    assert [(m["code"], m["kind"]) for m in result.mistakes] == [
        ("structure:dx:factor-1/N", "structure")
    ]


def ctx(inputs=None, batch=4, time_axis=None, gates=False):
    return diagnosis.Context(inputs or {}, batch, time_axis, gates)


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda e, x: -e, "negative"),
        (lambda e, x: 4 * e, "factor-N"),
        (lambda e, x: e / 4, "factor-1/N"),
        (lambda e, x: 0.5 * e, "factor-1/2"),
        (lambda e, x: 3.7 * e, "factor-3.7"),
        (lambda e, x: np.zeros_like(e), "zeros"),
        (lambda e, x: x.copy(), "input-x"),
        (lambda e, x: np.where(x == 0, 1.0, e), "at-zero"),
        (lambda e, x: np.where(np.abs(x) > 100, np.nan, e), "at-large"),
    ],
)
def test_each_relation_is_recognised(rng, make, key):
    x = rng.normal(size=(4, 5))
    x[0, 0], x[1, 1], x[2, 2] = 0.0, 800.0, -800.0
    expected = rng.normal(size=(4, 5))
    assert key in diagnosis.relations("dx", make(expected, x), expected, ctx({"x": x}))


def test_transpose_gate_block_and_time_steps(rng):
    square = rng.normal(size=(3, 3))
    assert "transpose" in diagnosis.relations("dw", square.T, square, ctx())
    db = rng.normal(size=8)
    wrong = db.copy()
    wrong[2:4] *= 3  # the forget gate's block of 4H = 8 columns
    assert "gate-1" in diagnosis.relations("db", wrong, db, ctx(gates=True))
    dx = rng.normal(size=(2, 5, 3))
    first = dx.copy()
    first[:, 0] = 0
    words = diagnosis.relations("dx", first, dx, ctx(time_axis=1))
    assert "steps: the first time step" in words
    last = dx.copy()
    last[:, :-1] = 0
    assert "steps: every time step but the last" in diagnosis.relations(
        "dx", last, dx, ctx(time_axis=1)
    )


def test_an_update_whose_step_is_flipped_or_scaled_is_described(rng):
    w, expected = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    flipped = w - (expected - w)
    assert "step-negative" in diagnosis.relations("w", flipped, expected, ctx({"w": w}))
    scaled = w + 100.0 * (expected - w)
    assert "step-factor-100" in diagnosis.relations("w", scaled, expected, ctx({"w": w}))


def test_ties_are_recognised(rng):
    x = rng.normal(size=(2, 4, 4))
    x[0, 1, 1] = x[0, 1, 2] = x[1, 3, 0] = x[1, 2, 0] = 2.5  # tied maxima
    expected = rng.normal(size=x.shape)
    tied = diagnosis._tied(x)
    assert tied.any() and not tied.all()
    assert "at-ties" in diagnosis.relations(
        "dx", np.where(tied, 0.0, expected), expected, ctx({"x": x})
    )


@pytest.fixture
def rng():
    return np.random.default_rng(11)
