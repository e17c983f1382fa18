"""Backpropagation course: reference implementations and a sandboxed autograder.

Data flows through the package in this order:

``release`` (solutions -> exercises) -> ``submission`` (read a submitted notebook)
-> ``sandbox`` (run the student's cells in a limited child process)
-> ``judge`` (compare plain arrays with ``reference`` in the parent)
-> ``records`` / ``feedback`` (nbgrader gradebook, JSON record, per-student report).
"""

__version__ = "0.1.0"
