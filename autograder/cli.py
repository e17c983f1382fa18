"""Command line: ``autograder release`` and ``autograder grade``.

The exit code is non-zero only when the grader itself fails, never because a student did.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .checks import checks_for
from .grade import ClassRun, grade_class
from .gradescope import command as gradescope
from .records import SubmissionResult, gradebook_url, grades_csv_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="course root (default: .)")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="regenerate solutions/<a>/<a>.ipynb and exercises/<a>/")
    rel.add_argument("assignments", nargs="*", help="assignment names")
    rel.add_argument("--all", action="store_true", help="every assignment in solutions/")

    grade = sub.add_parser("grade", help="grade a folder of submissions")
    grade.add_argument("assignment")
    grade.add_argument("--submissions", type=Path, required=True, help="<student>/<a>/<nb>.ipynb")
    grade.add_argument("--out", type=Path, required=True, help="gradebook, results and feedback")
    grade.add_argument("--seed", type=int, default=2026, help="course seed for the hidden inputs")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded")
    grade.add_argument("--book-url", default="", help="base URL of the published book")
    grade.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel sandboxes (default: cores)",
    )
    grade.add_argument(
        "--scheduler", default=None, help="grade on a Dask cluster at this address instead"
    )
    gradescope.add_parser(sub)
    return parser


def _release(args, console: Console) -> int:
    from . import release as release_mod  # jupytext is slow to import; grading needs none of it

    root = args.root.resolve()
    names = release_mod.assignments(root) if args.all else args.assignments
    if not names:
        console.print("nothing to release: name assignments or pass --all")
        return 2
    for name in names:
        target = release_mod.release(root, name, db_path=root / "_build" / "release-gradebook.db")
        console.print(f"released {name} -> {target.relative_to(root)}")
    return 0


def _notes(result: SubmissionResult) -> str:
    """One line per student: status, then what went wrong where, in short."""
    notes = [] if result.status == "graded" else [result.status]
    notes += [f"cell error in {cell}" for cell in result.cell_errors]
    for part in result.parts:
        name = part.grade_id.removeprefix("test_")
        problems = " ".join(p for case in part.cases for p in case.problems)
        if "timed out" in problems:
            notes.append(f"timeout in {name}")
        if "not a NumPy array" in problems:
            notes.append(f"not an array in {name}")
        notes += [m["code"] for m in part.mistakes]
    return ", ".join(dict.fromkeys(notes))


def grade_table(results: list[SubmissionResult]) -> Table:
    """The class's grade table: one row per student, one column per graded part."""
    parts = results[0].parts if results else []
    table = Table(title=f"{results[0].assignment if results else ''} grades")
    table.add_column("student", no_wrap=True)
    for part in parts:
        table.add_column(
            f"{part.grade_id.removeprefix('test_')}\n/{part.points:g}", justify="right"
        )
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("notes")
    for r in results:
        total = sum(p.points for p in r.parts)
        scores = [f"{p.score:g}" for p in r.parts]
        table.add_row(r.student, *scores, f"{r.score:g}/{total:g}", _notes(r))
    return table


def _grade(args, console: Console) -> int:
    checks_for(args.assignment)
    out = args.out.resolve()
    config = ClassRun(
        args.root.resolve(),
        out,
        args.seed,
        args.force,
        args.book_url,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    count = sum(1 for p in args.submissions.iterdir() if p.is_dir())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"grading {args.assignment}", total=count)
        results = grade_class(
            args.assignment,
            args.submissions.resolve(),
            config,
            on_result=lambda result, cached: progress.advance(task),
        )
    console.print(grade_table(results))
    console.print(f"feedback: {out / 'feedback'}/<student>/{args.assignment}/")
    console.print(f"grades for an LMS: {grades_csv_path(out, args.assignment)}")
    console.print(f"gradebook: {gradebook_url(out)} (nbgrader export --db <that url>)")
    failed = [r.student for r in results if r.status == "grader-error"]
    if failed:
        console.print(f"[red]the grader failed on: {', '.join(failed)}[/red]")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    handler = {"release": _release, "grade": _grade, "gradescope": gradescope.command}
    handler = handler[args.command]
    return handler(args, console)


if __name__ == "__main__":
    sys.exit(main())
