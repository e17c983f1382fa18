"""The built book works in a real browser: math typeset, images loaded, no console
errors, no requests leaving the machine, next/previous links walk the table of contents,
the search page finds pages, and every page is readable at a desktop (1280 px) and a
phone (390 px) width: no equation, output, table or figure spills out of the text column
(wide ones scroll in a box of their own) and no figure text renders below 9 px.

One cold build of the book (as in test_book.py), served on 127.0.0.1 by a thread of this
process, visited by headless Chromium through Playwright. Every page listed in the
built site's navigation is opened once; a screenshot of each is saved to
test-artifacts/screenshots/ at the repository root. Set BROWSER_TEST_HTML to the
``_build/html`` folder of an existing build to skip the build while working on this file.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urlsplit

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SEARCH_WORD = "vanishing"
TIMEOUT_MS = 30_000
# Not needed to follow links: MathJax (a large deferred script that delays every page's
# DOMContentLoaded) and the figures.
HEAVY = re.compile(r"/_static/mathjax/|/_images/")

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the Python package playwright is not installed (pip install playwright)",
)
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}; the browser test needs it", allow_module_level=True)

# JavaScript run in the page. Images may be lazy: make them eager and wait (at most 15 s)
# until each has loaded or failed, then report their natural widths.
IMAGES_JS = """
async () => {
  const images = [...document.images];
  for (const img of images) img.loading = "eager";
  const settled = images.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener("load", done);
    img.addEventListener("error", done);
  }));
  await Promise.race([Promise.all(settled), new Promise(done => setTimeout(done, 15000))]);
  return images.map(img => ({src: img.currentSrc || img.src, width: img.naturalWidth}));
}
"""
# Wait for MathJax's first typesetting pass if the page loads MathJax at all.
MATHJAX_READY_JS = """
async () => {
  if (!document.querySelector("script[src*='mathjax' i]")) return false;
  for (let i = 0; i < 300 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++) {
    await new Promise(done => setTimeout(done, 100));
  }
  await MathJax.startup.promise;
  return true;
}
"""
MATH_JS = """
() => {
  const math = [...document.querySelectorAll("span.math, div.math")];
  return {
    markup: math.length,
    untypeset: math.filter(el => !el.querySelector("mjx-container")).length,
    containers: document.querySelectorAll("mjx-container").length,
    errors: document.querySelectorAll("mjx-merror").length,
  };
}
"""
# Elements of the article that stick out of its column, unless a scroll box (an ancestor
# or the element itself with overflow-x auto/scroll) that fits the column holds them.
OVERFLOW_JS = """
() => {
  const article = document.querySelector("article.bd-article");
  if (!article) return ["no article.bd-article on the page"];
  const limit = article.getBoundingClientRect().right + 1;
  const selector = "div.math, mjx-container[display='true'], div.cell_output pre, " +
                   "div.output pre, table, figure, img";
  const scrollBox = el => {
    for (let e = el; e && e !== article; e = e.parentElement) {
      const o = getComputedStyle(e).overflowX;
      if (o === "auto" || o === "scroll") return e;
    }
    return null;
  };
  const bad = [];
  for (const el of article.querySelectorAll(selector)) {
    const rect = (scrollBox(el) || el).getBoundingClientRect();
    if (rect.width > 0 && rect.right > limit) {
      const text = (el.textContent || el.getAttribute("src") || "").trim().slice(0, 60);
      bad.push(`${el.tagName.toLowerCase()} by ${Math.round(rect.right - limit)} px: ${text}`);
    }
  }
  return bad;
}
"""
# The smallest text of every figure as rendered: figures are SVG with real <text>
# (svg.fonttype none in book/matplotlibrc), whose font size in viewBox units times the
# displayed width over the viewBox width is the size on screen, in CSS px.
FIGURE_TEXT_JS = """
async () => {
  const out = [];
  for (const img of document.querySelectorAll("article.bd-article img")) {
    const src = img.currentSrc || img.src;
    if (!src.endsWith(".svg")) { out.push({src, px: null}); continue; }
    const svg = await (await fetch(src)).text();
    const box = svg.match(/viewBox="[-\\d.]+ [-\\d.]+ ([\\d.]+) [\\d.]+"/);
    // Stretchy delimiters (a radical sign drawn from a STIXSize font) are sized to
    // the formula, not text: they are left out.
    const sizes = [...svg.matchAll(/font(?:-size)?:\\s*([\\d.]+)px(?![^"]*STIXSize)/g)]
      .map(m => +m[1]);
    if (!box || !sizes.length || !img.clientWidth) { out.push({src, px: Infinity}); continue; }
    out.push({src, px: Math.min(...sizes) * img.clientWidth / +box[1]});
  }
  return out;
}
"""
MIN_FIGURE_TEXT_PX = 9
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TOC_JS = """
() => [...document.querySelectorAll("nav.bd-docs-nav a.reference.internal")].map(a => a.href)
"""


@dataclass
class PageReport:
    """What one visit of one page found."""

    url: str
    math: dict = field(default_factory=dict)
    images: list[dict] = field(default_factory=list)
    overflow: dict[int, list[str]] = field(default_factory=dict)  # viewport width -> problems
    figure_text: list[dict] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None


@dataclass
class Site:
    """The visited site: its base URL, the pages in toc order and one report per page."""

    base: str
    pages: list[str]
    reports: dict[str, PageReport]
    external_requests: list[str]
    failed_requests: list[str]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built site without logging every request to stderr."""

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture(scope="module")
def html(request: pytest.FixtureRequest) -> Path:
    reuse = os.environ.get("BROWSER_TEST_HTML")
    if reuse:
        path = Path(reuse)
        assert (path / "search.html").is_file(), f"BROWSER_TEST_HTML={reuse} is not a built site"
        return path
    return request.getfixturevalue("built_book")


@pytest.fixture(scope="module")
def base_url(html: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(base_url: str):
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Requests:
    """Requests of one browser context that went wrong."""

    external: list[str] = field(default_factory=list)  # aborted: not to the local server
    failed: list[str] = field(default_factory=list)  # HTTP status >= 400, or no response


@pytest.fixture(scope="module")
def new_context(browser, base_url: str):
    """new_context() -> (context, Requests): a fresh browser context (empty storage, as for
    a first visit) that aborts and records every request not addressed to the local server."""
    contexts = []

    def make(viewport: dict | None = None):
        requests = Requests()

        def route(route) -> None:
            url = route.request.url
            if url.startswith(base_url + "/") or url.startswith("data:"):
                route.continue_()
            else:
                requests.external.append(url)
                route.abort()

        def record_response(response) -> None:
            if response.status >= 400:
                requests.failed.append(f"{response.status} {response.url}")

        context = browser.new_context(viewport=viewport or DESKTOP)
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", route)
        context.on("response", record_response)
        context.on("requestfailed", lambda r: requests.failed.append(f"{r.failure} {r.url}"))
        contexts.append(context)
        return context, requests

    yield make
    for context in contexts:
        context.close()


def page_name(url: str) -> str:
    """book/backprop-dense.html -> book__backprop-dense (a file name for the screenshot)."""
    path = urlsplit(url).path.strip("/") or "index"
    return re.sub(r"[^A-Za-z0-9_.-]+", "__", path.removesuffix(".html"))


def watch_console(page, errors: list[str]) -> None:
    """Append every console error and uncaught exception of ``page`` to ``errors``."""
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))


@pytest.fixture(scope="module")
def site(new_context, base_url: str) -> Site:
    # The pages, in toc order, from the navigation of the root page. index.html
    # redirects there (a meta refresh): wait for the navigation, which survives it.
    page = new_context()[0].new_page()
    page.goto(f"{base_url}/index.html", wait_until="load")
    page.wait_for_selector("nav.bd-docs-nav", state="attached")
    page.wait_for_load_state("load")
    pages: list[str] = []
    for href in [page.url, *page.evaluate(TOC_JS)]:
        url = urldefrag(href).url
        if url not in pages:
            pages.append(url)
    page.close()

    # Visit every page in a fresh context, so the first one is a reader's first visit
    # (empty local storage), which is when some theme scripts complain.
    context, requests = new_context()
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    reports: dict[str, PageReport] = {}
    for url in pages:
        report = PageReport(url)
        page = context.new_page()
        watch_console(page, report.console_errors)
        page.goto(url, wait_until="load")
        page.evaluate(MATHJAX_READY_JS)
        report.math = page.evaluate(MATH_JS)
        report.images = page.evaluate(IMAGES_JS)
        report.overflow[DESKTOP["width"]] = page.evaluate(OVERFLOW_JS)
        report.figure_text = page.evaluate(FIGURE_TEXT_JS)
        # Whole page as JPEG: a long chapter as PNG takes several MB and seconds to encode.
        report.screenshot = SCREENSHOTS / f"{page_name(url)}.jpg"
        page.screenshot(path=str(report.screenshot), full_page=True, type="jpeg", quality=70)
        reports[url] = report
        page.close()
    # The same pages on a phone.
    phone = new_context(PHONE)[0]
    for url, report in reports.items():
        page = phone.new_page()
        page.goto(url, wait_until="load")
        page.evaluate(MATHJAX_READY_JS)
        page.evaluate(IMAGES_JS)
        report.overflow[PHONE["width"]] = page.evaluate(OVERFLOW_JS)
        page.close()
    return Site(base_url, pages, reports, requests.external, requests.failed)


def test_toc_lists_pages(site: Site) -> None:
    assert len(site.pages) >= 2, f"the navigation lists too few pages: {site.pages}"
    for url in site.pages:
        assert url.startswith(site.base) and url.endswith(".html"), url


def test_math_is_typeset(site: Site) -> None:
    problems = []
    with_math = 0
    for url, report in site.reports.items():
        math = report.math
        if not math["markup"]:
            continue
        with_math += 1
        if math["containers"] == 0 or math["untypeset"]:
            problems.append(f"{url}: {math['untypeset']} of {math['markup']} formulas not typeset")
        if math["errors"]:
            problems.append(f"{url}: {math['errors']} MathJax errors")
    assert with_math, "no page of the book contains math"
    assert not problems, "\n".join(problems)


def test_every_image_loads(site: Site) -> None:
    broken = [
        f"{url}: {image['src']}"
        for url, report in site.reports.items()
        for image in report.images
        if image["width"] <= 0
    ]
    assert sum(len(r.images) for r in site.reports.values()), "the book has no images at all"
    assert not broken, "images that did not load:\n" + "\n".join(broken)


@pytest.mark.parametrize("width", [DESKTOP["width"], PHONE["width"]])
def test_nothing_spills_out_of_the_column(site: Site, width: int) -> None:
    problems = [
        f"{url}: {problem}"
        for url, report in site.reports.items()
        for problem in report.overflow[width]
    ]
    assert not problems, f"at {width} px, outside the text column:\n" + "\n".join(problems)


def test_figure_text_is_readable(site: Site) -> None:
    figures = [(url, f) for url, r in site.reports.items() for f in r.figure_text]
    assert figures, "the book has no figures"
    small = [
        f"{url}: {f['src'].rsplit('/', 1)[-1]} "
        + ("is not SVG" if f["px"] is None else f"has text of {f['px']:.1f} px")
        for url, f in figures
        if f["px"] is None or f["px"] < MIN_FIGURE_TEXT_PX
    ]
    assert not small, f"figure text below {MIN_FIGURE_TEXT_PX} px at 1280 px:\n" + "\n".join(small)


def test_no_console_errors(site: Site) -> None:
    errors = [f"{url}: {e}" for url, r in site.reports.items() for e in r.console_errors]
    assert not errors, "console errors:\n" + "\n".join(errors)


def test_no_failed_or_external_requests(site: Site) -> None:
    assert not site.external_requests, "requests that left the machine:\n" + "\n".join(
        sorted(set(site.external_requests))
    )
    assert not site.failed_requests, "requests that failed:\n" + "\n".join(
        sorted(set(site.failed_requests))
    )


def _walk(page, selector: str, limit: int) -> list[str]:
    """Click ``selector`` until it is gone; the URLs visited, the start page included.

    Each click waits only for the next document to be parsed; the caller blocks MathJax
    and the figures, which the visits of the ``site`` fixture check.
    """
    visited = [urldefrag(page.url).url]
    for _ in range(limit):
        link = page.locator(selector)
        if link.count() == 0:
            break
        target = urldefrag(link.first.evaluate("a => a.href")).url
        link.first.click()
        page.wait_for_url(target, wait_until="domcontentloaded")
        visited.append(urldefrag(page.url).url)
    return visited


def test_next_and_previous_links_walk_the_toc(site: Site, new_context) -> None:
    page = new_context()[0].new_page()
    page.route(HEAVY, lambda route: route.abort())
    page.goto(site.pages[0], wait_until="domcontentloaded")
    forward = _walk(page, "a.right-next", limit=len(site.pages) + 5)
    assert forward == site.pages, "next links do not follow the toc"
    backward = _walk(page, "a.left-prev", limit=len(site.pages) + 5)
    assert backward == site.pages[::-1], "previous links do not follow the toc backwards"
    page.close()


def test_search_lists_results(site: Site, new_context) -> None:
    page = new_context()[0].new_page()
    errors: list[str] = []
    watch_console(page, errors)
    page.goto(f"{site.base}/search.html?q={SEARCH_WORD}", wait_until="load")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    links = results.locator("a").evaluate_all("links => links.map(a => a.href)")
    page.screenshot(path=str(SCREENSHOTS / "search.jpg"), full_page=True, type="jpeg", quality=70)
    page.close()
    assert links, f"the search for {SEARCH_WORD!r} lists no pages"
    assert all(link.startswith(site.base) for link in links), links
    assert not errors, "console errors on the search page:\n" + "\n".join(errors)


def test_screenshots_saved(site: Site) -> None:
    for report in site.reports.values():
        assert report.screenshot is not None and report.screenshot.is_file(), report.url
        assert report.screenshot.stat().st_size > 1000, f"empty screenshot {report.screenshot}"
