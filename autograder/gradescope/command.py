"""``autograder gradescope ASSIGNMENT``: write the Gradescope autograder archive."""

from __future__ import annotations

import argparse
from pathlib import Path

from .policy import VISIBILITY, Policy


def add_parser(sub) -> None:
    """Register the ``gradescope`` subcommand on the CLI's subparsers."""
    parser = sub.add_parser("gradescope", help="write a Gradescope autograder archive")
    parser.add_argument("assignment")
    parser.add_argument("--out", type=Path, help="zip to write (default: _build/gradescope/)")
    parser.add_argument("--seed", type=int, default=2026, help="course seed for hidden inputs")
    parser.add_argument(
        "--visibility",
        choices=VISIBILITY,
        default="visible",
        help="when students see each part's score and diagnosis (Gradescope's values)",
    )
    parser.add_argument(
        "--max-output", type=int, default=4000, help="cap on each text shown (characters)"
    )
    parser.add_argument("--book-url", default="", help="base URL of the published book")


def command(args: argparse.Namespace, console) -> int:
    from .archive import archive_files, write_archive  # imports the grader: only when used

    root = args.root.resolve()
    policy = Policy(args.visibility, args.max_output, args.book_url)
    out = args.out or root / "_build" / "gradescope" / f"{args.assignment}-autograder.zip"
    files = archive_files(root, args.assignment, args.seed, policy)
    write_archive(files, out)
    console.print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB, {len(files)} files)")
    console.print("upload it on Gradescope: Configure Autograder, base image Ubuntu 22.04")
    return 0
