"""Serve MathJax 3 from the built site itself, so the book renders math offline.

Sphinx's ``mathjax_path`` points to a CDN by default. This extension finds a
local copy of MathJax 3 (the ``es5`` build), copies the parts a page needs into
``<html>/_static/mathjax/`` once per build and points ``mathjax_path`` there.

Where the copy comes from, first match wins:

1. the ``mathjax_offline_dir`` config value (a directory that holds ``tex-chtml.js``);
2. the PyPI package ``sphinx-mathjax-offline`` (MathJax 3.2.2), pinned in the
   project's constraints; only its files are used, not its Sphinx hooks.

If none is found the build warns (so ``-W`` fails loudly) and keeps the CDN.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

logger = logging.getLogger(__name__)

ENTRY = "tex-chtml.js"
# The combined TeX-to-CommonHTML component plus what it loads lazily: fonts,
# TeX extensions for autoloaded macros, the context menu and accessibility.
PARTS = (ENTRY, "input", "output", "ui", "a11y", "sre")
TARGET = "mathjax"


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def find_mathjax(config: Config) -> Path | None:
    candidates = []
    if config.mathjax_offline_dir:
        candidates.append(Path(config.mathjax_offline_dir))
    package = _package_dir()
    if package is not None:
        candidates.append(package)
    for candidate in candidates:
        if (candidate / ENTRY).is_file():
            return candidate
    return None


def _on_config_inited(app: Sphinx, config: Config) -> None:
    source = find_mathjax(config)
    app.offline_mathjax_source = source  # type: ignore[attr-defined]
    if source is None:
        logger.warning(
            "offline_mathjax: no local MathJax 3 found (install sphinx-mathjax-offline "
            "or set mathjax_offline_dir); the pages will load MathJax from the CDN",
            type="offline_mathjax",
        )
        return
    config.mathjax_path = f"{TARGET}/{ENTRY}"


def _stamp(source: Path) -> str:
    entry = (source / ENTRY).read_bytes()
    return f"{source}\n{hashlib.sha256(entry).hexdigest()}\n"


def _on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    source = getattr(app, "offline_mathjax_source", None)
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / TARGET
    stamp = target / ".offline-mathjax-stamp"
    expected = _stamp(source)
    if stamp.is_file() and stamp.read_text() == expected:
        return  # an unchanged rebuild copies nothing
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for part in PARTS:
        path = source / part
        if path.is_dir():
            shutil.copytree(path, target / part)
        elif path.is_file():
            shutil.copy2(path, target / part)
    stamp.write_text(expected)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.mathjax")
    app.add_config_value("mathjax_offline_dir", "", "html", types=[str])
    # Run after the defaults and conf values are in place, before the builder starts.
    app.connect("config-inited", _on_config_inited, priority=900)
    app.connect("build-finished", _on_build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
