"""Hidden checks, one module per assignment, looked up by assignment name."""

from __future__ import annotations

from .assignment1 import CHECKS as ASSIGNMENT1
from .assignment2 import CHECKS as ASSIGNMENT2
from .assignment3 import CHECKS as ASSIGNMENT3
from .assignment4 import CHECKS as ASSIGNMENT4
from .assignment5 import CHECKS as ASSIGNMENT5
from .assignment6 import CHECKS as ASSIGNMENT6
from .assignment7 import CHECKS as ASSIGNMENT7
from .assignment8 import CHECKS as ASSIGNMENT8
from .base import AssignmentChecks, Case, Mistake, Part

REGISTRY: dict[str, AssignmentChecks] = {
    c.name: c
    for c in (
        ASSIGNMENT1,
        ASSIGNMENT2,
        ASSIGNMENT3,
        ASSIGNMENT4,
        ASSIGNMENT5,
        ASSIGNMENT6,
        ASSIGNMENT7,
        ASSIGNMENT8,
    )
}


def checks_for(assignment: str) -> AssignmentChecks:
    try:
        return REGISTRY[assignment]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"no hidden checks for {assignment!r}; known: {known}") from None


__all__ = ["REGISTRY", "AssignmentChecks", "Case", "Mistake", "Part", "checks_for"]
