"""The book's notebooks: executed from their text, stored with outputs, readable on GitHub.

nbval (``make test``: ``pytest --nbval notebooks/ --nbval-sanitize-with book/sanitize.cfg``)
re-runs every chapter and compares each cell's output with the stored one: that is where
stale outputs are caught, once.  These tests check, without running anything, what nbval
does not:

* the eight chapters exist, each as text (``book/chapters/NN-*.py``, jupytext percent
  format) and as a notebook whose cells and tags are exactly the text's (edit the text, then
  ``python book/build.py NN``), and the notebooks folder holds chapters only;
* the chapters' code passes pyflakes' checks (``ruff check --select E9,F``), so an
  undefined or unused name is caught before a notebook runs;
* every code cell ran, in order, top to bottom (outputs always carry an execution count);
* nothing GitHub cannot render is stored: no widget state, and a widget view only beside a
  text/plain fallback;
* no output holds a memory address, a traceback or a path of the machine that built it;
* each chapter opens with learning goals, imports its helpers from ``rmapkit.book`` in one
  cell the static book hides, has exactly one playground widget cell whose output nbval
  ignores and which follows a checked cell, and chapter 7 marks every live-kernel cell
  ``# NBVAL_IGNORE_OUTPUT``.

Cost: about 1 s (reading sixteen files; ruff is one subprocess).
"""

from __future__ import annotations

import configparser
import copy
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
CHAPTERS = [
    "00-start-here", "01-linear-page-index", "02-virtual-anon-file", "03-split-example",
    "04-mremap-and-merging", "05-fork-and-anon-vma-hierarchy", "06-remap-pfn-range",
    "07-your-kernel", "08-large-folios",
]


