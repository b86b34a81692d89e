"""The widgets through their Python API, and their ipywidgets trees driven by button clicks.

The Playground's state must always be "starting scenario + history": every test that
changes it compares with a fresh Playground given the same ops (byte-identical text/DOT).
"""

import shutil

import pytest

from rmapkit.render import display
from rmapkit.scenarios import names, run_model
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE
from rmapkit.widgets import PageIndexExplorer, Playground, SplitExplorer
from rmapkit.widgets.playground import VIEWS, compose_op

HAVE_DOT = shutil.which("dot") is not None
ALL_VIEWS = tuple(VIEWS)


def fresh(ops, scenario="split", **kw):
    pg = Playground(scenario, **kw)
    for op in ops:
        assert pg.apply(op), pg.error
    return pg


def same_state(a, b):
    return all(a.text(v) == b.text(v) and a.dot(v) == b.dot(v) for v in ALL_VIEWS)


# -- Playground: the Python API -------------------------------------------------------------
def test_empty_start_and_window():
    pg = Playground(window_pages=8)
    assert pg.window_pages == 8 and pg.history == [] and pg.error is None
    assert pg.snapshot().window == pg.start.window
    assert pg.apply("P0: mmap 0 3 rw private anon")
    assert pg.apply("munmap 1 1")                       # no PROC: prefix -> pg.process
    assert pg.history == ["P0: mmap 0 3 rw private anon", "P0: munmap 1 1"]
    assert "vma    A.B" in pg.text("addrspace")
    assert [v.vm_end - v.vm_start for v in pg.snapshot().process("P0").vmas] == [4096, 4096]


def test_start_scenario_name_and_text_agree_with_run_model():
    pg = Playground("split")
    assert pg.window_pages == 8                         # the scenario's own window
    assert pg.snapshot() == run_model(pg.start, steps=False).snapshot
    text = "P0: mmap 0 2 rw private anon\nP0: write 0 2\n"
    pg2 = Playground(text, window_pages=6)
    assert pg2.window_pages == 6 and pg2.start.ops[1].text == "P0: write 0 2"


@pytest.mark.parametrize("name", ["fork-cow", "mremap-faulted", "anon0-fd-anon1",
                                  "remap-pfn-private", "errors"])
def test_shipped_scenarios_start(name):
    if name not in names():
        pytest.skip(f"{name} not shipped")
    pg = Playground(name)
    assert pg.start_problems == []
    for v in ALL_VIEWS:
        assert pg.text(v) and pg.dot(v).lstrip().startswith("//")


def test_apply_failures_set_error_and_leave_the_model_unchanged():
    pg = Playground("split")
    before = (pg.text("graph"), pg.dot("addrspace"))
    bad = {
        "P0: munmap 0 99": "bad op:",                 # outside the window
        "P0: frobnicate 1": "bad op:",                # unknown op
        "P7: munmap 0 1": "bad op:",                  # no such process
        "": "bad op:",
        "P0: mmap 0 1 rw\nP0: munmap 0 1": "bad op:",
        "P0: mprotect 1 1 r": "ENOMEM",               # the hole left by the split
        "P0: mremap 0 1 3": "ENOMEM",                 # cannot grow over page 2 in place
        "P0: write 1": "SIGSEGV",                     # no VMA at page 1
        "P0: mmap 0 1 rw private anon": "not free",   # hint taken: lands outside the window
        "P0: munmap 0 1 expect EINVAL": "succeeded",
    }
    for op, why in bad.items():
        assert pg.apply(op) is False, op
        assert why in pg.error, (op, pg.error)
        assert "\n" not in pg.error and "Traceback" not in pg.error
        assert (pg.text("graph"), pg.dot("addrspace")) == before, op
    for junk in (None, 3, 2.5, b"P0: munmap 0 1", ["P0: munmap 0 1"], object()):
        assert pg.apply(junk) is False and pg.error.startswith("bad op:")
    assert pg.history == []
    assert pg.apply("P0: munmap 0 1") and pg.error is None


