"""Running student code: a fork server (``child.py``) inside bubblewrap (``isolation.py``)
with a cgroup per worker (``cgroup.py``), started by ``zygote.py`` and driven by
``runner.py`` through pipes of validated frames (``wire.py``)."""

from .isolation import Isolation, Limits
from .runner import Cell, Outcome, Probe, run

__all__ = ["Cell", "Isolation", "Limits", "Outcome", "Probe", "run"]
