"""Build the static HTML book: ``python tools/build_html.py [--out build/html]`` (``make html``).

One page per chapter (notebooks/NN-*.ipynb, converted with nbconvert's ``lab`` template from
the stored outputs: nothing is executed), an ``index.html`` with the chapter list, and a
``figures.html`` gallery of figures/*.svg (copied beside the pages).  Offline both ways: the
build fetches nothing, and the pages load no script from the network (no widget state is
stored and no chapter uses LaTeX, so require.js and MathJax are left out).

Every diagram gets its alt text from the SVG's own ``<title>`` and ``<desc>``, links between
chapters (``03-split-example.ipynb``) point at the HTML pages, and the build fails if any
local link or image in the output does not resolve.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent

_TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{% block data_svg scoped -%}
<div class="jp-RenderedSVG jp-OutputArea-output {{ extra_class }}" data-mime-type="image/svg+xml">
<img src="data:image/svg+xml;base64,{{ output.data['image/svg+xml'] | text_base64 | escape_html }}" alt="{{ output.data['image/svg+xml'] | svg_alt | escape_html }}">
</div>
{%- endblock data_svg %}
"""

_NAV_CSS = """
nav.rmapkit-nav { font-family: sans-serif; font-size: 14px; padding: 8px 16px;
  border-bottom: 1px solid #ddd; display: flex; gap: 24px; }
nav.rmapkit-nav a { text-decoration: none; }
"""


def svg_alt(svg: str) -> str:
    """Alt text for an SVG: its <title>, then its <desc> (rmapkit writes both into every SVG).

    >>> svg_alt('<svg><title id="t">Two VMAs</title><desc>vma3 and vma4</desc></svg>')
    'Two VMAs. vma3 and vma4'
    >>> svg_alt('<svg></svg>')
    'diagram'
    """
    def first(tag):
        m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", svg, re.S)
        return html.unescape(" ".join(m.group(1).split())) if m else ""
    title, desc = first("title"), first("desc")
    if desc in ("", "."):
        desc = ""
    return ". ".join(x.rstrip(".") for x in (title, desc) if x) or "diagram"


