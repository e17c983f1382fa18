"""Build the Gradescope autograder archive of one assignment (on the instructor's machine).

The zip holds, at its root (https://gradescope-autograders.readthedocs.io/en/latest/specs/):

* ``setup.sh``: run once as root when Gradescope builds the image; installs Python 3.11,
  bubblewrap and, into ``/opt/backprop-grader``, exactly the pinned distributions the
  grader and the notebooks import (``requirements.txt``, ``pip --no-deps``);
* ``run_autograder``: run for every submission; starts ``autograder.gradescope.run``;
* ``autograder/``: the grader's modules with the hidden checks of this assignment only;
* ``numpy_backprop/``: the reference implementations the checks compare with;
* ``release/<notebook>.ipynb``: the student version of the notebook (setup cells and
  cell metadata; no solution);
* ``gradescope.json`` (assignment, course seed, policy) and ``README.md`` (limits).

Not in it: the course's solutions and instructor notebooks, other assignments' checks,
the release and CLI code, anything of the book, and no path of the machine it was built on.
"""

from __future__ import annotations

import importlib.metadata
import json
import pkgutil
import shlex
import zipfile
from pathlib import Path

import nbformat
import numpy_backprop

from .. import checks as checks_pkg
from .. import grade
from ..checks import AssignmentChecks, checks_for
from .policy import Policy
from .results import failure_json

PACKAGE = Path(__file__).resolve().parents[1]  # the autograder package
NUMERICS = Path(numpy_backprop.__file__).resolve().parent  # the reference implementations
VENV = "/opt/backprop-grader"
# What the grader imports (numpy, nbformat; nbgrader for records) and what the release
# notebooks import in the sandbox (matplotlib, scikit-learn; scipy comes with it).
ROOTS = ("numpy", "nbformat", "nbgrader", "matplotlib", "scikit-learn")
PROVIDED = {"pip", "setuptools"}  # come with ``python3.11 -m venv``
LEFT_OUT = {"cli.py", "__main__.py", "release.py"}  # course tools, not grading
FAILURE = shlex.quote(json.dumps(failure_json(0.0)))  # results.json if Python cannot start

SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (after its own
# apt-get update). Base image: Ubuntu 22.04, whose python3.11 package this installs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends python3.11 python3.11-venv bubblewrap
python3.11 -m venv {VENV}
{VENV}/bin/python -m pip install --no-deps --no-cache-dir \\
    -r /autograder/source/requirements.txt
cd /autograder/source
{VENV}/bin/python -c "import autograder.gradescope.run"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission. It always leaves a valid
# /autograder/results/results.json, even when Python itself cannot start.
set -u
export AUTOGRADER_GRADESCOPE_STARTED="$(date +%s.%N)"  # for results.json's execution_time
root="${{AUTOGRADER_GRADESCOPE_ROOT:-/autograder}}"
python="${{AUTOGRADER_GRADESCOPE_PYTHON:-{venv}/bin/python}}"
results="$root/results/results.json"
rm -f "$results"
cd "$root/source" && "$python" -m autograder.gradescope.run
if [ ! -s "$results" ]; then
    echo "run_autograder: the grader wrote no results.json; writing a failure result"
    mkdir -p "$root/results"
    printf '%s\\n' {failure} > "$results"
fi
exit 0
"""

README = """# Gradescope autograder for {assignment}

Built by `autograder gradescope {assignment}` of the backpropagation course.

* Base image: **Ubuntu 22.04** (setup.sh installs its `python3.11` and `bubblewrap`).
* Upload the notebook `{notebook}.ipynb` (any file name works; several files are fine).
* Limits the grader sets itself, per sandboxed child: {cpu} s of CPU, {memory} of
  address space, {cell:g} s per cell and {probe:g} s per call; {total:g} s for the whole
  submission.
* Autograder settings: **1 CPU** (the deadlines above are wall-clock time), memory:
  Gradescope's default 768 MB is enough (the whole process tree peaked below 300 MiB
  on the course's assignments), timeout: the default 10 minutes (a submission that
  loops in every part stops after about {total:g} s plus start-up).
* It runs as root: each child drops to a uid of its own in private mount and network
  namespaces in which `/autograder` is hidden. If the container does not allow that, the
  submission's result says that the grader failed and stdout says why.