def test_partial_failure_rolls_back():
    # a write over pages 0-2 of the split faults page 0, then SIGSEGVs at page 1
    pg = Playground(window_pages=8)
    pg.apply("P0: mmap 0 1 rw private anon fixed")
    pg.apply("P0: mmap 2 1 rw private anon fixed")
    ref = pg.text("graph")
    assert not pg.apply("P0: write 0 3") and "SIGSEGV at page 1" in pg.error
    assert pg.text("graph") == ref                      # page 0 was not left faulted


def test_undo_reset_and_determinism():
    ops = ["P0: munmap 0 1", "P0: mremap 2 1 1 to 5", "P0: fork P1", "P1: write 5",
           "P0: mprotect 5 1 r"]
    pg = fresh(ops)
    assert same_state(pg, fresh(ops))
    svg = pg.svg()
    display._render.cache_clear()                       # a second real Graphviz run
    assert svg == fresh(ops).svg()                      # byte-identical SVG
    assert pg.undo() and pg.history == ops[:-1]
    assert same_state(pg, fresh(ops[:-1]))
    assert pg.undo() and pg.undo()
    assert same_state(pg, fresh(ops[:2]))
    assert pg.reset() and pg.history == []
    assert same_state(pg, Playground("split"))
    assert pg.undo() is False and pg.error == "nothing to undo"
    assert pg.apply(ops[0]) and pg.error is None


def test_exit_and_process_switch():
    pg = fresh(["P0: fork P1", "P0: exit"])
    assert pg.process == "P1"                          # the default moved to a live process
    assert [p.name for p in pg.snapshot().processes] == ["P1"]
    assert pg.apply("munmap 0 1") and pg.history[-1] == "P1: munmap 0 1"
    assert not pg.apply("P0: munmap 0 1") and "P0" in pg.error
    assert pg.next_child_name() == "P2"
    pg.undo(), pg.undo()
    assert pg.process == "P0"


def test_views():
    pg = Playground("split")
    assert pg.view == "graph"
    for v in ALL_VIEWS:
        assert pg.set_view(v) and pg.view == v
        assert pg.text() == pg.text(v)
    assert "no op applied" in pg.text("diff")
    pg.apply("P0: munmap 0 1")
    assert "changes" in pg.text("diff") and "Before and after" in pg.dot("diff")
    assert Playground(view="addrspace").view == "address"      # the old name is accepted
    with pytest.raises(ValueError):
        pg.set_view("3d")
    with pytest.raises(ValueError):
        Playground(view="nope")
    empty = Playground()
    assert "nothing has been written" in empty.text("tree")
    assert empty.svg("tree").startswith("<svg") or "<svg" in empty.svg("tree")


def test_svg_without_graphviz(monkeypatch):
    monkeypatch.setattr(display, "svg_backend", lambda *a, **k: None)
    pg = fresh(["P0: munmap 0 1"])
    for v in ALL_VIEWS:
        svg = pg.svg(v)
        assert svg.startswith("<svg") and "Graphviz is not available" in svg
        assert "<title" in svg                          # alt text survives the fallback


def test_scenario_text_round_trips():
    ops = ["P0: munmap 0 1", "P0: fork P1", "P1: write 2"]
    pg = fresh(ops)
    res = run_model(pg.scenario(), steps=False)
    assert res.ok and res.snapshot == pg.snapshot()
    assert pg.scenario_text().splitlines()[-3:] == ops


