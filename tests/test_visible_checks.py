"""A visible self-check never rejects what the grader accepts.

Every correct variant in ``tests/variants_<assignment>.py`` (the answers that
``test_assignment_checks`` proves get full marks) is filled into the released
notebook, and all of its code cells, the notebook's own visible checks included, run
top to bottom in a plain Python subprocess (no sandbox): none may raise.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from conftest import load_answers, load_release

from autograder.checks import REGISTRY
from autograder.submission import fill_answers

SLOW = {"assignment6", "assignment7", "assignment8"}


def correct_params() -> list:
    out = []
    for assignment in sorted(REGISTRY):
        correct = importlib.import_module(f"variants_{assignment}").CORRECT
        marks = [pytest.mark.slow] if assignment in SLOW else []
        out += [
            pytest.param(assignment, name, marks=marks, id=f"{assignment}-{name}")
            for name in correct
        ]
    return out


def notebook_script(assignment: str, answers: dict[str, str]) -> str:
    """The code cells of the release filled with ``answers``, as one Python script."""
    notebook = fill_answers(load_release(assignment), {**load_answers(assignment), **answers})
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    # IPython-only lines (magics, shell escapes) have no meaning in a plain interpreter.
    lines = [
        line
        for source in cells
        for line in (source + "\n").splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("assignment", "name"), correct_params())
def test_correct_variant_passes_the_visible_checks(root, tmp_path, assignment, name):
    answers = importlib.import_module(f"variants_{assignment}").CORRECT[name]
    script = tmp_path / f"{assignment}_{name}.py"
    script.write_text(notebook_script(assignment, answers), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=root / "exercises" / assignment,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, (
        f"the visible checks of {assignment} reject the correct variant {name!r}, "
        f"which the grader accepts:\n{result.stderr[-3000:]}"
    )
