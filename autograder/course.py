"""The nbgrader course a grading run writes into, read from its ``nbgrader_config.py``.

nbgrader's own ``CourseDirectory`` says where everything is: the gradebook (``db_url``,
``<course>/gradebook.db`` by default), ``submitted/``, ``autograded/`` and ``feedback/``
in the ``{nbgrader_step}/{student_id}/{assignment_id}`` layout. The autograder's own
settings sit in the same file under ``c.Autograder`` (``book_url``: the address of the
published book, for absolute links in feedback).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .records import read_small_file

CONFIG_FILE = "nbgrader_config.py"
MAX_TIMESTAMP_BYTES = 200


def course_config(root: Path, course: Path | None = None) -> Config:
    """nbgrader's configuration: ``nbgrader_config.py`` of ``course`` if it has one, else
    of ``root`` (the repository), with the course root set to ``course`` (default ``root``)."""
    course = (course or root).resolve()
    folder = course if (course / CONFIG_FILE).exists() else root
    config = Config()
    if (folder / CONFIG_FILE).exists():
        config = PyFileConfigLoader(CONFIG_FILE, path=str(folder)).load_config()
    config.CourseDirectory.root = str(course)
    return config


def course_folders(root: Path, course: Path | None = None) -> tuple[Path, str]:
    """(the course root, its submitted folder's name) as ``Course.load`` finds them, read
    without importing nbgrader (1.3-1.7 s): what a run may start with while nbgrader loads.
    nbgrader's ``CourseDirectory`` takes both from the configuration, with "submitted" as
    the folder's default; work done with these folders is used only if the run, once it
    has loaded the course through nbgrader, finds the same ones."""
    config = course_config(root, course)
    submitted = config.CourseDirectory.get("submitted_directory", "submitted")
    return Path(config.CourseDirectory.root), str(submitted)


@dataclass(frozen=True)
class Course:
    """Where one nbgrader course keeps its gradebook and its per-student folders."""

    root: Path
    db_url: str
    course_id: str
    submitted: str  # nbgrader's directory names, relative to root
    autograded: str
    feedback: str
    book_url: str
    config: Config
    structure: str = "{nbgrader_step}/{student_id}/{assignment_id}"

    @classmethod
    def load(cls, root: Path, course: Path | None = None) -> Course:
        from nbgrader.coursedir import CourseDirectory

        config = course_config(root, course)
        coursedir = CourseDirectory(config=config)
        book_url = str(config.get("Autograder", {}).get("book_url", "") or "")
        return cls(
            Path(coursedir.root),
            coursedir.db_url,
            coursedir.course_id,
            coursedir.submitted_directory,
            coursedir.autograded_directory,
            coursedir.feedback_directory,
            book_url,
            config,
            coursedir.directory_structure,
        )

    def folder(self, step: str, student: str, assignment: str) -> Path:
        """``<root>/<step>/<student>/<assignment>``, as nbgrader's ``format_path`` makes it."""
        relative = self.structure.format(
            nbgrader_step=step, student_id=student, assignment_id=assignment
        )
        return self.root / relative


def read_timestamp(folder: Path) -> datetime.datetime | None:
    """The UTC time in ``folder/timestamp.txt`` (written by nbgrader's submit and collect),
    or None when it is absent, not a small file or not a time."""
    from nbgrader.utils import parse_utc

    data = read_small_file(folder / "timestamp.txt", MAX_TIMESTAMP_BYTES)
    if data is None:
        return None
    try:
        return parse_utc(data.decode("ascii").strip())
    except Exception:  # the file comes from the student's side of the exchange
        return None
