"""Command line: ``autograder release``, ``autograder grade`` and ``autograder feedback``.

Exit codes: 0 all done; 3 (``NEEDS_ATTENTION``) the run finished but the grader failed on
some students (status "grader-error", listed at the end; rerun them with ``--student``);
1 the grader itself failed; 2 bad arguments. A student's own mistakes never change it.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import workers
from .gradescope import command as gradescope

if TYPE_CHECKING:
    from .course import Course
    from .records import SubmissionResult

# The grader and nbgrader are imported by the commands that use them: a grading worker
# process (started by ``spawn``) imports this module again as its ``__main__``, and must
# not pay a second or so of nbgrader's imports for nothing.

NEEDS_ATTENTION = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="course root (default: .)")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="regenerate solutions/<a>/<a>.ipynb and exercises/<a>/")
    rel.add_argument("assignments", nargs="*", help="assignment names")
    rel.add_argument("--all", action="store_true", help="every assignment in solutions/")

    grade = sub.add_parser("grade", help="grade the submissions of one assignment")
    grade.add_argument("assignment")
    _course_arguments(grade)
    grade.add_argument(
        "--submissions", type=Path, help="<student>/<a>/<nb>.ipynb (default: <course>/submitted)"
    )
    grade.add_argument("--seed", type=int, default=2026, help="course seed for the hidden inputs")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded")
    grade.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="NAME",
        help="grade (and regrade) only this student; repeatable",
    )
    grade.add_argument(
        "--workers",
        type=int,
        default=0,
        help="parallel sandboxes (default: from the number of submissions and cores)",
    )
    grade.add_argument(
        "--scheduler", default=None, help="grade on a Dask cluster at this address instead"
    )

    fb = sub.add_parser("feedback", help="rewrite every feedback file from the gradebook")
    fb.add_argument("assignment")
    _course_arguments(fb)
    fb.add_argument("--submissions", type=Path, help="default: <course>/submitted")
    gradescope.add_parser(sub)
    return parser


def _course_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--course",
        type=Path,
        default=None,
        help="nbgrader course root: gradebook, autograded/, feedback/ (default: --root)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="reports: JSON records, CSV (default: <course>/reports)",
    )


def _release(args, console: Console) -> int:
    from . import release as release_mod  # jupytext is slow to import; grading needs none of it

    settle()
    root = args.root.resolve()
    names = release_mod.assignments(root) if args.all else args.assignments
    if not names:
        console.print("nothing to release: name assignments or pass --all")
        return 2
    for name in names:
        target = release_mod.release(root, name)
        console.print(f"released {name} -> {target.relative_to(root)}")
    return 0


def printable(name: str) -> str:
    """A student's folder name as a terminal can print it (lone surrogates escaped)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def shown(name: str) -> str:
    """A student's folder name inside a message with rich markup: printable, and its
    brackets escaped, so that a folder named ``[bold]ada`` is not shown as ``ada``."""
    return escape(printable(name))


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
    """The class's grade table: one row per student, one column per graded part. Cells
    are plain text, never markup (a student names their own folder)."""
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
        cells = [printable(r.student), *(f"{p.score:g}" for p in r.parts)]
        cells += [f"{r.score:g}/{total:g}", _notes(r)]
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _places(args) -> tuple[Path, Course, Path, Path]:
    """(root, course, out, submissions) from the arguments and nbgrader's configuration."""
    from .course import Course

    root = args.root.resolve()
    course = Course.load(root, args.course.resolve() if args.course else None)
    out = (args.out or course.root / "reports").resolve()
    submitted = (args.submissions or course.root / course.submitted).resolve()
    return root, course, out, submitted


def _warn_book_url(course: Course, console: Console) -> None:
    if not course.book_url:
        console.print(
            "[yellow]warning: c.Autograder.book_url is not set in nbgrader_config.py, so the "
            "feedback's links to the book are relative and dead on a student's machine[/yellow]"
        )


