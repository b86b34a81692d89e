"""Sphinx extension for the rmapkit book: alt text for the diagrams, and the figures page.

* Every SVG rmapkit draws carries its alt text as ``<title>`` and ``<desc>``; myst-nb writes a
  notebook's SVG output to a file and shows it with an ``<img>`` whose alt text would be
  empty.  ``doctree-resolved`` copies the SVG's title and description into the image's alt.
* ``{rmapkit-figures}`` lists ``figures/*.svg``, each with its title as caption and its
  title and description as alt text, so the figures page cannot fall behind ``make figures``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

__all__ = ["svg_alt", "setup"]


def svg_alt(svg: str) -> str:
    """Alt text for an SVG: its <title>, then its <desc> (rmapkit writes both into every SVG).

    >>> svg_alt('<svg><title id="t">Two VMAs</title><desc>vma3 and vma4</desc></svg>')
    'Two VMAs. vma3 and vma4'
    >>> svg_alt('<svg></svg>')
    ''
    """
    def first(tag):
        m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", svg, re.S)
        return html.unescape(" ".join(m.group(1).split())) if m else ""
    return ". ".join(x.rstrip(".") for x in (first("title"), first("desc")) if x not in ("", "."))


def _image_file(app, node) -> Path | None:
    uri = node.get("candidates", {}).get("*") or node.get("uri", "")
    for base in (Path(app.srcdir), Path(app.outdir)):
        path = base / uri
        if path.suffix == ".svg" and path.is_file():
            return path
    return None


def _alt_from_svg(app, doctree, docname) -> None:
    for node in doctree.findall(nodes.image):
        if node.get("alt"):
            continue
        path = _image_file(app, node)
        if path is not None:
            node["alt"] = svg_alt(path.read_text(encoding="utf-8")) or "diagram"


class FiguresDirective(SphinxDirective):
    """``{rmapkit-figures}``: one captioned figure per ``figures/*.svg``, sorted by name."""

    def run(self):
        out = []
        figures = sorted((Path(self.env.srcdir) / "figures").glob("*.svg"))
        for svg in figures:
            self.env.note_dependency(str(svg))
            text = svg.read_text(encoding="utf-8")
            alt, title = svg_alt(text) or svg.stem, svg_alt(text.split("<desc", 1)[0])
            fig = nodes.figure(ids=[svg.stem])
            fig += nodes.image(uri=f"/figures/{svg.name}", alt=alt)
            cap = nodes.caption()
            cap += nodes.strong(text=svg.stem)
            cap += nodes.Text(f": {title}" if title else "")
            fig += cap
            out.append(fig)
        if not figures:
            raise self.error("figures/ has no SVG: run make figures")
        return out


def setup(app):
    app.add_directive("rmapkit-figures", FiguresDirective)
    app.connect("doctree-resolved", _alt_from_svg)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