def test_random_ops_never_raise_and_replay():
    """Seeded random UI input: apply() never raises, every error is one line, the model
    validates after every success, and the history replays to the same state."""
    import random
    from rmapkit.widgets.session import OP_KINDS
    rng = random.Random(7)
    for _trial in range(4):
        pg = Playground(window_pages=8)
        for _ in range(30):
            kind = rng.choice(OP_KINDS)
            extra = {"mmap": rng.choice(["private anon", "shared anon", "private anon fixed"]),
                     "mremap": rng.choice(["", str(rng.randint(0, 7))]),
                     "madvise": rng.choice(["dontneed", "wipeonfork", "bogus"]),
                     "fork": pg.next_child_name()}.get(kind, "")
            line = compose_op(kind, rng.choice(list(pg.procs) or ["P0"]), rng.randint(0, 8),
                              rng.randint(1, 4), rng.choice(["rw", "r", "none"]), extra,
                              rng.randint(1, 4))
            if pg.apply(line):
                pg.kernel.validate()
            else:
                assert pg.error and "\n" not in pg.error and "model raised" not in pg.error
            if rng.random() < 0.1:
                pg.undo()
        assert same_state(pg, fresh(pg.history, scenario=None, window_pages=8))


def test_compose_op():
    assert compose_op("mmap", "P0", 1, 2, "r", "") == "P0: mmap 1 2 r private anon"
    assert compose_op("mprotect", "P1", 1, 2, "none") == "P1: mprotect 1 2 none"
    assert compose_op("mremap", "P0", 2, 1, extra="") == "P0: mremap 2 1 1"
    assert compose_op("mremap", "P0", 2, 1, extra="8 dontunmap") == \
        "P0: mremap 2 1 1 to 8 dontunmap"
    assert compose_op("mremap", "P0", 2, 1, new_pages=3) == "P0: mremap 2 1 3"
    assert compose_op("madvise", "P0", 0, 1) == "P0: madvise 0 1 dontneed"
    assert compose_op("exit", "P1") == "P1: exit"
    pg = Playground(window_pages=8)
    for kind in ("mmap", "write", "read", "mprotect", "madvise", "fork", "exit"):
        extra = "P1" if kind == "fork" else ""
        assert pg.apply(compose_op(kind, "P0", 0, 2, "rw", extra)), (kind, pg.error)
    pg = Playground("file-write-then-map")           # its fds are W and H
    for kind, extra in (("pwrite", "H 1 1"), ("pread", "W 0 4"), ("fallocate", "H 0 1"),
                        ("fallocate", "H 0 1 keep punch"), ("ftruncate", "W 2.5"),
                        ("fsync", "H")):
        assert pg.apply(compose_op(kind, "P0", extra=extra)), (kind, pg.error)
    assert not pg.apply(compose_op("pwrite", "P0")) and "no file descriptor 'F'" in pg.error


# -- Playground: the ipywidgets tree ---------------------------------------------------------
@pytest.fixture
def ui():
    pytest.importorskip("ipywidgets")
    pg = Playground("split")
    assert pg.widget is pg.widget                       # built once
    return pg, pg._ui


def test_widget_tree(ui):
    import ipywidgets as W
    pg, u = ui
    assert isinstance(pg.widget, W.VBox)
    assert list(u.op.options) == ["mmap", "munmap", "mprotect", "mremap", "madvise", "read",
                                  "write", "fork", "exit", "pwrite", "pread", "fallocate",
                                  "ftruncate", "fsync"]
    assert {d.description for d in (u.apply_button, u.undo_button, u.reset_button)} == \
        {"Apply", "Undo", "Reset"}
    assert "<svg" in u.diagram.value and u.error_line.value == ""
    bundle = pg._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "<svg" in bundle["text/html"]


def test_buttons(ui):
    pg, u = ui
    u.op.value = "munmap"
    u.page.value, u.pages.value = 0, 1
    assert u.line.value == "P0: munmap 0 1"
    u.apply_button.click()
    assert pg.history == ["P0: munmap 0 1"] and u.error_line.value == ""
    assert not u.undo_button.disabled
    u.line.value = "P0: munmap 0 99"                    # typed by hand
    u.apply_button.click()
    assert "bad op" in u.error_line.value and pg.history == ["P0: munmap 0 1"]
    u.op.value = "fork"
    assert u.line.value == "P0: fork P1"
    u.apply_button.click()
    assert list(u.process.options) == ["P0", "P1"]
    assert u.line.value == "P0: fork P2"               # the next free child name
    u.undo_button.click()
    assert pg.history == ["P0: munmap 0 1"] and list(u.process.options) == ["P0"]
    u.reset_button.click()
    assert pg.history == [] and u.undo_button.disabled
    u.undo_button.click()
    assert "nothing to undo" in u.error_line.value