def _start_workers_early(args) -> None:
    """Before nbgrader is imported: when the course (read through its configuration,
    without nbgrader) has enough ungraded submissions for more than one worker, start
    the run's worker processes and have them grade the first submissions ahead. The run
    takes the processes only if it chooses that many, and the results only if it grades
    them with the same folders hidden, release, seed and checks (``Job.grading_key``)."""
    if args.scheduler or args.student or args.workers == 1:
        return
    from .checks import checks_for
    from .course import course_folders
    from .grade_submission import Job, checks_version, hidden_folders, release_text
    from .submission import find_submissions

    root = args.root.resolve()
    try:
        checks = checks_for(args.assignment)
        course, name = course_folders(root, args.course.resolve() if args.course else None)
        submitted = (args.submissions or course / name).resolve()
        out = (args.out or course / "reports").resolve()
        found = find_submissions(submitted, args.assignment, checks.notebook)
    except Exception:  # an unknown assignment, a configuration that fails: the run says
        return
    if not args.force:
        found = workers.without_record(found, out)
    if not found:
        return
    hidden = hidden_folders(root, submitted, out, course)
    count = args.workers or workers.default_workers(len(found))
    workers.start_early(count, hidden, args.assignment)
    job = Job(
        args.assignment,
        release_text(root, checks),
        args.seed,
        hidden,
        version=checks_version(args.assignment),
    )
    workers.grade_ahead(count, job, found)


def _grade(args, console: Console) -> int:
    _start_workers_early(args)
    try:
        return _grade_class(args, console)
    finally:
        workers.stop_unused()


def _grade_class(args, console: Console) -> int:
    from .checks import checks_for
    from .grade import ClassRun, grade_class, nbgrader_autograded
    from .records import grades_csv_path

    try:
        checks_for(args.assignment)
    except KeyError as error:
        console.print(f"[red]{escape(error.args[0])}[/red]")
        return 2
    root, course, out, submitted = _places(args)
    settle()
    _warn_book_url(course, console)
    for student in nbgrader_autograded(course, args.assignment):
        console.print(
            f"[yellow]warning: nbgrader's own autograde wrote {shown(student)}'s autograded "
            "notebook and scores; the autograder's replace them now. Use only `autograder grade`."
            "[/yellow]"
        )
    config = ClassRun(
        root,
        out,
        args.seed,
        args.force,
        workers=args.workers,
        scheduler=args.scheduler,
        course=course.root,
        students=tuple(args.student),
    )
    count = sum(1 for p in submitted.iterdir() if p.is_dir())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"grading {args.assignment}", total=len(args.student) or count)
        results = grade_class(
            args.assignment,
            submitted,
            config,
            on_result=lambda result, cached: progress.advance(task),
        )
    console.print(grade_table(results))
    unknown = sorted(set(args.student) - {r.student for r in results})
    if unknown:
        names = ", ".join(shown(n) for n in unknown)
        where = escape(str(submitted))
        console.print(f"[yellow]warning: no submission in {where} for: {names}[/yellow]")
    console.print(f"gradebook: {course.db_url} (the formgrader and nbgrader export read it)")
    console.print(f"feedback: {course.root / course.feedback}/<student>/{args.assignment}/")
    console.print(f"grades for an LMS: {grades_csv_path(out, args.assignment)}")
    failed = [shown(r.student) for r in results if r.status == "grader-error"]
    if failed:
        console.print(f"[red]the grader failed on: {', '.join(failed)}[/red]")
        return NEEDS_ATTENTION
    return 0


def _feedback(args, console: Console) -> int:
    from .grade import rewrite_feedback

    root, course, out, submitted = _places(args)
    settle()
    _warn_book_url(course, console)
    written = rewrite_feedback(root, course, out, submitted, args.assignment)
    console.print(f"rewrote the feedback of {written} students from {course.db_url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    handler = {
        "release": _release,
        "grade": _grade,
        "feedback": _feedback,
        "gradescope": gradescope.command,
    }[args.command]
    return handler(args, console)


def run() -> None:
    """The console script: one command, then the process exits."""
    global _ONE_COMMAND
    _ONE_COMMAND = True
    sys.exit(main())


_ONE_COMMAND = False  # set by ``run``; False in a test that calls ``main``


def settle() -> None:
    """Called by a command once its imports are done: in a process that runs one command
    and exits, what is loaded now is frozen for the garbage collector, so full
    collections and the interpreter's exit skip nbgrader's and SQLAlchemy's objects
    (the exit alone took 0.2-0.4 s)."""
    if _ONE_COMMAND:
        gc.freeze()


if __name__ == "__main__":
    run()
