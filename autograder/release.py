"""Release: hand-edited source -> instructor notebook -> student notebook.

``solutions/<a>/<a>.py`` (jupytext percent format, nbgrader metadata in the ``# %%``
headers) is the only file a person edits. From it this module writes the instructor
notebook ``solutions/<a>/<a>.ipynb`` and then asks nbgrader's own
``generate_assignment`` to write the student version into ``exercises/<a>/``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import jupytext
import nbformat
from traitlets.config import Config

from . import course


def course_config(root: Path, db_path: Path | None = None) -> Config:
    """nbgrader's configuration for the course rooted at ``root`` (read from nbgrader_config.py);
    the gradebook is the course's own unless ``db_path`` names another."""
    config = course.course_config(root)
    if db_path is not None:
        config.CourseDirectory.db_url = f"sqlite:///{db_path.resolve()}"
    return config


def assignments(root: Path) -> list[str]:
    """Names of the assignments that have a jupytext source, sorted."""
    return sorted(
        p.parent.name for p in (root / "solutions").glob("*/*.py") if p.stem == p.parent.name
    )


def source_path(root: Path, assignment: str) -> Path:
    return root / "solutions" / assignment / f"{assignment}.py"


def instructor_notebook(source: Path) -> nbformat.NotebookNode:
    """Read the jupytext source into an nbformat v4 notebook with stable cell ids.

    Cell ids are the nbgrader grade_id where there is one, otherwise ``cell-<index>``,
    so that regenerating an unchanged source gives byte-identical notebooks.
    """
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    nb.nbformat, nb.nbformat_minor = 4, 5
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", grade_id or f"cell-{index}")
    nbformat.validate(nb)
    return nb


def write_instructor_notebook(root: Path, assignment: str) -> Path:
    """solutions/<a>/<a>.py -> solutions/<a>/<a>.ipynb; returns the notebook's path."""
    nb = instructor_notebook(source_path(root, assignment))
    target = source_path(root, assignment).with_suffix(".ipynb")
    target.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return target


def generate_student_version(root: Path, assignment: str, db_path: Path | None = None) -> Path:
    """Run nbgrader's generate_assignment: solutions/<a>/ -> exercises/<a>/.

    nbgrader writes into a fresh folder beside the release and registers the assignment,
    its notebook and cells in the gradebook; only then is the old release swapped out,
    so a failed run leaves the previous release in place.
    """
    from nbgrader.apps import NbGraderAPI

    from .gradebook import ensure_alembic_on_path

    ensure_alembic_on_path()
    config = course_config(root, db_path)
    target = Path(config.CourseDirectory.root) / release_directory(config) / assignment
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{assignment}-", dir=target.parent))
    try:
        config.CourseDirectory.release_directory = str(scratch)
        result = NbGraderAPI(config=config).generate_assignment(assignment, force=True)
        if not result["success"]:
            raise RuntimeError(
                f"nbgrader generate_assignment failed:\n{result['log']}{result['error']}"
            )
        if target.exists():
            target.rename(scratch / "previous")
        (scratch / assignment).rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def release_directory(config: Config) -> str:
    """nbgrader's release folder name (``exercises`` in this course, ``release`` by default)."""
    return config.CourseDirectory.get("release_directory", "release")


def release(root: Path, assignment: str, db_path: Path | None = None) -> Path:
    """Regenerate the instructor and the student notebooks of one assignment."""
    write_instructor_notebook(root, assignment)
    return generate_student_version(root, assignment, db_path)
