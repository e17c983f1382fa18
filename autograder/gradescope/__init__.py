"""The grader as a Gradescope autograder.

``archive`` (on the instructor's machine) writes the zip that Gradescope builds its image
from; inside the container ``run`` finds the student's notebook (``locate``), grades it
with the same sandbox and judge as ``autograder grade``, and writes
``/autograder/results/results.json`` (``results``) under a student-facing ``Policy``.

Gradescope's contract: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

from .policy import VISIBILITY, Policy

__all__ = ["VISIBILITY", "Policy"]
