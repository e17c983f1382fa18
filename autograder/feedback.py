"""Per-student feedback: each part with its points and, when it failed, what differed and
which mistake the grader recognised, with a link to the book. Never the hidden checks'
code or inputs.

Written in nbgrader's feedback layout, ``<course>/feedback/<student>/<assignment>/<notebook>.html``
(and a ``.md`` twin for LMS comments), from the gradebook's scores, so manual grading,
comments and late penalties are included and the totals agree with the export.
"""

from __future__ import annotations

import html
from pathlib import Path

from .judge import PartResult
from .marks import Marks
from .records import SubmissionResult, atomic_write, copy_small_file

NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")
Pages = dict[str, str]  # file suffix -> rendered text

STATUS_TEXT = {
    "unreadable": "Your submission could not be read, so it was not graded.",
    "grader-error": "The grader failed on your submission. This is not your fault; your "
    "instructor has been told.",
}


KIND_TEXT = {  # how each kind of diagnosis (checks.base.Mistake.kind) is introduced
    "mistake": "Recognised mistake",
    "convention": "Another source's convention, not this course's",
    "possible": "Possible mistake (several fit your outputs equally)",
    "structure": "How your output relates to the right one",
    "changed": "An argument changed in place",
    "warning": "Warning, no points lost",
}


def _link(book_url: str, section: str) -> str:
    return f"{book_url.rstrip('/')}/{section}" if book_url else section


def part_lines(part: PartResult, book_url: str = "") -> list[tuple[str, str]]:
    """What was checked in one part and, when it failed, what differed and why."""
    out = []
    for case in part.cases:
        if case.passed:
            out.append(("ok", f"On {case.label}: correct."))
        else:
            out.append(("bad", f"On {case.label}: " + "; ".join(case.problems) + "."))
    for mistake in part.mistakes:
        link = _link(book_url, mistake["section"])
        label = KIND_TEXT.get(mistake.get("kind", "mistake"), "Recognised mistake")
        out.append(("mistake", f"{label}: {mistake['title']}."))
        out.append(("p", f"{mistake['explanation']} Read more: {link}"))
    return out


def verdict_text(part: PartResult, book_url: str = "") -> str:
    """The verdict of one part as plain text (the output of its graded cell)."""
    mark = "passed" if part.passed else "not passed"
    head = f"Autograder: {part.score:g} / {part.points:g} ({mark})"
    return "\n".join([head, *(text for _, text in part_lines(part, book_url))]) + "\n"


def lines(
    result: SubmissionResult, book_url: str = "", marks: Marks | None = None
) -> list[tuple[str, str]]:
    """The feedback as (kind, text) pairs, rendered to Markdown or HTML by the callers.

    With ``marks`` (the gradebook's view) the scores are the gradebook's: an instructor's
    manual score replaces the automatic one, comments and the late penalty are shown.
    """
    total = sum(p.points for p in result.parts)
    score = marks.total if marks else result.score
    out = [("h1", f"Feedback on {result.assignment} for {result.student}")]
    if result.status != "graded":
        out.append(("p", STATUS_TEXT.get(result.status, result.status)))
    if result.parts:
        out.append(("p", f"Score: {score:g} / {total:g}"))
    if marks and marks.penalty:
        out.append(("warn", f"Late submission: {marks.penalty:g} points deducted."))
    for problem in result.problems:
        out.append(("warn", problem))
    for part in result.parts:
        mark = "passed" if part.passed else "not passed"
        points = marks.scores.get(part.grade_id, part.score) if marks else part.score
        by_hand = " (set by your instructor)" if marks and part.grade_id in marks.manual else ""
        out.append(("h2", f"{part.title}: {points:g} / {part.points:g} ({mark}){by_hand}"))
        out.extend(part_lines(part, book_url))
        if marks and part.grade_id in marks.comments:
            out.append(("comment", f"Comment: {marks.comments[part.grade_id]}"))
    for cell, comment in (marks.comments if marks else {}).items():
        if cell not in {p.grade_id for p in result.parts}:
            out.append(("comment", f"Comment on '{cell}': {comment}"))
    for cell, error in result.cell_errors.items():
        out.append(("warn", f"Running your cell '{cell}' raised an error: {error}"))
    out.append(("small", f"Hidden checks drew their inputs with seed {result.seed}."))
    return out


MARKDOWN = {
    "h1": "# {}",
    "h2": "\n## {}",
    "ok": "- ✓ {}",
    "bad": "- ✗ {}",
    "mistake": "\n**{}**",
    "warn": "\n> {}",
    "comment": "\n> **{}**",
    "small": "\n_{}_",
}


def render_markdown(
    result: SubmissionResult, book_url: str = "", marks: Marks | None = None
) -> str:
    pairs = lines(result, book_url, marks)
    text = [MARKDOWN.get(kind, "\n{}").format(line) for kind, line in pairs]
    return "\n".join(text) + "\n"


def render_html(result: SubmissionResult, book_url: str = "", marks: Marks | None = None) -> str:
    body = []
    for kind, line in lines(result, book_url, marks):
        safe = html.escape(line)
        tag = {"h1": "h1", "h2": "h2"}.get(kind)
        if tag:
            body.append(f"<{tag}>{safe}</{tag}>")
        else:
            body.append(f'<p class="{kind}">{safe}</p>')
    style = (
        "body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}"
        ".ok{color:#1a7f37}.bad{color:#b42318}.mistake{font-weight:bold}"
        ".warn{background:#fff4e5;padding:.5em}.comment{background:#eef4ff;padding:.5em}"
        ".small{color:#666;font-size:.85em}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(result.assignment)} feedback</title><style>{style}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def render(result: SubmissionResult, book_url: str = "", marks: Marks | None = None) -> Pages:
    """The feedback pages of one submission: file suffix -> text, the HTML page last."""
    return {
        ".md": render_markdown(result, book_url, marks),
        ".html": render_html(result, book_url, marks),
    }


def write_feedback(
    folder: Path, notebook: str, pages: Pages, submitted: Path | None = None
) -> Path:
    """Write the rendered feedback ``pages`` of one submission into ``folder`` (nbgrader's
    ``feedback/<student>/<assignment>``) with the submission's ``timestamp.txt`` and
    ``submission_secret.txt`` from ``submitted``, which ``release_feedback`` needs.
    Returns the path of the page written last (the HTML)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in NBGRADER_FILES:
        if submitted is not None:
            copy_small_file(submitted / name, folder / name)
    for suffix, page in pages.items():
        path = atomic_write(folder / f"{notebook}{suffix}", page)
    return path