def test_view_selector_and_python_calls_refresh(ui):
    pg, u = ui
    shown = set()
    for v in ALL_VIEWS:
        u.view.value = v
        assert pg.view == v
        shown.add(u.diagram.value)
    assert len(shown) == 4
    pg.apply("P0: munmap 0 1")                          # from Python: the UI follows
    assert u.diagram.value == f'<div style="overflow:auto;max-width:100%">{pg.svg()}</div>'
    pg.set_view("graph")
    assert u.view.value == "graph"


def test_callbacks_never_raise(ui, monkeypatch):
    pg, u = ui

    def boom(*a, **k):
        raise RuntimeError("renderer exploded")
    monkeypatch.setattr(pg, "apply", boom)
    u.apply_button.click()
    assert "RuntimeError: renderer exploded" in u.error_line.value
    monkeypatch.setattr(type(pg), "svg", boom)
    u.refresh()                                          # falls back to the text view
    assert "<pre>" in u.diagram.value and "renderer exploded" in u.error_line.value


# -- PageIndexExplorer -----------------------------------------------------------------------
def test_page_index_explorer_anon():
    ex = PageIndexExplorer(vm_start_page=0x7f0000000, pages=4)
    t = ex.show(0x7f0000002345)
    assert "= 0x7f0000002\n" in t and "round trip holds" in t
    assert "folio->index = 0x7f0000002 == linear_page_index" in t
    assert ex.index(0x7f0000003fff) == 0x7f0000003
    out = ex.show(0x7f0000004000)
    assert "outside the VMA" in out and "-EFAULT" in out
    assert "not an address" in ex.show("zzz")
    assert "whole number" in ex.show(1.5)
    assert ex.show("0x7f0000001000") == ex.show(0x7f0000001000)
    assert ex.show(0x7f0000001000) == PageIndexExplorer(0x7f0000000, 4).show(0x7f0000001000)


def test_page_index_explorer_file_and_unfaulted():
    ex = PageIndexExplorer(vm_start_page=0x7f0000000, pages=4, vm_pgoff=10, fault="read")
    t = ex.show(0x7f0000001000)
    assert "vm_pgoff = 0xa" in t and "= 0xb\n" in t and "page cache folio" in t
    ex = PageIndexExplorer(vm_start_page=0x10, pages=2, fault=None)
    assert "no folio yet" in ex.show(0x10000)
    with pytest.raises(ValueError):
        PageIndexExplorer(pages=0)


def test_page_index_ui():
    pytest.importorskip("ipywidgets")
    ex = PageIndexExplorer(vm_start_page=0x7f0000000, pages=4)
    u = ex.widget and ex._ui
    u.slider.value = 0x7f0000003000
    assert "0x7f0000003" in u.text.value and "<svg" in u.diagram.value
    ex.show(0x7f0000001000)
    assert u.slider.value == 0x7f0000001000


# -- SplitExplorer ---------------------------------------------------------------------------
def test_split_explorer_chapter_example():
    ex = SplitExplorer(pages=3)
    r = ex.run(1, 2)
    assert [v["range"] for v in r["vmas"]] == ["[0, 1)", "[2, 3)"]
    assert r["anon_vmas"] == ["av0"]
    assert [v["anon_vma"] for v in r["vmas"]] == ["av0", "av0"]
    right = r["vmas"][1]
    assert r["index"] == right["vm_pgoff"] == r["vmas"][0]["vm_pgoff"] + 2
    assert r["rmap"] == [(right["id"], right["vm_start"])] and r["visited"] == [right["id"]]
    r0 = ex.run(1, 0)
    assert r0["rmap"] == [(r["vmas"][0]["id"], r["vmas"][0]["vm_start"])]


