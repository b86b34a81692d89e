"""`make html`: the static book (Sphinx + myst-nb, book/conf.py) builds offline from the stored
outputs, and reads well in a browser opened on file://.

The book is built once per session, as `make html` builds it (warnings are errors), into a
temporary folder.  The page tests read the HTML; the browser tests open it in Debian's
Chromium through Playwright (nothing is downloaded) and check that no page asks for anything
outside file://, that search finds a chapter by a term from its text, and that no diagram is
wider than the page's text column.  Cost: ~7 s for the build, ~10 s in the browser.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
FIGURES = sorted(p.name for p in (ROOT / "figures").glob("*.svg"))
CHROMIUM = os.environ.get("RMAPKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    res = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-c", "book",
                          "-d", str(out / ".doctrees"), "-W", "--keep-going", "-q",
                          ".", str(out / "html")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"make html failed:\n{res.stdout}\n{res.stderr}"
    return out / "html"


def page(book: Path, rel: str) -> str:
    return (book / rel).read_text(encoding="utf-8")


def test_every_chapter_is_a_page_in_the_sidebar_once(book):
    assert len(CHAPTERS) == 9, CHAPTERS
    home = page(book, "book/index.html")
    for stem in CHAPTERS:
        assert (book / "notebooks" / f"{stem}.html").exists(), stem
        assert home.count(f'href="../notebooks/{stem}.html"') >= 1, stem
    titles = re.findall(r'<a class="reference internal" href="../notebooks/[^"]+">(.*?)</a>',
                        home)
    plain = [re.sub(r"<[^>]+>", "", t) for t in titles]
    assert not any(re.match(r"\d+\.\s*\d", t) for t in plain), f"numbered twice: {plain}"
    assert (book / "index.html").exists(), "build/html/index.html must open the book"


def test_prev_next_links_follow_chapter_order(book):
    pages = [f"{stem}.html" for stem in CHAPTERS]
    for i, name in enumerate(pages):
        text = page(book, f"notebooks/{name}")
        nav = text[text.index('class="prev-next-area"'):]
        if i > 0:
            assert f'href="{pages[i - 1]}"' in nav, f"{name}: no link back to {pages[i - 1]}"
        if i + 1 < len(pages):
            assert f'href="{pages[i + 1]}"' in nav, f"{name}: no link on to {pages[i + 1]}"


def test_diagrams_keep_their_alt_text_and_helper_cells_are_hidden(book):
    for stem in CHAPTERS:
        text = page(book, f"notebooks/{stem}.html")
        imgs = re.findall(r"<img\b[^>]*>", text)
        assert imgs or stem == "07-your-kernel", f"{stem}: no diagram"
        for img in imgs:
            alt = re.search(r'\balt="([^"]*)"', img)
            assert alt and len(html.unescape(alt.group(1))) > 20, f"{stem}: {img[:200]}"
        assert "from rmapkit.book import" not in text, f"{stem}: the import cell is shown"


def test_figures_page_shows_every_figure(book):
    assert FIGURES, "figures/ has no SVG: run make figures"
    text = page(book, "book/figures.html")
    srcs = re.findall(r'<img\b[^>]*src="([^"]+)"', text)
    assert sorted(Path(s).name for s in srcs) == FIGURES
    for src in srcs:
        assert (book / "book" / src).resolve().is_file(), src


def test_no_page_names_a_script_or_stylesheet_on_the_network(book):
    for path in book.rglob("*.html"):
        for m in re.finditer(r'<(script|link|img)\b[^>]*(?:src|href)="(https?:)?//', 
                             path.read_text(encoding="utf-8")):
            pytest.fail(f"{path.relative_to(book)} loads {m.group(0)}")


# -- in a browser --------------------------------------------------------------------------
def _browser_skip() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (make test installs it when run as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as e:
        return f"the playwright package is missing ({e}): run make venv"
    return None


@pytest.fixture(scope="module")
def browser_page():
    reason = _browser_skip()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 800})
        finally:
            browser.close()


@pytest.mark.browser
def test_pages_request_nothing_outside_file_urls_and_diagrams_fit(book, browser_page):
    pg = browser_page
    requests = []
    pg.on("request", lambda r: requests.append(r.url))
    pages = ["index.html", "book/index.html", "book/figures.html", "search.html"] + \
        [f"notebooks/{stem}.html" for stem in CHAPTERS]
    shots = ROOT / "build" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    for rel in pages:
        pg.goto((book / rel).as_uri())
        pg.wait_for_load_state("load")
        if rel == "index.html":
            pg.wait_for_url("**/book/index.html")
        too_wide = pg.evaluate("""() => {
            const col = document.querySelector('article');
            if (!col) return [];
            const right = col.getBoundingClientRect().right + 1;
            return [...col.querySelectorAll('img, svg')]
                .filter(e => !e.closest('.highlight, button, .headerlink'))
                .filter(e => e.getBoundingClientRect().right > right)
                .map(e => e.getAttribute('src') || e.tagName);
        }""")
        assert not too_wide, f"{rel}: wider than the text column: {too_wide[:3]}"
        if rel == "notebooks/03-split-example.html":
            pg.screenshot(path=str(shots / "book-03-split-example.png"))
    outside = sorted({u for u in requests if not u.startswith(("file:", "data:", "blob:"))})
    assert not outside, f"the book asked the network for {outside[:5]}"
    assert any(u.endswith("searchindex.js") for u in requests)


@pytest.mark.browser
@pytest.mark.parametrize("term, chapter", [("interval tree", "03-split-example"),
                                           ("remap_pfn_range", "06-remap-pfn-range"),
                                           ("kpageflags", "07-your-kernel")])
def test_search_finds_a_chapter_by_a_term_from_its_text(book, browser_page, term, chapter):
    text = page(book, f"notebooks/{chapter}.html")
    assert term.lower() in text.lower(), f"{term!r} is not in {chapter}'s text"
    pg = browser_page
    pg.goto((book / "search.html").as_uri() + "?q=" + term.replace(" ", "+"))
    pg.wait_for_selector("#search-results li a", timeout=20_000)
    hrefs = [a.get_attribute("href") for a in pg.query_selector_all("#search-results li a")]
    assert any(h.split("#")[0].endswith(f"notebooks/{chapter}.html") for h in hrefs), hrefs
    target = next(h for h in hrefs if h.split("#")[0].endswith(f"notebooks/{chapter}.html"))
    pg.click(f'#search-results li a[href="{target}"]')
    pg.wait_for_load_state("load")
    assert pg.url.split("#")[0].endswith(f"notebooks/{chapter}.html")