def chapter_title(nb) -> str:
    """The chapter's first level-1 heading, without Markdown backticks."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if m:
                return m.group(1).strip().replace("`", "")
    return ""


def _nav(prev_page, next_page) -> str:
    parts = ['<a href="index.html">Contents</a>']
    if prev_page:
        parts.insert(0, f'<a href="{prev_page[0]}">&larr; {html.escape(prev_page[1])}</a>')
    if next_page:
        parts.append(f'<a href="{next_page[0]}">{html.escape(next_page[1])} &rarr;</a>')
    return f'<nav class="rmapkit-nav">{" ".join(parts)}</nav>'


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f'<title>{html.escape(title)}</title>\n<style>{_NAV_CSS}\n'
            'body { font-family: sans-serif; max-width: 60em; margin: 0 auto; '
            'padding: 0 1em 2em; line-height: 1.5; }\n'
            'figure { margin: 2em 0; } figure img { max-width: 100%; }\n'
            'figcaption { color: #444; }\n</style>\n</head>\n<body>\n'
            f'{body}\n</body>\n</html>\n')


def _rewrite_links(soup) -> None:
    """Chapter links to pages; ../figures/ and figures/ to the copied figures."""
    for tag, attr in (("a", "href"), ("img", "src")):
        for el in soup.find_all(tag):
            url = el.get(attr)
            if not url or urlparse(url).scheme or url.startswith("#"):
                continue
            path, _, frag = url.partition("#")
            if path.endswith(".ipynb"):
                path = Path(path).name[:-len(".ipynb")] + ".html"
            elif path.startswith("../figures/"):
                path = path[len("../"):]
            el[attr] = path + (f"#{frag}" if frag else "")


def check_links(out: Path) -> list[str]:
    """Local hrefs and srcs in out/*.html that point at nothing."""
    from bs4 import BeautifulSoup
    broken = []
    for page in sorted(out.glob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag, attr in (("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")):
            for el in soup.find_all(tag):
                url = el.get(attr)
                if not url or url.startswith("#") or urlparse(url).scheme in ("data", "mailto"):
                    continue
                if urlparse(url).scheme:
                    if tag in ("img", "link", "script"):
                        broken.append(f"{page.name}: {tag} loads {url} from the network")
                    continue
                target = out / unquote(url.partition("#")[0])
                if not target.exists():
                    broken.append(f"{page.name}: {tag} {attr}={url!r} does not exist")
    return broken


def build(out: Path, notebooks: Path = ROOT / "notebooks", figures: Path = ROOT / "figures",
          quiet: bool = False) -> list[Path]:
    import nbformat
    from bs4 import BeautifulSoup
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"book.j2": _TEMPLATE})],
                            template_file="book.j2")
    exporter.register_filter("svg_alt", svg_alt)

    chapters = []
    for path in sorted(notebooks.glob("[0-9][0-9]-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        chapters.append((path, nb, path.stem + ".html", chapter_title(nb) or path.stem))

    written = []
    for i, (path, nb, page, title) in enumerate(chapters):
        nb.metadata["title"] = title
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        soup = BeautifulSoup(body, "html.parser")
        _rewrite_links(soup)
        prev_page = chapters[i - 1][2:] if i > 0 else None
        next_page = chapters[i + 1][2:] if i + 1 < len(chapters) else None
        nav = BeautifulSoup(_nav(prev_page, next_page), "html.parser")
        style = soup.new_tag("style")
        style.string = _NAV_CSS
        soup.head.append(style)
        soup.body.insert(0, nav)
        soup.body.append(BeautifulSoup(_nav(prev_page, next_page), "html.parser"))
        (out / page).write_text(str(soup), encoding="utf-8")
        written.append(out / page)
        if not quiet:
            print(f"  {page}  {title}")

    figs = sorted(figures.glob("*.svg")) if figures.is_dir() else []
    if figures.is_dir():
        shutil.copytree(figures, out / "figures", dirs_exist_ok=True)
    items = "\n".join(f'<li><a href="{page}">{html.escape(title)}</a></li>'
                      for _, _, page, title in chapters)
    fig_link = '<p><a href="figures.html">All figures</a></p>' if figs else ""
    (out / "index.html").write_text(_page("rmapkit: the book", (
        "<h1>rmapkit: the book</h1>\n"
        "<p>Anonymous memory as a virtual file: the Linux 6.18 reverse map, one executable "
        "model and eight chapters. This is the static rendering of the notebooks, with "
        "their stored outputs; run them in JupyterLab (<code>make lab</code>) for the "
        "widgets.</p>\n"
        f"<h2>Chapters</h2>\n<ol start=\"0\">\n{items}\n</ol>\n{fig_link}")), encoding="utf-8")
    written.append(out / "index.html")

    if figs:
        blocks = []
        for svg in figs:
            alt = svg_alt(svg.read_text(encoding="utf-8"))
            blocks.append(f'<figure id="{svg.stem}"><img src="figures/{svg.name}" '
                          f'alt="{html.escape(alt)}">\n<figcaption><b>{svg.stem}</b>: '
                          f'{html.escape(alt)}</figcaption></figure>')
        (out / "figures.html").write_text(_page("rmapkit: figures", (
            _nav(None, None) + "<h1>Figures</h1>\n<p>Generated by <code>make figures</code> "
            "(<code>python -m rmapkit.figures figures/</code>) from the shipped scenarios."
            "</p>\n" + "\n".join(blocks))), encoding="utf-8")
        written.append(out / "figures.html")

    broken = check_links(out)
    if broken:
        raise SystemExit("broken links in the HTML book:\n  " + "\n  ".join(broken))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    args = ap.parse_args(argv)
    written = build(args.out)
    print(f"HTML book: {len(written)} pages in {args.out}/ (open {args.out / 'index.html'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
