"""Shared fixtures: the repository root, released notebooks, and submissions built from
them with chosen answer cells."""

from __future__ import annotations

import subprocess
import sys
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


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """One cold build of the whole book with warnings as errors, shared by the book and
    browser tests (into a temporary folder, so the execution cache starts empty)."""
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    assert jupyter_book.exists(), f"jupyter-book is not installed next to {sys.executable}"
    out = tmp_path_factory.mktemp("book")
    command = [str(jupyter_book), "build", str(ROOT), "--path-output", str(out)]
    result = subprocess.run(
        [*command, "-W", "-n", "--keep-going"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    log = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"the book build failed (exit {result.returncode}):\n{log}"
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def cpu_burner():
    """A process that keeps one core busy for as long as the module runs: the sandbox's
    tests must hold on a loaded machine."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    burner.kill()
    burner.wait()
