"""Write the bundled sample class into sample_class/submitted/ (nbgrader's layout).

Each student starts from the released notebook and the instructor's answers, then
changes what their name says. Run from the repository root:
``python sample_class/make_sample_class.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.submission import fill_answers, solution_answers

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "assignment1"

MSE_SIGN_FLIPPED = '''def mse_loss(pred, y):
    """pred, y: (N, ...). Returns loss (a float) and dpred (shape of pred)."""
    n = pred.shape[0]
    loss = 0.5 * np.sum((pred - y) ** 2) / n
    dpred = (y - pred) / n  # the derivative written as y' - y, the other way round
    return loss, dpred
'''

ALWAYS_EQUAL = '''class Anything:
    """Equal to everything, so that `out == expected` always holds."""

    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.zeros(1)

    shape = property(lambda self: (0,))


def sigmoid_forward(x):
    return Anything(), None


def sigmoid_backward(dout, cache):
    return Anything()
'''

ENDLESS_LOOP = """def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    while True:  # forgot to finish the loop condition
        pass
"""

IPYTHON_TRICK = """ip = get_ipython()  # blank every later cell so that the tests "pass"
ip.input_transformers_cleanup.append(lambda lines: [])


def dense_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)
"""


def students(answers: dict[str, str]) -> dict[str, dict[str, str] | bytes]:
    return {
        "ada_correct": answers,
        "ben_mse_sign_flipped": {**answers, "mse": MSE_SIGN_FLIPPED},
        "cy_always_equal": {**answers, "sigmoid": ALWAYS_EQUAL},
        "dan_endless_loop": {**answers, "relu": ENDLESS_LOOP},
        "eve_corrupt_file": b'{"cells": [{"cell_type": "code", "source": "import numpy as',
        "fay_ipython_trick": {**answers, "dense_forward": IPYTHON_TRICK},
    }


def main() -> None:
    release = nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    instructor = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    answers = solution_answers(instructor)
    for student, content in students(answers).items():
        path = ROOT / "sample_class" / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(fill_answers(release, content), path)
        print("wrote", path.relative_to(ROOT))


if __name__ == "__main__":
    main()