def _load_build():
    spec = importlib.util.spec_from_file_location("rmapkit_book_build", ROOT / "book" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _load_build()
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_cache = {}


def ignores_output(cell) -> bool:
    """True if nbval ignores this cell's output (tag or first-line comment)."""
    return ("nbval-ignore-output" in cell.get("metadata", {}).get("tags", [])
            or cell.get("source", "").lstrip().startswith("# NBVAL_IGNORE_OUTPUT"))


def stored(stem):
    if stem not in _cache:
        _cache[stem] = nbformat.read(build.notebook_path(stem), as_version=4)
    return _cache[stem]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def output_texts(output):
    """Every text an output carries (stream text, error text, every textual mime type)."""
    if output.get("output_type") == "stream":
        yield "".join(output.get("text", ""))
    elif output.get("output_type") == "error":
        yield output.get("ename", "") + ": " + output.get("evalue", "")
        yield "\n".join(output.get("traceback", []))
    for mime, val in output.get("data", {}).items():
        if isinstance(val, (str, list)):
            yield "".join(val) if isinstance(val, list) else val


def test_the_eight_chapters_exist_and_the_notebooks_folder_holds_only_them():
    assert build.chapters() == CHAPTERS
    shown = sorted(p.name for p in NB_DIR.iterdir() if not p.name.startswith("."))
    assert shown == [f"{stem}.ipynb" for stem in CHAPTERS], \
        "notebooks/ is the reader's folder: chapters only (tooling lives in book/)"


def test_notebook_cells_are_the_text_cells():
    assert build.check(CHAPTERS) == []


def test_check_names_a_chapter_whose_text_changed(tmp_path, monkeypatch):
    text = (build.TEXT_DIR / "03-split-example.py").read_text()
    for stem in CHAPTERS:
        (tmp_path / f"{stem}.py").write_text((build.TEXT_DIR / f"{stem}.py").read_text())
    (tmp_path / "03-split-example.py").write_text(text.replace("# %%\n", "# %%\nx = 1\n", 1))
    monkeypatch.setattr(build, "TEXT_DIR", tmp_path)
    assert build.check(CHAPTERS) == [
        ("03-split-example", "cells differ from book/chapters/03-split-example.py")]


def test_two_builds_are_byte_identical(tmp_path):
    """What book/build.py stores depends on nothing but the chapter and rmapkit: no timing,
    no widget state, no random cell id, no kernel-dependent stream splitting.  One short
    chapter, built twice (about 5 s)."""
    pytest.importorskip("nbclient")
    stem = "03-split-example"
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        build.build(stem, out_dir=tmp_path / run)
    first = (tmp_path / "a" / f"{stem}.ipynb").read_bytes()
    assert first == (tmp_path / "b" / f"{stem}.ipynb").read_bytes()
    assert b'"execution"' not in first and b"widget-state" not in first


def test_cell_ids_are_stable():
    for stem in CHAPTERS:
        ids = [c.id for c in stored(stem).cells]
        assert ids == [f"{stem[:2]}-{i:02d}" for i in range(len(ids))], stem


def test_chapter_code_passes_pyflakes_checks():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra: make venv)")
    res = subprocess.run([ruff, "check", "--isolated", "--select", "E9,F", "--no-cache",
                          "--output-format", "concise", str(ROOT / "book" / "chapters")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_helpers_come_from_rmapkit_book_in_one_hidden_cell():
    for stem in CHAPTERS:
        cells = code_cells(stored(stem))
        first = cells[0]
        assert "from rmapkit.book import" in first.source, stem
        assert "remove-cell" in first.metadata.get("tags", []), \
            f"{stem}: the import cell should be hidden in the static book (tag remove-cell)"
        assert first.metadata.get("jupyter", {}).get("source_hidden") is True, \
            f"{stem}: the import cell should open folded in JupyterLab too"
        for c in cells:
            assert not re.search(r"^def (show|figure|pages_of)\b|^BASE = ", c.source, re.M), \
                f"{stem}: a helper is defined in the chapter; it belongs in rmapkit/book.py"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_code_cell_ran_in_order(stem):
    cells = code_cells(stored(stem))
    for i, c in enumerate(cells, 1):
        if c.outputs:
            assert c.execution_count is not None, f"cell {i} has outputs but no execution count"
        assert c.execution_count == i, (f"code cell {i} has execution count "
                                        f"{c.execution_count}: not run top to bottom")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_nothing_github_cannot_render(stem):
    nb = stored(stem)
    assert "widgets" not in nb.metadata, "widget state is stored in the notebook metadata"
    for i, c in enumerate(code_cells(nb), 1):
        assert WIDGET_STATE not in c.metadata, f"cell {i} stores widget state"
        for o in c.outputs:
            data = o.get("data", {})
            assert WIDGET_STATE not in data, f"cell {i} stores widget state"
            if build.WIDGET_VIEW in data:
                text = data.get("text/plain", "")
                assert text and not re.match(r"\w*(Box|Widget)\(", text), \
                    f"cell {i}: a widget view without a text/plain fallback"


# A CPython object repr ("<foo object at 0x7f...>") or a user-space pointer as CPython's
# allocator hands them out on x86-64 (0x7f + 10 hex digits); the model's addresses are
# fixed far below that (0x200000000000).
ADDRESS = re.compile(r"<[^<>\n]* at 0x[0-9a-fA-F]+>|\bobject at 0x|\b0x7f[0-9a-f]{10}\b")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w+Error: ", re.M)
# A path of the machine that built the notebook.  /tmp/rmapkit/... are the model's own file
# names (the scenario files' directory), the same everywhere.
PATHS = re.compile(r"(/home/|/root/|/Users/|/work/|site-packages|\.pyenv|\.venv/|"
                   r"[A-Za-z]:\\\\|/tmp/(?!rmapkit))")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_address_traceback_or_machine_path_in_outputs(stem):
    here = re.compile(re.escape(str(ROOT)))
    for i, c in enumerate(code_cells(stored(stem)), 1):
        for o in c.outputs:
            assert o.get("output_type") != "error", f"cell {i} stored an error"
            for text in output_texts(o):
                for rx, what in ((ADDRESS, "a memory address"), (TRACEBACK, "a traceback"),
                                 (PATHS, "a machine-specific path"), (here, "this checkout")):
                    m = rx.search(text)
                    assert m is None, f"cell {i}: output contains {what}: {m.group(0)!r}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_layout(stem):
    nb = stored(stem)
    assert nb.cells[0].cell_type == "markdown"
    assert "In this chapter you will learn" in nb.cells[0].source
    cells = code_cells(nb)
    widgets = [i for i, c in enumerate(cells) if "nbval-ignore-output" in
               c.metadata.get("tags", [])]
    assert len(widgets) == 1, f"{len(widgets)} widget cells (want exactly one playground)"
    w = widgets[0]
    checked = [c for c in cells[:w] if not ignores_output(c)]
    assert checked and any(name in "".join(c.source for c in checked)
                           for name in ("Playground", "PageIndexExplorer", "SplitExplorer",
                                        "LargeFolioExplorer")), \
        "the widget cell must follow a checked cell that calls the widget's functions"
    for c in cells:
        live = re.search(r"\brun_live\b|\bcompare_runs\b|rmapkit\.live\b|\blive\.", c.source)
        if live:
            assert ignores_output(c), \
                f"a live-kernel cell must start with # NBVAL_IGNORE_OUTPUT:\n{c.source[:200]}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_ends_with_what_you_now_know(stem):
    """A gentler path: every chapter closes with a summary, and the optional history of
    chapter 4 sits in sections whose headings open folded."""
    md = [c.source for c in stored(stem).cells if c.cell_type == "markdown"]
    summary = [i for i, m in enumerate(md) if m.startswith("## What you now know")]
    assert summary and summary[-1] >= len(md) - 3, stem
    deeper = [c for c in stored(stem).cells if c.cell_type == "markdown"
              and "deeper" in c.metadata.get("tags", [])]
    assert all(c.metadata.get("jp-MarkdownHeadingCollapsed") is True
               and c.source.startswith("## Deeper") for c in deeper)
    if stem.startswith("04"):
        assert len(deeper) >= 2
        first = next(m for m in md if m.startswith("## "))
        assert first.startswith("## The idea"), first[:60]


def test_the_discussion_is_cited():
    text = "".join(c.source for c in stored("00-start-here").cells)
    assert "Lorenzo Stoakes" in text and "David Hildenbrand" in text and "linux-mm" in text \
        and "April" in text and "2023" in text
    for stem in CHAPTERS:
        assert "email's words" not in "".join(c.source for c in stored(stem).cells)


def test_chapter_0_teaches_every_op_the_exercises_use():
    """Every scenario line, op, option and flag an exercise uses is in chapter 0's table."""
    from rmapkit.exercises import KINDS, question
    text = "".join(c.source for c in stored("00-start-here").cells)
    flags = {"fixed", "noreserve", "dontunmap", "populate", "noreplace", "locked", "to"}
    used = set()
    for kind in KINDS:
        for seed in range(20):
            for line in question(kind, seed).scenario.splitlines():
                words = line.split()
                if not words or line.startswith("#"):
                    continue
                if not words[0].endswith(":"):          # window, file, device, model-only
                    used.add(words[0])
                    used.update(w.split("=")[0] + "=" for w in words if "=" in w)
                    continue
                used.add(words[1])                      # the op
                used.update(w.split("=")[0] + "=" for w in words[2:] if "=" in w)
                used.update(w for w in words[2:] if w in flags)
    missing = sorted(op for op in used if not re.search(
        rf"(?<![\w=-]){re.escape(op)}" + ("" if op.endswith("=") else r"(?![\w-])"), text))
    assert not missing, f"chapter 0 does not teach {missing}"


def test_sanitizer_patterns_compile_and_apply():
    cp = configparser.ConfigParser(interpolation=None)
    assert cp.read(ROOT / "book" / "sanitize.cfg", encoding="utf-8")
    pats = [(re.compile(cp[s]["regex"]), cp[s]["replace"]) for s in cp.sections()]

    def sanitize(text):
        for rx, rep in pats:
            text = rx.sub(rep, text)
        return text
    assert sanitize("<x object at 0x7f3a2c1d5e10>") == "<x object at 0xADDRESS>"
    assert sanitize('<polygon points="1,2 3,4"/>') == '<polygon points=""/>'
    assert sanitize("mapped by vma0 at 0x200000001000") == "mapped by vma0 at 0x200000001000"


def test_strip_widget_view_keeps_the_fallback():
    out = {"output_type": "display_data",
           "data": {build.WIDGET_VIEW: {"model_id": "x"}, "text/plain": "diagram"}}
    build.strip_widget_view(out)
    assert out["data"] == {"text/plain": "diagram"}
    bare = copy.deepcopy({"output_type": "display_data", "data": {build.WIDGET_VIEW: {}}})
    build.strip_widget_view(bare)
    assert build.WIDGET_VIEW in bare["data"]        # nothing to fall back to: left for the test
