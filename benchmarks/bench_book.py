"""Book build times: a cold build (empty output folder, every chapter executed) and a warm
rebuild of the unchanged book (the execution cache and Sphinx's environment reused).

    python -m benchmarks.bench_book

The baseline is the cold build measured in the same run; the ratio says how much of it
an unchanged rebuild still costs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def build(out: Path) -> float:
    start = time.perf_counter()
    command = [str(JUPYTER_BOOK), "build", str(ROOT), "--path-output", str(out), "--quiet"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cold = build(out)
        warm = build(out)
        pages = len(list((out / "_build" / "html" / "book").glob("*.html")))
    print(f"cold build: {cold:7.1f} s ({pages} pages, every chapter executed)")
    print(f"warm build: {warm:7.1f} s (nothing changed)")
    print(f"warm / cold: {warm / cold:.2f}")


if __name__ == "__main__":
    main()
