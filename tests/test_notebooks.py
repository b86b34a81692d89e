"""The book's notebooks: generated from their sources, stored executed, readable on GitHub.

nbval (``python -m pytest --nbval notebooks/ --nbval-sanitize-with notebooks/sanitize.cfg``)
re-runs every chapter and compares each cell's output with the stored one.  These tests check
what nbval does not:

* the eight chapters exist, and each notebook's cells are exactly what
  ``notebooks/build.py`` generates from ``notebooks/src/`` (edit the source, not the .ipynb);
* stored outputs are not stale: the notebook records a hash of the rmapkit sources it was
  executed with; if the package changed since, the chapter is executed again and its
  streams, text/plain and SVG outputs (sanitized as nbval does) must be unchanged (how long
  a chapter takes is measured by bench/bench.py, not asserted in a test);
* every code cell ran, in order, top to bottom (outputs always carry an execution count);
* nothing GitHub cannot render is stored: no widget state, and a widget view only beside a
  text/plain fallback;
* no output holds a memory address, a traceback or a path of the machine that built it;
* each chapter opens with learning goals, has exactly one playground widget cell whose
  output nbval ignores and which follows a checked cell, and chapter 7 marks every
  live-kernel cell ``# NBVAL_IGNORE_OUTPUT``.

Run ``python notebooks/build.py`` to regenerate the notebooks after changing a chapter or
the package.  Cost: milliseconds when the hashes match; one kernel start plus the chapter's
cells (a few seconds) per chapter when the package changed.
"""

from __future__ import annotations

import copy
import difflib
import importlib.util
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
CHAPTERS = [
    "00-start-here", "01-linear-page-index", "02-virtual-anon-file", "03-split-example",
    "04-mremap-and-merging", "05-fork-and-anon-vma-hierarchy", "06-remap-pfn-range",
    "07-your-kernel",
]


def _load_build():
    spec = importlib.util.spec_from_file_location("rmapkit_book_build", NB_DIR / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build = _load_build()
_cache = {}


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


def test_the_eight_chapters_exist():
    assert list(build.chapters()) == CHAPTERS
    assert sorted(p.stem for p in NB_DIR.glob("*.ipynb")) == CHAPTERS


@pytest.mark.parametrize("stem", CHAPTERS)
def test_cells_are_generated_from_the_source(stem):
    nb, want = stored(stem), build.make_notebook(stem)
    got = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in nb.cells]
    exp = [(c.cell_type, c.source, c.metadata.get("tags", [])) for c in want.cells]
    assert got == exp, (f"{stem}.ipynb differs from notebooks/src: run "
                        f"`python notebooks/build.py {stem[:2]}`")


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
        assert build.WIDGET_STATE not in c.metadata, f"cell {i} stores widget state"
        for o in c.outputs:
            data = o.get("data", {})
            assert build.WIDGET_STATE not in data, f"cell {i} stores widget state"
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
    checked = [c for c in cells[:w] if not build.ignores_output(c)]
    assert checked and any(name in "".join(c.source for c in checked)
                           for name in ("Playground", "PageIndexExplorer", "SplitExplorer")), \
        "the widget cell must follow a checked cell that calls the widget's functions"
    for c in cells:
        live = re.search(r"\brun_live\b|\bcompare_runs\b|rmapkit\.live\b|\blive\.", c.source)
        if live:
            assert build.ignores_output(c), \
                f"a live-kernel cell must start with # NBVAL_IGNORE_OUTPUT:\n{c.source[:200]}"


def _fresh_outputs(stem):
    nb = build.make_notebook(stem)
    nb, seconds = build.execute(nb)
    return nb, seconds


@pytest.mark.parametrize("stem", CHAPTERS)
def test_stored_outputs_are_not_stale(stem):
    nb = stored(stem)
    recorded = nb.metadata.get("rmapkit", {}).get("package_hash")
    assert recorded, f"{stem}.ipynb was not executed by notebooks/build.py"
    if recorded == build.package_hash() and not os.environ.get("RMAPKIT_NB_REEXECUTE"):
        return          # executed with exactly these rmapkit sources
    pytest.importorskip("nbclient")
    # How long a chapter takes is measured by bench/bench.py, not asserted here.
    fresh, _ = _fresh_outputs(stem)
    patterns = build.sanitizers()
    stale, first = [], ""
    for i, (old, new) in enumerate(zip(code_cells(nb), code_cells(fresh)), 1):
        if build.ignores_output(old):
            continue
        a = build.comparable_outputs(old, patterns)
        b = build.comparable_outputs(new, patterns)
        if a != b:
            stale.append(i)
            if not first:
                old_text = "\n".join(f"[{k}]\n" + "\n".join(v) for k, v in sorted(a.items()))
                new_text = "\n".join(f"[{k}]\n" + "\n".join(v) for k, v in sorted(b.items()))
                old_text, new_text = old_text.splitlines(), new_text.splitlines()
                first = "\n".join(list(difflib.unified_diff(
                    old_text, new_text, "stored", "fresh", lineterm="", n=1))[:30])
    assert not stale, (f"{stem}: stored outputs of code cells {stale} differ from a fresh run "
                       f"with the current rmapkit: run `python notebooks/build.py {stem[:2]}`"
                       f"\nfirst difference (cell {stale[0] if stale else ''}):\n{first}")


def test_sanitizer_patterns_compile_and_apply():
    pats = build.sanitizers()
    assert pats
    assert build.sanitize("<x object at 0x7f3a2c1d5e10>", pats) == "<x object at 0xADDRESS>"
    assert build.sanitize('<polygon points="1,2 3,4"/>', pats) == '<polygon points=""/>'


def test_strip_widget_view_keeps_the_fallback():
    out = {"output_type": "display_data",
           "data": {build.WIDGET_VIEW: {"model_id": "x"}, "text/plain": "diagram"}}
    build.strip_widget_view(out)
    assert out["data"] == {"text/plain": "diagram"}
    bare = copy.deepcopy({"output_type": "display_data", "data": {build.WIDGET_VIEW: {}}})
    build.strip_widget_view(bare)
    assert build.WIDGET_VIEW in bare["data"]        # nothing to fall back to: left for the test
