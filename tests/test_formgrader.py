"""nbgrader's real formgrader on a course graded by ``autograder grade``: the submissions
are listed as graded with the autograder's scores, a submission's page shows the
verdicts, and a manual score entered there survives the next ``autograder grade`` and
reaches the feedback.

A Jupyter server bound to 127.0.0.1 with a token serves the course; headless Chromium
(Debian's, through Playwright) visits it; screenshots go to test-artifacts/formgrader/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from test_browser import CHROMIUM, CHROMIUM_ARGS, ROOT, TIMEOUT_MS, sync_api

from autograder.cli import main

pytestmark = pytest.mark.slow
SCREENSHOTS = ROOT / "test-artifacts" / "formgrader"
STUDENTS = ("ada_correct", "ben_mse_sign_flipped", "fay_ipython_trick")
BUGGY = "ben_mse_sign_flipped"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with three submissions graded by the autograder."""
    course = tmp_path_factory.mktemp("formgrader") / "course"
    for student in STUDENTS:
        source = ROOT / "sample_class" / "submitted" / student
        shutil.copytree(source, course / "submitted" / student)
    shutil.copy(ROOT / "nbgrader_config.py", course)
    assert main(["--root", str(ROOT), "grade", "assignment1", "--course", str(course)]) == 0
    return course


@pytest.fixture(scope="module")
def server(course):
    """The formgrader of ``course`` at http://127.0.0.1:<port>, stopped at the end."""
    port, token = free_port(), secrets.token_hex(16)
    home = course.parent / "home"
    home.mkdir()
    command = [
        str(Path(sys.executable).with_name("jupyter-server")),
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]  # fmt: skip
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home)}
    process = subprocess.Popen(
        command, cwd=course, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "the Jupyter server did not start"
                time.sleep(0.3)
        yield base, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        base, token = server
        page.goto(f"{base}/formgrader?token={token}")  # the token becomes a cookie
        yield page
        browser.close()


def manual_score(course: Path) -> float | None:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_grade("test_mse", "assignment1", "assignment1", BUGGY).manual_score


def test_the_formgrader_lists_graded_submissions_and_keeps_a_manual_score(course, server, page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base, _ = server
    page.goto(f"{base}/formgrader/gradebook/assignment1/assignment1")
    page.wait_for_selector("a.name-shown", state="attached")  # names hidden until asked
    rows, links = {}, {}
    for row in page.query_selector_all("tbody tr"):
        link = row.query_selector("a.name-shown")
        if link:
            rows[link.text_content()] = " ".join(row.inner_text().split())
            links[link.text_content()] = link.get_attribute("href")
    page.screenshot(path=str(SCREENSHOTS / "submissions.png"), full_page=True)
    assert sorted(rows) == sorted(STUDENTS)
    assert "9.67 / 11" in rows[BUGGY] and "11 / 11" in rows["ada_correct"]
    assert "needs manual grade" not in " ".join(rows.values()).lower()

    page.goto(f"{base}/formgrader/manage_submissions/assignment1")
    page.wait_for_selector("tbody tr td")
    page.wait_for_function("document.querySelectorAll('tbody tr').length >= 3")
    listing = page.inner_text("tbody")
    page.screenshot(path=str(SCREENSHOTS / "manage_submissions.png"), full_page=True)
    assert "needs autograding" not in listing and listing.count("11") >= len(STUDENTS)

    page.goto(base + links[BUGGY])
    page.wait_for_selector("input#test_mse")
    text = page.inner_text("body")
    assert "Autograder: 0.67 / 2 (not passed)" in text
    assert "Recognised mistake" in text
    assert "Autograder: 2 / 2 (passed)" in text
    page.screenshot(path=str(SCREENSHOTS / "submission.png"), full_page=True)

    page.fill("input#test_mse", "1.5")
    page.press("input#test_mse", "Tab")  # the formgrader saves on change
    deadline = time.monotonic() + 30
    while manual_score(course) != 1.5:
        assert time.monotonic() < deadline, "the manual score was not saved"
        time.sleep(0.2)
    args = ["--root", str(ROOT), "grade", "assignment1", "--course", str(course)]
    assert main([*args, "--student", BUGGY]) == 0  # a regrade of that very submission
    assert manual_score(course) == 1.5
    feedback = ["--root", str(ROOT), "feedback", "assignment1", "--course", str(course)]
    assert main(feedback) == 0
    html = course / "feedback" / BUGGY / "assignment1" / "assignment1.html"
    assert "Score: 10.5 / 11" in html.read_text(encoding="utf-8")
    page.reload()
    page.wait_for_selector("input#test_mse")
    assert page.input_value("input#test_mse") == "1.5"
