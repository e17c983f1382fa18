"""What students see on Gradescope, fixed when the archive is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Gradescope's visibility values, from most to least shown: always, after the due date
# (the late due date if there is one), once the instructor publishes grades, never.
VISIBILITY = ("visible", "after_due_date", "after_published", "hidden")
WHEN = {
    "after_due_date": "after the due date",
    "after_published": "when your instructor publishes the grades",
    "hidden": "only to your instructor",
}


@dataclass(frozen=True)
class Policy:
    """``visibility``: when each part's score and diagnosis are shown (Gradescope hides
    the total while parts are hidden). ``max_output_chars``: cap on every text shown.
    ``book_url``: base URL that the diagnosis links into (empty: relative links)."""

    visibility: str = "visible"
    max_output_chars: int = 4000
    book_url: str = ""

    def __post_init__(self) -> None:
        if self.visibility not in VISIBILITY:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITY)}")
        if self.max_output_chars < 200:
            raise ValueError("max_output_chars must be at least 200")

    @property
    def deferred(self) -> bool:
        return self.visibility != "visible"

    def cap(self, text: str) -> str:
        """``text`` cut to ``max_output_chars``, saying how much was cut."""
        if len(text) <= self.max_output_chars:
            return text
        keep = self.max_output_chars - 60  # room for the note, whatever the number
        return f"{text[:keep]}\n… ({len(text) - keep} more characters not shown)"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Policy:
        return cls(**{k: data[k] for k in ("visibility", "max_output_chars", "book_url")})
