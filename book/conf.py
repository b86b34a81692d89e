"""Sphinx configuration of the static book (``make html``): myst-nb renders the stored
notebooks, nothing is executed and nothing is fetched.

Run from the repository root as ``sphinx-build -c book . build/html``: the source directory
is the repository, so the pages are the reader's own ``notebooks/*.ipynb`` (no copies) and
``figures/*.svg``; ``include_patterns`` keeps every other file of the repository out.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "rmapkit: anonymous memory as a virtual file"
author = "the rmapkit authors"
copyright = "the rmapkit authors"

root_doc = "book/index"
include_patterns = ["book/index.md", "book/figures.md", "notebooks/[0-9][0-9]-*.ipynb"]
exclude_patterns = [".venv", "build", ".git", "**/.ipynb_checkpoints"]

extensions = ["myst_nb", "rmapkit_book"]

# The stored outputs are the book: never execute (nbval checks them against a fresh run).
nb_execution_mode = "off"
# The widget cells store a text/html diagram beside their text/plain twin; SVG first.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = "rmapkit"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_extra_path = ["_extra"]
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
html_show_copyright = False
# Search results without page summaries: a summary is fetched with fetch(), which a browser
# refuses for file:// pages; the titles and links need no request.
html_show_search_summary = False
# The sidebar without its own search field: the page header has one already.
html_sidebars = {"**": ["navbar-logo.html", "sbt-sidebar-nav.html"]}
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
    "footer_content_items": [],
}
