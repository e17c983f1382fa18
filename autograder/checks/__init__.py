"""Hidden checks, one module per assignment, looked up by assignment name."""

from __future__ import annotations

from .assignment1 import CHECKS as ASSIGNMENT1
from .base import AssignmentChecks, Case, Mistake, Part

REGISTRY: dict[str, AssignmentChecks] = {c.name: c for c in (ASSIGNMENT1,)}


def checks_for(assignment: str) -> AssignmentChecks:
    try:
        return REGISTRY[assignment]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"no hidden checks for {assignment!r}; known: {known}") from None


__all__ = ["REGISTRY", "AssignmentChecks", "Case", "Mistake", "Part", "checks_for"]
