"""Every assignment notebook links to its chapters by their real titles, at the
published book's address (``html.baseurl`` in ``_config.yml``), with anchors that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from autograder.release import assignments

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\[\*(?P<title>[^\]]+?)\*\]\((?P<url>[^)\s]+)\)")


def base_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["html"]["baseurl"]


def chapter_titles() -> dict[str, str]:
    """'book/<page>.html' -> the page's first-level heading, for every page in the toc."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    titles = {}
    for page in re.findall(r"file:\s*(\S+)", toc):
        text = (ROOT / f"{page}.md").read_text(encoding="utf-8")
        titles[f"{page}.html"] = re.search(r"^# (.+)$", text, re.MULTILINE).group(1)
    return titles


def intro_links(assignment: str) -> list[tuple[str, str]]:
    """(title, url) of the chapter links in the notebook's first markdown cell."""
    source = (ROOT / "solutions" / assignment / f"{assignment}.py").read_text(encoding="utf-8")
    intro = source.split("# %%")[1]
    text = " ".join(line.lstrip("# ").strip() for line in intro.splitlines())
    return [(m["title"], m["url"]) for m in LINK.finditer(text)]


@pytest.mark.parametrize("assignment", assignments(ROOT))
def test_notebook_links_its_chapters_by_title(assignment):
    links = intro_links(assignment)
    assert links, f"{assignment} does not link to a chapter of the book"
    base, titles = base_url(), chapter_titles()
    for title, url in links:
        assert url.startswith(base), f"{url} is not under the book's address {base}"
        page, _, anchor = url[len(base) :].partition("#")
        assert page in titles, f"{url} names no page of the book"
        assert " ".join(title.split()) == titles[page], f"{page} is called {titles[page]!r}"
        if anchor:
            text = (ROOT / page.replace(".html", ".md")).read_text(encoding="utf-8")
            assert f"({anchor})=" in text, f"{page} has no label {anchor!r}"


def test_base_url_is_absolute():
    assert re.fullmatch(r"https://[^/\s]+/(\S*/)?", base_url())
