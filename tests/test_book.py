"""The course book builds offline with warnings as errors, and its pages are complete.

One cold build (into a temporary folder, so the execution cache starts empty) is
shared by every test here; it takes well under a minute on a two-core machine.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from autograder.checks import REGISTRY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "backprop-dense"
# Section labels that the autograder's feedback links to (page.html#label).
LABELS = (
    "dense-forward",
    "dense-backward",
    "bias-gradient",
    "activation-backward",
    "relu-at-zero",
    "mse-loss",
    "sign-conventions",
    "units-and-shapes",
)


class PageParser(HTMLParser):
    """Collects what the tests look at: images, figures with images, scripts, ids, links."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.scripts: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.math = 0
        self.figures_with_image = 0
        self._figure_depth = 0
        self._figure_has_image = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if "id" in attr:
            self.ids.add(attr["id"])
        if "math" in attr.get("class", "").split():
            self.math += 1
        if tag == "figure":
            if self._figure_depth == 0:
                self._figure_has_image = False
            self._figure_depth += 1
        elif tag == "img":
            self.images.append(attr.get("src", ""))
            if self._figure_depth:
                self._figure_has_image = True
        elif tag == "script" and attr.get("src"):
            self.scripts.append(attr["src"])
        elif tag == "a" and attr.get("href"):
            self.links.append(attr["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._figure_depth:
            self._figure_depth -= 1
            if self._figure_depth == 0 and self._figure_has_image:
                self.figures_with_image += 1


def parse(page: Path) -> PageParser:
    parser = PageParser()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def local_target(page: Path, url: str) -> Path:
    """The file a relative URL on ``page`` points to; fails for anything not local."""
    parts = urlsplit(url)
    assert not parts.scheme and not parts.netloc, f"{page.name} loads {url} from the network"
    return (page.parent / unquote(parts.path)).resolve()


@pytest.fixture(scope="module")
def html(built_book: Path) -> Path:
    return built_book


@pytest.fixture(scope="module")
def chapter(html: Path) -> Path:
    pages = sorted(html.rglob(f"{CHAPTER}.html"))
    assert pages, f"no {CHAPTER}.html under {html}"
    return pages[0]


def test_chapter_renders_math_with_local_mathjax(chapter: Path) -> None:
    page = parse(chapter)
    assert page.math >= 20, "the chapter should contain rendered math markup"
    mathjax = [src for src in page.scripts if "mathjax" in src.lower()]
    assert mathjax, "no MathJax script on the chapter page"
    for src in mathjax:
        target = local_target(chapter, src)
        assert target.is_file() and target.stat().st_size > 0, f"MathJax missing at {target}"
        # The chtml output loads its fonts lazily, relative to the script.
        assert any((target.parent / "output" / "chtml" / "fonts").rglob("*.woff"))


def test_chapter_images_exist_and_figures(chapter: Path) -> None:
    page = parse(chapter)
    assert page.images, "the chapter has no images"
    for src in page.images:
        if src.startswith("data:"):
            continue
        target = local_target(chapter, src)
        assert target.is_file(), f"missing image {src}"
        assert target.stat().st_size > 0, f"empty image {src}"
    assert page.figures_with_image >= 2, f"only {page.figures_with_image} figures"


def test_chapter_has_feedback_labels(chapter: Path) -> None:
    missing = [label for label in LABELS if label not in parse(chapter).ids]
    assert not missing, f"section labels missing from {chapter.name}: {missing}"


def test_chapter_offers_its_notebook(chapter: Path) -> None:
    notebooks = [href for href in parse(chapter).links if href.endswith(f"{CHAPTER}.ipynb")]
    assert notebooks, "no .ipynb download link on the chapter page"
    target = local_target(chapter, notebooks[0])
    assert target.is_file() and target.stat().st_size > 0


def test_bibliography_lists_the_sources(html: Path, chapter: Path) -> None:
    pages = sorted(html.rglob("bibliography.html"))
    assert pages, "no bibliography page"
    text = pages[0].read_text(encoding="utf-8")
    for name in ("Rumelhart", "Werbos", "Hochreiter", "Kingma", "Cortes"):
        assert name in text, f"{name} missing from the bibliography"
    citations = [href for href in parse(chapter).links if "bibliography.html#" in href]
    assert citations, "the chapter's citations do not link to the bibliography"


def linked_sections() -> set[str]:
    """Every "book/page.html#label" that feedback or a notebook links to: the sections of
    the autograder's parts and mistakes, and the chapter links in solutions/<a>/<a>.py."""
    sections = {part.section for check in REGISTRY.values() for part in check.parts}
    sections |= {m.section for c in REGISTRY.values() for p in c.parts for m in p.mistakes}
    for source in ROOT.glob("solutions/*/*.py"):
        sections |= set(re.findall(r"/(book/[a-z0-9-]+\.html(?:#[a-z0-9-]+)?)", source.read_text()))
    return sections


def test_every_linked_section_is_on_its_page(html: Path) -> None:
    sections = linked_sections()
    assert len(sections) > 30, sorted(sections)
    missing = []
    for section in sorted(sections):
        page, _, label = section.partition("#")
        target = html / page
        if not target.is_file() or (label and label not in parse(target).ids):
            missing.append(section)
    assert not missing, f"links to sections that are not on their page: {missing}"
