"""The learner-questions page names only mistakes the autograder really diagnoses, and
answers every question Q1..Q17."""

from __future__ import annotations

import re

from conftest import ROOT

from autograder.checks import REGISTRY

PAGE = ROOT / "book" / "questions.md"


def test_every_mistake_code_on_the_questions_page_exists():
    codes = {m.code for c in REGISTRY.values() for p in c.parts for m in p.mistakes}
    named = set(re.findall(r"(?<!\{ref\})`([a-z0-9]+(?:-[a-z0-9]+)+)`", PAGE.read_text()))
    assert named, "the page should name diagnosed mistakes"
    assert named <= codes, sorted(named - codes)


def test_every_learner_question_has_a_section_that_links_to_the_book():
    text = PAGE.read_text()
    for n in range(1, 18):
        label = f"(q{n})="
        assert label in text, f"Q{n} has no section"
        section = text.split(label, 1)[1].split("\n(q", 1)[0]
        assert "{ref}`" in section, f"Q{n} links to no book section"


def test_questions_are_listed_in_order():
    text = (ROOT / "book" / "questions.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^### Q(\d+)\.", text, re.MULTILINE)]
    assert numbers == list(range(1, 18))