def test_split_explorer_all_choices_and_errors():
    ex = SplitExplorer(pages=4)
    for u in range(4):
        for p in range(4):
            r = ex.run(u, p)
            assert r["mapped"] == (u != p)
            assert len(r["rmap"]) == (u != p)
            assert r["index"] == r["vmas"][0]["vm_pgoff"] - (1 if u == 0 else 0) + p
    good = ex.result
    assert ex.run(9, 0) is good and "0..3" in ex.error
    assert ex.run("x", None) is good and ex.error
    assert ex.run(True, 0) is good and ex.error
    assert ex.run("1", "2")["unmap_page"] == 1 and ex.error is None


def test_split_ui():
    pytest.importorskip("ipywidgets")
    ex = SplitExplorer(pages=3)
    u = ex.widget and ex._ui
    assert "rmap_walk() finds" in u.text.value and "<svg" in u.diagram.value
    u.unmap.value = 0
    assert ex.unmap_page == 0 and "munmap 0 1" in u.text.value
    u.rmap.value = 0
    assert "was unmapped" in u.text.value
    ex.run(2, 1)
    assert (u.unmap.value, u.rmap.value) == (2, 1)


# -- layering ------------------------------------------------------------------------------
def test_importing_widgets_does_not_import_ipywidgets():
    import subprocess
    import sys
    code = ("import sys, rmapkit.widgets as w; pg = w.Playground('split'); "
            "pg.apply('P0: munmap 0 1'); pg.svg(); pg.text('tree'); "
            "w.SplitExplorer().run(1, 2); w.PageIndexExplorer().show(0x7f0000000000); "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_playground_replays_an_exercise():
    from rmapkit.exercises import question, solution
    q = question("folio-index", 2)
    pg = Playground(q.scenario)
    assert pg.start_problems == [] and len(pg.start.ops) == len(q.ops)
    page = int(q.prompt.split("page ")[1].split()[0])
    pv = next(p for p in pg.snapshot().process("P0").pages if p.addr == BASE + page * PAGE_SIZE)
    assert pv.index == solution("folio-index", 2).answer


def test_large_folio_explorer_is_the_issue_example():
    """64 KiB folio, mremap to a misaligned address, fork, a write: order 4, index and
    vm_pgoff kept, large mapcount 31; every step is a scenario the kernel can replay."""
    from rmapkit.widgets import LargeFolioExplorer
    ex = LargeFolioExplorer(size="64kB", pages=32)
    r = ex.run(fault_page=5, move="misaligned", fork=True, write_page=5)
    assert (r["order"], r["index_kept"], r["large_mapcount"], r["pmd"]) == (4, True, 31, False)
    assert r["vm_pgoff"] == r["index"] and "mremap 0 32 32 to 49" in ex.scenario_text()
    assert "[---].[--------]" in ex.text()
    r = ex.run(size="2048kB", pages=512, fault_page=3, move="aligned", write_page=None)
    assert (r["order"], r["pmd"], r["entire_mapcount"]) == (9, True, 2)
    r = ex.run(move="misaligned")
    assert (r["pmd"], r["large_mapcount"]) == (False, 1024)
    before = ex.result
    assert ex.run(pages=3) is before and "pages must be" in ex.error
    assert ex.run(size="8kB") is before and "size must be" in ex.error
    assert ex.run(fault_page=600) is before and ex.error


def test_large_folio_ui_follows_the_explorer():
    pytest.importorskip("ipywidgets")
    from rmapkit.widgets import LargeFolioExplorer
    ex = LargeFolioExplorer()
    ui = ex._make_ui()
    ex._ui = ui
    ui.size.value = "16kB"
    assert ex.size == "16kB" and ex.result["order"] == 2
    ui.fork.value = True
    assert ex.fork and ex.result["large_mapcount"] == 8
    ex.run(pages=8)
    assert ui.pages.value == 8 and len(ui.write.options) == 9
