"""Find the student's notebook under Gradescope's submission folder.

Gradescope puts whatever the student uploaded into ``/autograder/submission``: one file
under any name, several files, or the unpacked folders of a zip. The notebook graded is
the readable ``.ipynb`` that holds the most of this assignment's answer cells (nbgrader
``grade_id``); a tie goes to the release's own file name, then to the shallowest path.
Nothing here raises because of what was submitted: every fault becomes an
``UnreadableSubmission`` with a message a student can act on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import nbformat

from ..submission import UnreadableSubmission, read_notebook

MAX_FILES = 1000  # entries looked at; an upload with more is surely not a notebook
SKIP_DIRS = {"__MACOSX", ".ipynb_checkpoints", ".git"}


@dataclass
class Found:
    """The notebook to grade (or why there is none), its file name and the sha256 of its
    bytes (of nothing when no file was read), which seeds the hidden inputs."""

    notebook: nbformat.NotebookNode | UnreadableSubmission
    name: str
    digest: str
    note: str = ""  # how the file was chosen among several, for the student


def answer_ids(release: nbformat.NotebookNode) -> list[str]:
    """The ``grade_id`` of every answer cell of the release, in order."""
    ids = []
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            ids.append(meta["grade_id"])
    return ids


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """(notebooks, other files) under ``folder``, links not followed, sorted."""
    notebooks, others = [], []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = Path(top) / name
            is_notebook = name.lower().endswith(".ipynb") and not name.startswith(".")
            (notebooks if is_notebook else others).append(path)
            if len(notebooks) + len(others) >= MAX_FILES:
                return notebooks, others
    return notebooks, others


def _ids_in(notebook: nbformat.NotebookNode) -> set[str]:
    ids = set()
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def _shown(names: list[str], limit: int = 5) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(n[:80] for n in names[:limit]) + more


def find_notebook(folder: Path, release: nbformat.NotebookNode, notebook: str) -> Found:
    """The notebook of this assignment under ``folder`` (``notebook``: the release's file
    stem, e.g. ``assignment1``)."""
    empty = hashlib.sha256(b"").hexdigest()
    wanted = f"{notebook}.ipynb"
    notebooks, others = _listing(folder) if folder.is_dir() else ([], [])
    if not notebooks:
        if not others:
            reason = f"nothing was submitted: upload your {wanted}"
        else:
            names = [str(p.relative_to(folder)) for p in others]
            reason = (
                f"no Jupyter notebook (.ipynb) is among the files you submitted "
                f"({_shown(names)}): upload your {wanted}"
            )
        return Found(UnreadableSubmission(reason), "", empty)
    ids = set(answer_ids(release))
    readable, errors = [], []
    for path in notebooks:
        name = str(path.relative_to(folder))
        try:
            nb = read_notebook(path)
        except UnreadableSubmission as error:
            errors.append((name, error))
            continue
        overlap = len(ids & _ids_in(nb))
        rank = (-overlap, path.name != wanted, len(path.parts), name)
        readable.append((rank, name, path, nb))
    readable.sort(key=lambda item: item[0])
    if readable and -readable[0][0][0] > 0:
        _, name, path, nb = readable[0]
        note = ""
        if len(notebooks) > 1:
            note = f"{name} was graded, the notebook with this assignment's answer cells "
            note += f"among the {len(notebooks)} you submitted"
        return Found(nb, name, hashlib.sha256(path.read_bytes()).hexdigest(), note)
    if readable:
        names = [name for _, name, _, _ in readable]
        which = f"{names[0]} is not" if len(names) == 1 else f"none of {_shown(names)} is"
        reason = (
            f"{which} the notebook of this assignment: no answer cell of it "
            f"({_shown(sorted(ids))}) is there. Did you upload another assignment's "
            f"notebook? Upload your {wanted}"
        )
        _, name, path, _ = readable[0]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return Found(UnreadableSubmission(reason), name, digest)
    name, error = errors[0]
    return Found(UnreadableSubmission(f"{name}: {error}"), name, empty)
