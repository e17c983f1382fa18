"""The chapters' notebooks outside the course.

Every notebook chapter has a note "What this notebook needs" whose one ``pip install``
command names the numpy-backprop wheel at the published book's address
(``html.baseurl``) and packages that provide every module its code imports (checked for
every chapter from the sources, fast), and the book's hook publishes that wheel, or none
when the course keeps its answer key. Then, from the built site: two chapters'
``.ipynb`` downloads run in a clean virtual environment (no system site-packages, not
this checkout) holding only the site's wheel, the packages their note names and
Jupyter's kernel and client, and print what the site shows. In that environment, where
numpy-backprop is an ordinary install inside site-packages, a student's cell in the
sandbox can neither import it nor list its files.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from types import SimpleNamespace

import jupytext
import nbformat
import numpy_backprop.data
import pytest
import yaml
from packaging.utils import canonicalize_name

from autograder.gradescope.archive import runtime_closure
from autograder.sandbox import Isolation

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "packages/numpy-backprop/pyproject.toml").read_text())
EXTENSION = ROOT / "book" / "_ext" / "package_wheel.py"
WHEEL = f"numpy_backprop-{PROJECT['project']['version']}-py3-none-any.whl"
COMMAND = re.compile(r"^pip install (?P<wheel>\S+\.whl)(?P<needs>(?: [A-Za-z0-9._-]+)*)\s*$")
NOTE = "What this notebook needs"
# Quick to run, and between them they need Matplotlib, scikit-learn and its data sets.
DOWNLOADED = ("output-deltas", "hyperparameter-search")  # the first's needs come first
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def notebook_chapters() -> list[str]:
    """Names of the toc's pages that are notebooks (a jupytext header with a kernel)."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    pages = [Path(p).name for p in re.findall(r"file:\s*book/(\S+)", toc)]
    return [p for p in pages if "kernelspec:" in (ROOT / "book" / f"{p}.md").read_text()]


def install_command(markdown: list[str]) -> tuple[str, list[str]]:
    """(wheel URL, other packages) of the one ``pip install`` line in the note."""
    notes = [text for text in markdown if NOTE in text]
    assert len(notes) == 1, f"{len(notes)} notes {NOTE!r}"
    found = [m for line in notes[0].splitlines() if (m := COMMAND.match(line.strip()))]
    assert len(found) == 1, f"the note has {len(found)} 'pip install <wheel> ...' lines"
    return found[0]["wheel"], found[0]["needs"].split()


