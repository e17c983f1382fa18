"""Per-student feedback: each part with its points and, when it failed, what differed and
which mistake the grader recognised, with a link to the book. Never the hidden checks'
code or inputs.

Written in nbgrader's feedback layout: ``<out>/feedback/<student>/<assignment>/<notebook>.html``
(and a ``.md`` twin for LMS comments).
"""

from __future__ import annotations

import html
from pathlib import Path

from .records import SubmissionResult

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


def lines(result: SubmissionResult, book_url: str = "") -> list[tuple[str, str]]:
    """The feedback as (kind, text) pairs, rendered to Markdown or HTML by the callers."""
    total = sum(p.points for p in result.parts)
    out = [("h1", f"Feedback on {result.assignment} for {result.student}")]
    if result.status != "graded":
        out.append(("p", STATUS_TEXT.get(result.status, result.status)))
    if result.parts:
        out.append(("p", f"Score: {result.score:g} / {total:g}"))
    for problem in result.problems:
        out.append(("warn", problem))
    for part in result.parts:
        mark = "passed" if part.passed else "not passed"
        out.append(("h2", f"{part.title}: {part.score:g} / {part.points:g} ({mark})"))
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
    "small": "\n_{}_",
}


def render_markdown(result: SubmissionResult, book_url: str = "") -> str:
    text = [MARKDOWN.get(kind, "\n{}").format(line) for kind, line in lines(result, book_url)]
    return "\n".join(text) + "\n"


def render_html(result: SubmissionResult, book_url: str = "") -> str:
    body = []
    for kind, line in lines(result, book_url):
        safe = html.escape(line)
        tag = {"h1": "h1", "h2": "h2"}.get(kind)
        if tag:
            body.append(f"<{tag}>{safe}</{tag}>")
        else:
            body.append(f'<p class="{kind}">{safe}</p>')
    style = (
        "body{font-family:sans-serif;max-width:48em;margin:2em auto;line-height:1.5}"
        ".ok{color:#1a7f37}.bad{color:#b42318}.mistake{font-weight:bold}"
        ".warn{background:#fff4e5;padding:.5em}.small{color:#666;font-size:.85em}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(result.assignment)} feedback</title><style>{style}</style></head>"
        "<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_feedback(out: Path, notebook: str, result: SubmissionResult, book_url: str = "") -> Path:
    """Write the HTML and Markdown feedback of one submission; returns the HTML path."""
    folder = out / "feedback" / result.student / result.assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{notebook}.md").write_text(render_markdown(result, book_url), encoding="utf-8")
    path = folder / f"{notebook}.html"
    path.write_text(render_html(result, book_url), encoding="utf-8")
    return path
