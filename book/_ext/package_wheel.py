"""Publish the numpy-backprop wheel at the root of the built site.

Every chapter's notebook imports ``numpy_backprop`` and says to install it with
``pip install <html.baseurl><wheel>``. This handler builds that wheel from
``packages/numpy-backprop`` with flit_core, in process, once the HTML is written.
``numpy_backprop_wheel: false`` (a course that keeps its answer key from students,
see the instructor page) publishes none and removes one left by an earlier build.
"""

from __future__ import annotations

from pathlib import Path

from flit_core.wheel import make_wheel_in
from sphinx.application import Sphinx

PROJECT = Path(__file__).resolve().parents[2] / "packages" / "numpy-backprop"


def _publish_wheel(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for old in outdir.glob("numpy_backprop-*.whl"):
        old.unlink()
    if app.config.numpy_backprop_wheel:
        make_wheel_in(PROJECT / "pyproject.toml", outdir)


def setup(app: Sphinx) -> dict:
    app.add_config_value("numpy_backprop_wheel", True, "html")
    app.connect("build-finished", _publish_wheel)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
