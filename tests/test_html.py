"""`make html`: the static book builds offline, links its figures, and no link is broken."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("nbconvert")
pytest.importorskip("bs4")

_spec = importlib.util.spec_from_file_location("build_html", ROOT / "tools" / "build_html.py")
build_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_html)

CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    build_html.build(out, quiet=True)       # raises SystemExit on a broken local link
    return out


def test_every_chapter_has_a_page_in_the_index(book):
    assert len(CHAPTERS) == 8, CHAPTERS
    index = (book / "index.html").read_text()
    for stem in CHAPTERS:
        assert (book / f"{stem}.html").exists()
        assert f'href="{stem}.html"' in index


def test_diagrams_are_in_the_pages_with_alt_text(book):
    for stem in CHAPTERS:
        page = (book / f"{stem}.html").read_text()
        alts = re.findall(r'<img [^>]*alt="([^"]*)"', page)
        assert "No description has been provided for this image" not in alts, stem
        svgs = page.count("data:image/svg+xml") + page.count("<svg")
        assert svgs >= 1, f"{stem}: no diagram in the HTML"


def test_figures_are_copied_and_linked(book):
    figs = sorted(p.name for p in (ROOT / "figures").glob("*.svg"))
    assert figs, "figures/ has no SVG: run make figures"
    gallery = (book / "figures.html").read_text()
    for name in figs:
        assert (book / "figures" / name).exists()
        assert f'src="figures/{name}"' in gallery
    assert 'href="figures.html"' in (book / "index.html").read_text()


def test_pages_load_nothing_from_the_network(book):
    assert build_html.check_links(book) == []
    for page in book.glob("*.html"):
        assert not re.search(r'<script[^>]+src="https?:', page.read_text()), page.name
