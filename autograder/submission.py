"""Submissions: find them in nbgrader's layout, read them defensively, extract the program.

The program that runs in the sandbox is built from the *release* notebook's order: the
release's own setup cells (trusted text) interleaved with the student's solution cells,
matched by nbgrader ``grade_id``. Test cells are never run: the hidden checks replace
them, and a student who edits a locked cell changes nothing.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .sandbox import Cell
from .sandbox.wire import clean_text

MAX_NOTEBOOK_BYTES = 200 * 1024 * 1024
MAX_CELL_SOURCE = 1 << 20  # characters of one answer cell
MAX_GRADE_ID = 200
SOLUTION_MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION"}
MAGIC = re.compile(r"^(\s*)([%!?].*)$", re.MULTILINE)


class UnreadableSubmission(Exception):
    """The submitted file cannot be read as a notebook; the message says why in plain words."""


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    path: Path


@dataclass
class Program:
    cells: list[Cell]
    problems: list[str] = field(default_factory=list)


def find_submissions(submitted: Path, assignment: str, notebook: str) -> list[Submission]:
    """Every ``<submitted>/<student>/<assignment>/<notebook>.ipynb``, sorted by student.

    A student folder without the notebook is still listed (its path does not exist), so
    that the student gets a result saying so.
    """
    found = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        path = student_dir / assignment / f"{notebook}.ipynb"
        found.append(Submission(student_name(student_dir.name), assignment, path))
    return found


def student_name(folder: str) -> str:
    """The student id of a folder name: bytes that are not UTF-8 (which Python keeps as
    lone surrogates) become visible escapes, so the id can be stored and printed."""
    return folder.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def parse_notebook(text: str) -> nbformat.NotebookNode:
    """``nbformat.reads(text, as_version=4)`` without its schema validation, which only
    logs a notebook that does not match the schema (and mends cell ids, which the grader
    never uses): it took over half of a submission's read (0.9 of 1.7 ms), and its first
    use in a process compiles the schema (about 80 ms). Every field is checked where used."""
    return nbformat.convert(nbformat.reader.reads(text), 4)


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> nbformat.NotebookNode:
    """Read a submitted notebook without following links or trusting its size or encoding."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise UnreadableSubmission(f"no notebook was submitted at {path.name}") from None
    if stat.S_ISLNK(info.st_mode):
        raise UnreadableSubmission("the submitted notebook is a symbolic link, not a file")
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableSubmission("the submitted notebook is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableSubmission("the submitted notebook is not a regular file")
    if info.st_size > max_bytes:
        raise UnreadableSubmission(
            f"the notebook is {info.st_size / 2**20:.0f} MB; clear its outputs and resubmit"
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableSubmission(
            f"the file is not UTF-8 text (byte {error.start}); was it saved by Jupyter?"
        ) from None
    try:
        nb = parse_notebook(text)
    except Exception as error:  # nbformat raises several unrelated types
        reason = "it is not valid JSON" if "JSON" in type(error).__name__ else str(error)[:200]
        raise UnreadableSubmission(
            f"the file is not a readable Jupyter notebook: {reason}"
        ) from None
    if not isinstance(nb.get("cells"), list):
        raise UnreadableSubmission("the notebook has no list of cells")
    return nb


def _nbgrader(cell) -> dict:
    """A cell's nbgrader metadata, or {} when it is absent or not an object."""
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell) -> str | None:
    """The cell's nbgrader id if it is a plain, printable string of sensible length."""
    gid = _nbgrader(cell).get("grade_id")
    if not isinstance(gid, str) or not 0 < len(gid) <= MAX_GRADE_ID or not gid.isprintable():
        return None
    try:
        gid.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    return gid


def _is_solution(cell) -> bool:
    return _nbgrader(cell).get("solution") is True


def _is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def neutralise_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes (``%...``, ``!...``): plain Python runs."""
    return MAGIC.sub(r"\1# (not run by the grader) \2", source)


def build_program(release: nbformat.NotebookNode, submitted: nbformat.NotebookNode) -> Program:
    """The cells to execute, in the release's order; problems with the submission in words."""
    theirs: dict[str, object] = {}
    problems = []
    for cell in submitted.cells:
        if not isinstance(cell, dict):
            continue
        gid = _grade_id(cell)
        if gid is None:
            continue
        if gid in theirs:
            problems.append(f"cell '{gid}' appears more than once; the first copy was graded")
            continue
        theirs[gid] = cell
    cells = []
    for cell in release.cells:
        if cell.cell_type != "code" or _is_test(cell):
            continue
        gid = _grade_id(cell) or f"release-{len(cells)}"
        if not _is_solution(cell):
            cells.append(Cell(f"setup:{gid}", cell.source))
            continue
        mine = theirs.get(gid)
        if mine is None:
            problems.append(f"the answer cell '{gid}' is missing from your notebook")
        elif mine.get("cell_type") != "code":
            kind = clean_text(str(mine.get("cell_type")), 40)
            problems.append(f"the answer cell '{gid}' was changed into a {kind} cell")
        elif not isinstance(mine.get("source"), str):
            problems.append(f"the answer cell '{gid}' has no readable source")
        elif len(mine["source"]) > MAX_CELL_SOURCE:
            problems.append(f"the answer cell '{gid}' is too long to be graded (over 1 MB)")
        else:
            cells.append(Cell(gid, neutralise_magics(mine["source"])))
    return Program(cells, problems)


def fill_answers(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``release`` with the answer cells named in ``answers`` replaced, as a
    student would submit it (used for the sample class, tests and benchmarks)."""
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in answers:
            cell.source = answers[gid]
    return nb


def solution_answers(instructor: nbformat.NotebookNode) -> dict[str, str]:
    """The instructor's answer cells (solution markers removed), by grade_id."""
    answers = {}
    for cell in instructor.cells:
        if _is_solution(cell):
            kept = [x for x in cell.source.splitlines() if x.strip() not in SOLUTION_MARKERS]
            answers[_grade_id(cell)] = "\n".join(kept)
    return answers
