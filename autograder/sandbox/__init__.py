"""Running student code: a fresh, jailed interpreter (``child.py``) and the parent that
drives it (``runner.py``) through a pipe of plain arrays (``wire.py``)."""

from .runner import Cell, Isolation, Limits, Outcome, Probe, run

__all__ = ["Cell", "Isolation", "Limits", "Outcome", "Probe", "run"]
