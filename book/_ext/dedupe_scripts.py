"""Drop repeated <script> entries from every page.

With Sphinx 7.4, sphinx-thebe 0.3.1 adds its inline script to each page twice, and the
second copy throws "Identifier 'THEBE_JS_URL' has already been declared" in the browser.
This keeps the first of any scripts that share a file name and attributes.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        filename = getattr(script, "filename", script) or ""
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(filename), tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
