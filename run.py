#!/usr/bin/env python3
"""The course's two commands, with nothing but Python 3.11 needed to start them.

    python3 run.py main   # install, build the book, release exercises, grade the sample class
    python3 run.py test   # install, lint, run the whole test suite

Both create ``.venv`` beside this file and install the pinned set in
``constraints.txt`` into it; a stamp skips the install when nothing changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
EXTRAS = {"main": "book,dev", "test": "book,dev,torch"}
NUMERICS = "packages/numpy-backprop"  # the shared numerics, a distribution of its own


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


# Small matrix products on two cores run far faster single-threaded than with OpenBLAS
# spreading each over threads that fight the other jobs of the build or the tests.
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(*cmd: str | Path, **kwargs) -> None:
    kwargs["env"] = {**THREADS, **kwargs.get("env", os.environ)}
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, **kwargs)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the project with ``extras`` under the pinned constraints."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is required, this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        say("creating .venv")
        run(sys.executable, "-m", "venv", VENV)
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt", f"{NUMERICS}/pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    digest.update(extras.encode())
    stamp = VENV / ".install-stamp"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return
    say(f"installing the course with extras [{extras}] (pinned by constraints.txt)")
    pip = [BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
    run(*pip, "install", "--upgrade", "pip")
    # The course requires numpy-backprop by name; this folder is where pip finds it.
    run(*pip, "install", "-c", "constraints.txt", "-e", NUMERICS, "-e", f".[{extras}]")
    stamp.write_text(digest.hexdigest())


def main_job() -> None:
    start = time.perf_counter()
    ensure_venv(EXTRAS["main"])
    ensure_bubblewrap()
    say("building the book into _build/html")
    run(BIN / "jupyter-book", "build", ".", "--quiet")
    say("regenerating exercises/ from solutions/ with nbgrader")
    run(BIN / "autograder", "release", "--all")
    say("grading the sample class in sample_class/submitted")
    run(
        BIN / "autograder",
        "grade",
        "assignment1",
        "--submissions",
        "sample_class/submitted",
        "--course",
        "_build/sample_class",
    )
    say(f"done in {time.perf_counter() - start:.0f} s; the book is at _build/html/index.html")


def ensure_debian_packages(packages: dict[str, str], why: str) -> None:
    """Install the Debian packages whose programs (values) are missing, when this is
    Debian and root; otherwise say what is lost."""
    missing = [name for name, program in packages.items() if not Path(program).exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        say(f"{', '.join(missing)} missing and cannot be installed here: {why}")
        return
    say(f"installing Debian's {', '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)


def ensure_bubblewrap() -> None:
    """The grader's sandbox runs student code under bubblewrap."""
    why = "student code would run with resource limits only"
    ensure_debian_packages({"bubblewrap": "/usr/bin/bwrap"}, why)


def ensure_chromium() -> None:
    """The browser test drives Debian's Chromium."""
    ensure_debian_packages({"chromium": "/usr/bin/chromium"}, "the browser test will skip")


def test_job() -> None:
    ensure_venv(EXTRAS["test"])
    ensure_bubblewrap()
    ensure_chromium()
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    say("ruff")
    run(BIN / "ruff", "check", ".", env=env)
    run(BIN / "ruff", "format", "--check", ".", env=env)
    say("pytest")
    run(BIN / "python", "-m", "pytest", *sys.argv[2:], env=env)


if __name__ == "__main__":
    jobs = {"main": main_job, "test": test_job}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        sys.exit(__doc__)
    try:
        jobs[sys.argv[1]]()
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