def imports(code: list[str]) -> list[tuple[str, set[str]]]:
    """(module, names taken from it) of every absolute import in the cells."""
    found = []
    for source in code:
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                found += [(alias.name, set()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.append((node.module, {alias.name for alias in node.names}))
    return found


# Functions of numpy_backprop.data that import scikit-learn when called (its "data" extra).
LOADERS = {
    node.name
    for node in ast.parse(Path(numpy_backprop.data.__file__).read_text()).body
    if isinstance(node, ast.FunctionDef)
    and any(m.startswith("sklearn") for m, _ in imports([ast.unparse(node)]))
}


def imported_modules(code: list[str]) -> set[str]:
    """Top-level names of the modules the cells import, outside the standard library,
    with scikit-learn for the loaders of ``numpy_backprop.data`` that import it."""
    found = imports(code)
    names = {module.partition(".")[0] for module, _ in found}
    if any(m == "numpy_backprop.data" and taken & LOADERS for m, taken in found):
        names.add("sklearn")
    return names - set(sys.stdlib_module_names)


def cells_of(notebook: nbformat.NotebookNode, kind: str) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == kind]


@pytest.mark.parametrize("page", notebook_chapters())
def test_every_chapter_says_what_it_needs_and_that_covers_its_imports(page):
    notebook = jupytext.read(ROOT / "book" / f"{page}.md")
    wheel, needs = install_command(cells_of(notebook, "markdown"))
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert wheel == config["html"]["baseurl"].rstrip("/") + "/" + WHEEL
    installed = runtime_closure(("numpy-backprop", *needs))  # with what they require
    owners = importlib.metadata.packages_distributions()
    owners["numpy_backprop"] = ["numpy-backprop"]  # editable here: its record lists no module
    for module in sorted(imported_modules(cells_of(notebook, "code"))):
        dists = {canonicalize_name(d) for d in owners.get(module, ())}
        assert dists, f"{page} imports {module}, which no installed distribution provides"
        assert dists & installed, f"{page} imports {module} ({', '.join(dists)}), not named"


def test_the_import_scan_sees_every_kind_of_import():
    code = ["%config X\nimport numpy as np, os\nfrom sklearn.svm import SVC\nfrom . import x"]
    code.append("def f():\n    import matplotlib.pyplot as plt\n    from myst_nb import glue")
    assert imported_modules(code) == {"numpy", "sklearn", "matplotlib", "myst_nb"}
    assert LOADERS == {"load_digits", "two_moons"}
    assert imported_modules(["from numpy_backprop.data import and_or_xor"]) == {"numpy_backprop"}
    loads = imported_modules(["from numpy_backprop.data import and_or_xor, load_digits"])
    assert loads == {"numpy_backprop", "sklearn"}


def publish(outdir: Path, enabled: bool) -> list[str]:
    """Run the book's wheel hook on ``outdir`` as Sphinx would; the files it leaves."""
    spec = importlib.util.spec_from_file_location("package_wheel", EXTENSION)
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    app = SimpleNamespace(
        outdir=str(outdir),
        builder=SimpleNamespace(format="html"),
        config=SimpleNamespace(numpy_backprop_wheel=enabled),
    )
    hook._publish_wheel(app, None)
    return sorted(p.name for p in outdir.iterdir())


def test_the_book_publishes_the_whole_package_or_nothing(tmp_path):
    assert publish(tmp_path, True) == [WHEEL]
    with zipfile.ZipFile(tmp_path / WHEEL) as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read(f"numpy_backprop-{PROJECT['project']['version']}.dist-info/METADATA")
    package = Path(numpy_backprop.data.__file__).parent
    assert {f"numpy_backprop/{p.name}" for p in package.glob("*.py")} <= names
    assert b"Requires-Dist: numpy" in metadata
    (tmp_path / "index.html").write_text("")
    assert publish(tmp_path, False) == ["index.html"]  # a course that keeps the key


# --- from the built site -----------------------------------------------------------------

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
notebook.cells.append(nbformat.v4.new_code_cell(
    "import sys, numpy_backprop\\nprint(sys.prefix, numpy_backprop.__file__)"))
NotebookClient(notebook, timeout=300, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(notebook, sys.argv[2])
"""


def reader_env() -> dict[str, str]:
    """The environment of a reader's shell: no virtualenv or Python path of this run."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **THREADS}


@pytest.fixture(scope="module")
def reader(built_book, tmp_path_factory):
    """(python of a fresh virtual environment with the site's wheel and Jupyter's kernel
    and client only, a function that pip-installs into it, its folder)."""
    folder = tmp_path_factory.mktemp("reader")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=reader_env())
    python = venv / "bin" / "python"

    def install(*requirements: str) -> None:
        # Pinned like the book's own build, so that both print the same digits.
        pip = [str(python), "-m", "pip", "install", "-q", "--no-compile", "--no-input"]
        pip += ["-c", str(ROOT / "constraints.txt"), *requirements]
        result = subprocess.run(pip, capture_output=True, text=True, env=reader_env())
        assert result.returncode == 0, result.stderr[-3000:]

    install(str(built_book / WHEEL), "nbclient", "ipykernel")
    return python, install, folder


def stdout_lines(notebook: nbformat.NotebookNode) -> list[list[str]]:
    """Per code cell, the distinct lines it printed, in order."""
    printed = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            text = "".join(o.text for o in cell.outputs if o.output_type == "stream")
            printed.append(list(dict.fromkeys(text.splitlines())))
    return printed


@pytest.mark.slow
@pytest.mark.parametrize("page", DOWNLOADED)
def test_a_downloaded_chapter_runs_with_only_what_it_says_it_needs(built_book, reader, page):
    python, install, folder = reader
    downloaded = built_book / "_sources" / "book" / f"{page}.ipynb"
    site = nbformat.read(downloaded, as_version=4)
    wheel, needs = install_command(cells_of(site, "markdown"))
    assert wheel.endswith("/" + WHEEL) and (built_book / WHEEL).is_file()
    install(*needs)
    workdir, executed = folder / page, folder / f"{page}.executed.ipynb"
    workdir.mkdir()
    command = [str(python), "-c", RUN_NOTEBOOK, str(downloaded), str(executed), str(workdir)]
    result = subprocess.run(command, capture_output=True, text=True, env=reader_env())
    assert result.returncode == 0, result.stderr[-4000:]
    ran = nbformat.read(executed, as_version=4)
    prefix, module = ran.cells[-1].outputs[0].text.split()
    assert Path(prefix) == python.parent.parent.resolve()
    assert Path(module).is_relative_to(Path(prefix) / "lib")  # installed, not this checkout
    assert stdout_lines(ran)[:-1] == stdout_lines(site)
    assert any(re.search(r"\d\.\d", line) for cell in stdout_lines(site) for line in cell)


HIDDEN = """
import json, os, sys
sys.path.insert(0, sys.argv[1])  # the grader (this checkout); numpy_backprop is installed
import numpy as np
import numpy_backprop
from autograder.sandbox import Cell, Isolation, Limits, Probe, run
folder = os.path.dirname(numpy_backprop.__file__)
look = '''
import os
def look(x):
    try:
        import numpy_backprop.layers
        imported = 1.0
    except ImportError:
        imported = 0.0
    files = os.listdir(FOLDER) if os.path.isdir(FOLDER) else []
    return np.array([imported, float(len(files))])
'''.replace("FOLDER", repr(folder))
probe = Probe("look", [{"call": "look", "args": [{"in": "x"}], "save": ["y"]}], ["y"])
isolation = Isolation.for_course([sys.argv[1]])
outcome = run([Cell("setup", "import numpy as np"), Cell("answer", look)], [probe],
              {"x": np.zeros(1)}, Limits(), isolation)
print(json.dumps({"mode": isolation.mode, "folder": folder, "outside": len(os.listdir(folder)),
                  "inside": outcome.values["look"]["y"].tolist(),
                  "errors": {**outcome.cell_errors, **outcome.probe_errors}}))
"""


@pytest.mark.slow
@pytest.mark.skipif(Isolation.for_course([]).mode == "plain", reason="needs bubblewrap")
def test_a_student_cannot_reach_numpy_backprop_installed_from_the_wheel(reader):
    python, _, folder = reader
    command = [str(python), "-c", HIDDEN, str(ROOT)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, env=reader_env())
    assert result.returncode == 0, result.stderr[-4000:]
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["mode"] != "plain" and not seen["errors"], seen
    assert Path(seen["folder"]).is_relative_to(python.parent.parent.resolve())
    assert seen["outside"] > 5  # the grader's process sees the installed package ...
    assert seen["inside"] == [0.0, 0.0]  # ... the student's cell neither imports nor lists it
