"""Shared fixtures: the repository root, released notebooks, and submissions built from
them with chosen answer cells."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.submission import fill_answers, solution_answers

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def load_release(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)


def load_answers(assignment: str) -> dict[str, str]:
    path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    return solution_answers(nbformat.read(path, as_version=4))


def write_submission(submitted: Path, student: str, assignment: str, content) -> Path:
    """Write one student's notebook in nbgrader's layout. ``content`` is a dict of answer
    cells (merged over the instructor's answers), a notebook node or raw bytes."""
    path = submitted / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        answers = {**load_answers(assignment), **content}
        nbformat.write(fill_answers(load_release(assignment), answers), path)
    else:
        nbformat.write(content, path)
    return path
