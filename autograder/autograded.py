"""The autograded notebook nbgrader's formgrader shows: ``autograded/<student>/<a>/<nb>.ipynb``.

Built from the *release* notebook, so every cell carries the release's nbgrader metadata
and locked cells their original text whatever the student changed (as nbgrader's own
autograde restores them): answer cells hold the student's code, and the output of each
graded cell is the autograder's verdict on that part (score, what differed, the
diagnosed mistake). The notebook's metadata says the autograder wrote it.
"""

from __future__ import annotations

import json

from .feedback import verdict_text
from .records import SubmissionResult
from .submission import UnreadableSubmission

MARKER = "autograder"


def _answers(submitted) -> dict[str, str]:
    """The student's source of every answer cell, by grade_id (first copy wins)."""
    answers: dict[str, str] = {}
    if isinstance(submitted, UnreadableSubmission):
        return answers
    for cell in submitted.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(gid, str) and isinstance(cell.get("source"), str):
            answers.setdefault(gid, cell["source"])
    return answers


def build(release: dict, submitted, result: SubmissionResult, book_url: str = "") -> str:
    """The autograded notebook of one submission (``submitted`` may be unreadable), as the
    JSON text nbformat would write (lines split, keys sorted), without its indentation.

    ``release`` is the release notebook as parsed JSON (``json.loads`` of its file, lines
    split as on disk); it is not modified: each cell is copied before it changes."""
    answers = _answers(submitted)
    parts = {p.grade_id: p for p in result.parts}
    note = "; ".join(result.problems)
    cells = []
    for cell in release["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        cell = dict(cell)
        if meta.get("solution") and gid in answers:
            cell["source"] = answers[gid].splitlines(keepends=True)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
            if meta.get("grade") and gid in parts:
                text = verdict_text(parts[gid], book_url) + (f"\n{note}\n" if note else "")
                lines = text.splitlines(keepends=True)
                cell["outputs"] = [{"name": "stdout", "output_type": "stream", "text": lines}]
        cells.append(cell)
    marker = {
        "status": result.status,
        "seed": result.seed,
        "submission_sha256": result.submission_sha256,
    }
    nb = {**release, "cells": cells, "metadata": {**release["metadata"], MARKER: marker}}
    return json.dumps(nb, sort_keys=True, ensure_ascii=False)


def written_by_nbgrader(data: bytes) -> bool:
    """An existing autograded notebook that the autograder did not write (nbgrader's own
    ``autograde`` wrote it, and its scores in the gradebook may be nbgrader's)."""
    return f'"{MARKER}":'.encode() not in data