* Policy: per-part results visibility `{visibility}`, at most {cap} characters per text.
"""


def module_of(checks: AssignmentChecks) -> str:
    """The name of the module in ``autograder.checks`` that defines ``checks``."""
    for info in pkgutil.iter_modules(checks_pkg.__path__):
        module = __import__(f"{checks_pkg.__name__}.{info.name}", fromlist=["CHECKS"])
        if getattr(module, "CHECKS", None) is checks:
            return info.name
    raise LookupError(f"no module in autograder.checks defines the checks of {checks.name}")


def checks_init(checks: AssignmentChecks, module: str) -> str:
    """``autograder/checks/__init__.py`` of the archive: this assignment's checks only."""
    return f'''"""Hidden checks of {checks.name} only (written by ``autograder gradescope``)."""

from __future__ import annotations

from .{module} import CHECKS
from .base import AssignmentChecks, Case, Mistake, Part

REGISTRY: dict[str, AssignmentChecks] = {{CHECKS.name: CHECKS}}


def checks_for(assignment: str) -> AssignmentChecks:
    try:
        return REGISTRY[assignment]
    except KeyError:
        raise KeyError(f"this autograder grades {{CHECKS.name}}, not {{assignment!r}}") from None


__all__ = ["REGISTRY", "AssignmentChecks", "Case", "Mistake", "Part", "checks_for"]
'''


def grader_modules(module: str) -> dict[str, bytes]:
    """The package's modules by archive path, the checks of ``module`` only, and the
    reference implementations."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if "__pycache__" in relative.parts or str(relative) in LEFT_OUT:
            continue
        if relative.parts[0] == "checks" and relative.name not in ("base.py", f"{module}.py"):
            continue  # other assignments' checks, and the registry of all of them
        files[f"autograder/{relative.as_posix()}"] = path.read_bytes()
    for path in sorted(NUMERICS.glob("*.py")):
        files[f"numpy_backprop/{path.name}"] = path.read_bytes()
    return files


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return canonicalize_name(name)


def pins(constraints: Path) -> dict[str, str]:
    """``constraints.txt`` as {canonical name: version}."""
    found = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[_canonical(name)] = version.strip()
    return found


def runtime_closure(roots=ROOTS) -> set[str]:
    """Canonical names of ``roots`` and everything they require (with the extras they
    ask for), as installed here, markers evaluated for this machine (Linux, 3.11)."""
    from packaging.requirements import Requirement

    seen: dict[str, set[str]] = {}
    todo = [(_canonical(r), frozenset()) for r in roots]
    while todo:
        name, extras = todo.pop()
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        for spec in importlib.metadata.distribution(name).requires or []:
            requirement = Requirement(spec)
            marker = requirement.marker
            if marker and not any(marker.evaluate({"extra": e}) for e in {"", *seen[name]}):
                continue
            todo.append((_canonical(requirement.name), frozenset(requirement.extras)))
    return set(seen)


def requirements(constraints: Path) -> list[str]:
    """The runtime set as ``name==version`` lines, each pinned as in ``constraints.txt``."""
    pinned = pins(constraints)
    names = sorted(runtime_closure() - PROVIDED)
    missing = [n for n in names if n not in pinned]
    if missing:
        raise LookupError(f"not pinned in {constraints.name}: {', '.join(missing)}")
    return [f"{name}=={pinned[name]}" for name in names]


def archive_files(root: Path, assignment: str, seed: int, policy: Policy) -> dict[str, bytes]:
    """Every file of the archive by its path in the zip."""
    checks = checks_for(assignment)
    module = module_of(checks)
    release = grade.release_notebook(root, checks)
    limits = checks.limits
    config = {"assignment": assignment, "seed": seed, "policy": policy.to_dict()}
    readme = README.format(
        assignment=assignment,
        notebook=checks.notebook,
        cpu=limits.cpu_seconds,
        memory=f"{limits.memory_bytes / 2**30:g} GiB",
        cell=limits.cell_seconds,
        probe=limits.probe_seconds,
        total=limits.total_seconds,
        visibility=policy.visibility,
        cap=policy.max_output_chars,
    )
    files = {
        "setup.sh": SETUP_SH.encode(),
        "run_autograder": RUN_AUTOGRADER.format(venv=VENV, failure=FAILURE).encode(),
        "README.md": readme.encode(),
        "requirements.txt": ("\n".join(requirements(root / "constraints.txt")) + "\n").encode(),
        "gradescope.json": (json.dumps(config, indent=1) + "\n").encode(),
        f"release/{checks.notebook}.ipynb": nbformat.writes(release).encode(),
    }
    files.update(grader_modules(module))
    files["autograder/checks/__init__.py"] = checks_init(checks, module).encode()
    return files


EXECUTABLE = {"setup.sh", "run_autograder"}


def write_archive(files: dict[str, bytes], out: Path) -> Path:
    """A reproducible zip (fixed dates, sorted names), scripts executable."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100755 if name in EXECUTABLE else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return out


def build(root: Path, assignment: str, out: Path, seed: int, policy: Policy) -> Path:
    """Write the archive of ``assignment`` from the course at ``root`` to ``out``."""
    return write_archive(archive_files(root, assignment, seed, policy), out)
