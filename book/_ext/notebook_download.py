"""Offer every notebook chapter as an ``.ipynb`` in the page's download menu.

sphinx-book-theme lists ``.ipynb`` in its download menu only when the page
context has ``ipynb_source``. It sets that itself for MyST Markdown notebooks
only when a launch button (Binder, JupyterHub, Colab, ...) is configured, which
this course does not do. This handler does the same copy without one: it takes
the notebook that MyST-NB executed (``<build>/jupyter_execute/<page>.ipynb``),
copies it next to the page sources in ``<html>/_sources/`` and sets
``ipynb_source``. It must run before the theme's header-button handler
(priority 501), hence priority 450.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sphinx.application import Sphinx


def _add_notebook_download(app: Sphinx, pagename: str, templatename, context, doctree) -> None:
    if doctree is None or context.get("ipynb_source"):
        return
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # a plain Markdown page, not a notebook
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _add_notebook_download, priority=450)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
