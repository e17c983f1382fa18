"""A judged submission as Gradescope's ``results.json``.

Format (https://gradescope-autograders.readthedocs.io/en/latest/specs/#output-format):
top-level ``output`` (a summary), ``execution_time`` (seconds), ``visibility`` and
``stdout_visibility``, ``extra_data``, and ``tests``, each with ``name``, ``score``,
``max_score``, ``status``, ``output`` and ``visibility``. Gradescope adds up the tests'
scores. Every text is plain (``output_format`` ``text``): file names, cell ids and error
messages come from the student and must not be rendered as HTML or Markdown.

The first test, "Your submission", carries no score and is always visible: which file was
graded and what was wrong with it (unreadable, another assignment, a missing answer cell,
an error in a cell), so a student can fix and resubmit even while the parts are hidden.
Then one test per graded part, shown as the ``Policy`` says.
"""

from __future__ import annotations

import math

from ..feedback import STATUS_TEXT, _link
from ..judge import PartResult
from ..records import SubmissionResult
from .locate import Found
from .policy import WHEN, Policy


def part_output(part: PartResult, book_url: str) -> str:
    """What differed on each case of one part and the mistakes recognised, in words."""
    if not part.cases:
        return "Not graded: see “Your submission” above."
    passed = sum(case.passed for case in part.cases)
    lines = [f"{passed} of {len(part.cases)} checks passed."]
    for case in part.cases:
        if case.passed:
            lines.append(f"✓ On {case.label}: correct.")
        else:
            lines.append(f"✗ On {case.label}: " + "; ".join(case.problems) + ".")
    for mistake in part.mistakes:
        lines.append("")
        lines.append(f"Recognised mistake: {mistake['title']}.")
        lines.append(f"{mistake['explanation']} Read more: {_link(book_url, mistake['section'])}")
    return "\n".join(lines)


def submission_test(result: SubmissionResult, found: Found, policy: Policy) -> dict:
    """The unscored, always visible check of the submission itself."""
    lines = [f"Notebook: {found.name[:200]}"] if found.name else []
    if found.note:
        lines.append(found.note[:300] + ".")
    if result.status != "graded":
        lines.append(STATUS_TEXT.get(result.status, result.status))
    if result.status != "grader-error":  # the grader's own reason goes to stdout
        lines += [f"Problem: {problem}" for problem in result.problems]
    for cell, error in result.cell_errors.items():
        lines.append(f"Running your cell '{cell}' raised an error: {error}")
    ok = result.status == "graded" and not result.problems and not result.cell_errors
    if ok:
        lines.append("Your notebook was read and every answer cell ran.")
    return {
        "name": "Your submission",
        "status": "passed" if ok else "failed",
        "output": policy.cap("\n".join(lines)),
        "visibility": "visible",
    }


def summary(result: SubmissionResult, policy: Policy) -> str:
    """The top-level output: the total, or when the parts will be shown."""
    total = sum(p.points for p in result.parts)
    lines = [f"{result.assignment}"]
    if result.status != "graded":
        lines.append(STATUS_TEXT.get(result.status, result.status))
        if result.status == "unreadable":
            lines += result.problems[:3]
    elif policy.deferred:
        lines.append(
            "Your notebook was received and graded. The score and the results of each "
            f"part are shown {WHEN[policy.visibility]}."
        )
    else:
        lines.append(f"Score: {result.score:g} / {total:g}.")
    if result.status == "graded":
        lines.append(
            "The hidden checks call your functions on inputs you have not seen; a changed "
            f"notebook gets new inputs (this one: seed {result.seed})."
        )
    return policy.cap("\n".join(lines))


def results_json(result: SubmissionResult, found: Found, policy: Policy, seconds: float) -> dict:
    """The whole ``results.json`` of one submission."""
    tests = [submission_test(result, found, policy)]
    for number, part in enumerate(result.parts, start=1):
        tests.append(
            {
                "name": part.title,
                "number": str(number),
                "score": part.score,
                "max_score": part.points,
                "status": "passed" if part.cases and part.passed else "failed",
                "output": policy.cap(part_output(part, policy.book_url)),
                "visibility": policy.visibility,
                "extra_data": {"grade_id": part.grade_id},
            }
        )
    return {
        "execution_time": math.ceil(seconds),
        "output": summary(result, policy),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "visibility": policy.visibility,
        "stdout_visibility": "hidden",
        "extra_data": {
            "assignment": result.assignment,
            "status": result.status,
            "seed": result.seed,
            "sha256": found.digest,
            "isolation": result.isolation,
        },
        "tests": tests,
    }


def failure_json(seconds: float) -> dict:
    """``results.json`` when the grader itself failed before it had a result (the reason
    is printed to stdout, which only the instructor sees)."""
    return {
        "score": 0.0,
        "execution_time": math.ceil(seconds),
        "output": STATUS_TEXT["grader-error"],
        "output_format": "text",
        "stdout_visibility": "hidden",
        "extra_data": {"status": "grader-error"},
        "tests": [],
    }
