"""Reading submitted notebooks: malformed files get a clear reason; the program is built
from the release's order with the student's answer cells only."""

from __future__ import annotations

import json
import logging
import os
import warnings

import nbformat
import pytest
from conftest import load_answers, load_release, write_submission
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.submission import (
    UnreadableSubmission,
    build_program,
    neutralise_magics,
    read_notebook,
)


def submitted_notebook(tmp_path, answers=None):
    path = write_submission(tmp_path, "s", "assignment1", answers or {})
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b"{not json"), "not valid JSON"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "not UTF-8"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: os.symlink("/etc/passwd", p), "symbolic link"),
        (lambda p: p.write_text('{"nbformat": 4, "nbformat_minor": 5}'), "not a readable"),
        (lambda p: None, "no notebook was submitted"),
    ],
    ids=["invalid-json", "not-utf8", "directory", "symlink", "no-cells", "missing"],
)
def test_malformed_files_get_a_specific_reason(tmp_path, make, reason):
    path = tmp_path / "nb.ipynb"
    make(path)
    with pytest.raises(UnreadableSubmission, match=reason):
        read_notebook(path)


def test_a_notebook_off_the_schema_is_read_as_nbformat_reads_it(tmp_path, caplog):
    """Schema faults in fields the grader never uses (a code cell without outputs, a
    duplicated cell id, an unknown top-level key) do not stop the grading: the notebook
    reads as ``nbformat.reads`` reads it, lines joined, without its logged complaint."""
    path = write_submission(tmp_path, "s", "assignment1", load_answers("assignment1"))
    raw = json.loads(path.read_text())
    raw["cells"][0].pop("outputs", None)
    raw["cells"][0]["cell_type"] = "code"
    raw["cells"][1]["id"] = raw["cells"][2]["id"] = "twice"
    raw["extra"] = [1, 2]
    for cell in raw["cells"]:  # sources as lists of lines, as Jupyter writes them
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(keepends=True)
    path.write_text(json.dumps(raw))
    with caplog.at_level(logging.ERROR):
        nb = read_notebook(path)
    assert not caplog.records
    with warnings.catch_warnings():  # nbformat warns that it mended the cell ids
        warnings.simplefilter("ignore")
        expected = nbformat.reads(path.read_text(), as_version=4)
    assert [c.source for c in nb.cells] == [c.source for c in expected.cells]
    assert all(isinstance(c.source, str) for c in nb.cells)
    program = build_program(load_release("assignment1"), nb)
    assert program.cells[1].source == load_answers("assignment1")["dense_forward"]


def test_an_oversized_notebook_is_refused(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_bytes(b" " * 2048)
    with pytest.raises(UnreadableSubmission, match="clear its outputs"):
        read_notebook(path, max_bytes=1024)


def test_the_program_takes_setup_from_the_release_and_answers_from_the_student(tmp_path):
    nb = submitted_notebook(tmp_path)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "setup":
            cell.source = "import os; os.system('rm -rf /')  # tampered locked cell"
    program = build_program(load_release("assignment1"), nb)
    ids = [c.id for c in program.cells]
    assert ids == ["setup:setup", "dense_forward", "dense_backward", "sigmoid", "relu", "mse"]
    assert "tampered" not in program.cells[0].source
    assert program.cells[1].source == load_answers("assignment1")["dense_forward"]
    assert program.problems == []


def test_test_cells_are_never_run(tmp_path):
    program = build_program(load_release("assignment1"), submitted_notebook(tmp_path))
    assert not any("rel_error(out, expected)" in c.source for c in program.cells)


def test_missing_duplicated_and_retyped_cells_are_reported(tmp_path):
    nb = submitted_notebook(tmp_path)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    nb.cells.remove(by_id["relu"])
    nb.cells.append(nbformat.from_dict(dict(by_id["mse"])))
    by_id["sigmoid"].cell_type = "markdown"
    nb.cells.reverse()  # order does not matter
    program = build_program(load_release("assignment1"), nb)
    text = " ".join(program.problems)
    assert "'relu' is missing" in text
    assert "'mse' appears more than once" in text
    assert "'sigmoid' was changed into a markdown cell" in text
    assert [c.id for c in program.cells] == [
        "setup:setup",
        "dense_forward",
        "dense_backward",
        "mse",
    ]


def test_magics_and_shell_escapes_are_commented_out():
    source = "%matplotlib inline\n!rm -rf /\nx = 1\n  %time y = 2\n"
    result = neutralise_magics(source)
    assert "x = 1" in result
    for line in result.splitlines():
        assert not line.lstrip().startswith(("%", "!"))


# Whatever JSON a student submits, reading it, building the program and writing the
# autograded notebook either work or say why in words: an exception escaping them would
# be a grader-error for that student (the grader's bug, not the student's).
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_IDS = [
    c.metadata.nbgrader["grade_id"]
    for c in load_release("assignment1").cells
    if "nbgrader" in c.metadata
]
_NBGRADER = st.dictionaries(
    st.sampled_from(["grade_id", "solution", "grade", "points", "locked", "cell_type"]),
    st.sampled_from([*_IDS, True, False, 2]) | _JSON,
)


@st.composite
def _cell(draw):
    keys = ["cell_type", "source", "metadata", "outputs", "execution_count", "id"]
    cell = draw(st.dictionaries(st.sampled_from(keys), _JSON))
    if draw(st.booleans()):  # close to a real cell, with drawn nbgrader metadata
        cell["cell_type"] = draw(st.sampled_from(["code", "markdown", "raw"]) | _JSON)
        cell["metadata"] = {"nbgrader": draw(_NBGRADER | _JSON)}
        cell["source"] = draw(st.text(max_size=30) | st.lists(st.text(max_size=8)) | _JSON)
        cell.setdefault("outputs", [])
    return draw(st.just(cell) | _JSON) if draw(st.integers(0, 9)) == 0 else cell


_NOTEBOOKS = st.fixed_dictionaries(
    {
        "cells": st.lists(_cell(), max_size=6) | _JSON,
        "metadata": st.just({}) | _JSON,
        "nbformat": st.sampled_from([4, 3, 2, 5]) | _JSON,
        "nbformat_minor": st.sampled_from([0, 5, 99]) | _JSON,
    }
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(notebook=_NOTEBOOKS)
def test_no_notebook_crashes_the_reader_or_the_autograded_notebook(tmp_path_factory, notebook):
    from autograder import autograded
    from autograder.checks import checks_for
    from autograder.grade_submission import grade_points, load_submission, zero_parts
    from autograder.records import SubmissionResult
    from autograder.submission import Submission

    path = tmp_path_factory.mktemp("s") / "assignment1.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    release = load_release("assignment1")
    submitted = load_submission(Submission("s", "assignment1", path))
    if isinstance(submitted, UnreadableSubmission):
        assert str(submitted)
    else:
        program = build_program(release, submitted)
        assert all(isinstance(c.source, str) for c in program.cells)
    result = SubmissionResult("s", "assignment1", 1, "graded")
    result.parts = zero_parts(checks_for("assignment1"), grade_points(release))
    text = autograded.build(json.loads(nbformat.writes(release)), submitted, result)
    assert json.loads(text)["cells"]
