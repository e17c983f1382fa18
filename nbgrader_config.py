# nbgrader configuration for this course repository (the repository root is the course root).
# solutions/ holds the instructor ("source") notebooks, exercises/ the generated student
# ("release") versions. The hand-edited jupytext sources (solutions/<a>/<a>.py) are never
# copied into a release.
c = get_config()  # noqa: F821

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
