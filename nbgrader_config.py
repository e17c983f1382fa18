# nbgrader configuration for this course repository (the repository root is the course root).
# solutions/ holds the instructor ("source") notebooks, exercises/ the generated student
# ("release") versions. The hand-edited jupytext sources (solutions/<a>/<a>.py) are never
# copied into a release. `autograder grade` reads this file too: it writes into the same
# gradebook (db_url), autograded/ and feedback/ folders as nbgrader's own commands.
c = get_config()  # noqa: F821

# The course's name in the exchange: release_assignment, fetch_assignment, submit, collect,
# release_feedback and fetch_feedback all need it. Students set the same value in their
# own nbgrader_config.py (or JupyterHub sets it for them).
c.CourseDirectory.course_id = "backprop"

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# The gradebook: nbgrader's default is sqlite:///<course root>/gradebook.db.
# c.CourseDirectory.db_url = "sqlite:////srv/nbgrader/backprop/gradebook.db"

# The exchange, a folder every student and the instructor can reach (nbgrader's default
# is /srv/nbgrader/exchange, created by an administrator with mode 777). On one machine:
# c.Exchange.root = "/srv/nbgrader/exchange"
# Release to several courses from one machine: c.Exchange.path_includes_course = True
# Timezone for due dates and submission times: c.Exchange.timezone = "UTC"

# Late submissions: nbgrader's plugin, applied by `autograder grade` as by nbgrader's
# autograde ("none" keeps the score, "zero" gives 0 after the due date). Set the due date
# with `nbgrader db assignment add <a> --duedate="2026-03-01 17:00:00 UTC"`.
c.LateSubmissionPlugin.penalty_method = "none"

# The published book, for absolute "Read more" links in the feedback. The one place to set
# it is `html.baseurl` in this course's _config.yml (Sphinx puts it in the site's canonical
# links, and the notebooks' chapter links must match it: tests/test_notebook_links.py);
# `autograder grade` warns when it is empty.


def _published_book() -> str:
    import pathlib

    import yaml

    book = pathlib.Path(__file__).with_name("_config.yml")
    if not book.exists():
        return ""
    html = (yaml.safe_load(book.read_text(encoding="utf-8")) or {}).get("html") or {}
    return str(html.get("baseurl") or "")


c.Autograder.book_url = _published_book()
