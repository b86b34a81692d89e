"""The text views follow the notation setting, as the DOT views do: window page numbers and
p+k by default, absolute hex with set_notation('hex') or notation='hex', and one legend line
saying which is shown; 72 columns in both."""

import re

import pytest

from rmapkit.render import (address_space_ascii, diff_ascii, interval_tree_ascii, ruler,
                            set_notation, to_ascii)
from rmapkit.render.display import VIEW_REGISTRY, mimebundle, view_dot, view_text
from rmapkit.scenarios import load, run_model

WINDOW = "window: page k = 0x200000000000 + k pages, p+k = pgoff 0x200000000 + k"
HEX = "addresses and page offsets in absolute hex"
IN_WINDOW = re.compile(r"0x2000000[0-9a-f]*")      # an address or pgoff of the book's window
STEP = {"mremap-faulted": 3}                        # the figure's step: the faulted move


@pytest.fixture(scope="module")
def runs():
    cache = {}

    def run(name):
        if name not in cache:
            cache[name] = run_model(load(name))
        return cache[name]
    return run


def _views(run, notation=None):
    """Every text view of a few scenarios: {name: text}."""
    out = {}
    for name in ("split", "fork-cow", "mremap-faulted", "file-private-cow",
                 "remap-pfn-private", "mthp-mremap-fork", "thp-pmd-fault"):
        res = run(name)
        step = STEP.get(name, -1)
        snap, before = res.steps[step][1], res.steps[step - 1][1]
        proc = snap.processes[-1].name
        out[f"{name} graph"] = to_ascii(snap, notation=notation)
        out[f"{name} address"] = address_space_ascii(snap, proc, notation=notation)
        out[f"{name} ruler"] = ruler(snap, proc, notation=notation)
        out[f"{name} diff"] = diff_ascii(before, snap, proc, op="the last op",
                                         notation=notation)
        if snap.anon_vmas:
            out[f"{name} tree"] = interval_tree_ascii(snap, snap.anon_vmas[0].label,
                                                      index=snap.folios[0].index
                                                      if snap.folios else None,
                                                      notation=notation)
    return out


def test_window_notation_is_the_default_and_says_so(runs):
    views = _views(runs)
    for name, text in views.items():
        body = text.splitlines()
        assert body[-1] == WINDOW, name
        assert not [x for x in body[:-1] if IN_WINDOW.search(x)], name
    assert views == _views(runs, "window")
    split = views["split graph"]
    assert "| pages [0, 1)" in split and "| vm_pgoff p+2" in split
    assert "avc [p+2, p+2]" in split and "| index p+2" in split
    assert views["split tree"].splitlines()[:2] == ["anon_vma av0: 2 avcs, column 0 = p+0",
                                                     "pgoff   012"]
    assert "vma4    ..#  [p+2, p+2] P0 skipped" in views["split tree"]
    addr = views["mremap-faulted address"]
    assert addr.startswith("P0 address space, column 0 = page 0\n")
    assert "pages [8, 9) rw-p vm_pgoff p+2 anon_vma av0" in addr
    assert "virtual anon file, column 0 = p+0" in addr
    assert "- P0 vma4 pages [8, 9) was moved from vma2 pages [0, 3); vm_pgoff p+2" in \
        views["mremap-faulted diff"]
    assert "P0 column 0 = page 0" in views["mremap-faulted diff"]
    assert "index [p+0, p+15]" in views["mthp-mremap-fork address"]
    assert "index [p+0, p+511]" in views["thp-pmd-fault graph"]


def test_values_outside_the_window_stay_absolute(runs):
    views = _views(runs)
    pfn = views["remap-pfn-private address"]    # vm_pgoff of a private PFN map is the PFN
    assert "vm_pgoff 0x80000" in pfn and "virtual anon file, column 0 = 0x80000" in pfn
    assert "avc [0x80000, 0x80001]" in views["remap-pfn-private graph"]
    assert "pages [0, 2) rw-p vm_pgoff 0x80000" in pfn
    files = views["file-private-cow address"]   # a file VMA's pgoff is a file offset
    assert re.search(r"A = vma\d+ pages \[0, 4\) r\S+ vm_pgoff 0x0 ", files)
    assert "virtual anon file, column 0 = 0x0" in files   # its CoW copies' index too


def test_hex_is_the_absolute_form_with_its_legend(runs):
    views = _views(runs, "hex")
    for name, text in views.items():
        assert text.splitlines()[-1] == HEX, name
        assert "p+" not in text and "pages [" not in text and "column 0" not in text, name
    assert "| [0x200000002000,       |" in views["split graph"]
    assert "| vm_pgoff 0x200000002   |" in views["split graph"]
    assert "vma4    ..#  [0x200000002, 0x200000002] P0 skipped" in views["split tree"]
    assert views["split address"].startswith("P0 address space, page 0 = 0x200000000000\n")
    assert "virtual anon file, pgoff 0 = 0x200000000" in views["split address"]
    assert views["split diff"].splitlines()[1] == "P0 page 0 = 0x200000000000"
    old = set_notation("hex")
    try:
        assert _views(runs) == views            # the global switch gives the same
    finally:
        set_notation(old)


@pytest.mark.parametrize("notation", ["window", "hex"])
def test_every_text_view_fits_72_columns(runs, notation):
    for name, text in _views(runs, notation).items():
        wide = [x for x in text.splitlines() if len(x) > 72 or x != x.rstrip()]
        assert not wide, (name, wide)


def test_registry_views_and_mimebundle_pass_the_notation_through(runs):
    res = runs("split")
    snap, before = res.snapshot, res.steps[-2][1]
    for name, view in VIEW_REGISTRY.items():
        if name == "maps":                      # the kernel's format: absolute always
            assert view_text(snap, "P0", name, before, notation="window") == \
                view_text(snap, "P0", name, before, notation="hex")
            continue
        w = view_text(snap, "P0", name, before, notation="window")
        h = view_text(snap, "P0", name, before, notation="hex")
        assert w.splitlines()[-1] == WINDOW and h.splitlines()[-1] == HEX, name
        assert view_text(snap, "P0", name, before) == w
        dw = view_dot(snap, "P0", name, before, notation="window")
        dh = view_dot(snap, "P0", name, before, notation="hex")
        assert "p+" in dw and "p+" not in dh, name
    bundle = mimebundle(snap, focus="P0", view="tree", notation="hex")
    assert bundle["text/plain"].rstrip().endswith(HEX)


def test_widgets_text_follows_the_notation():
    from rmapkit.widgets import LargeFolioExplorer, PageIndexExplorer, Playground, SplitExplorer
    pg = Playground("split")
    pg.apply("P0: munmap 0 1")
    for view in ("graph", "address", "tree", "diff"):
        w, h = pg.text(view), pg.text(view, notation="hex")
        assert w.splitlines()[-1] == WINDOW and h.splitlines()[-1] == HEX, view
        assert "p+" not in pg.dot(view, notation="hex")
    assert Playground("split", notation="hex").text("address").splitlines()[-1] == HEX
    assert HEX in Playground("split", notation="hex").html()
    sx = SplitExplorer()
    assert "vma4: pages [2, 3), vm_pgoff p+2" in sx.text() and sx.text().endswith(WINDOW + "\n")
    hx = sx.text("hex")
    assert "vm_pgoff 0x200000002" in hx and "vma4 at 0x200000002000" in hx
    assert all(len(x) <= 72 for x in hx.splitlines())
    lf = LargeFolioExplorer()
    assert "index [p+0, p+15]" in lf.text() and "index [0x200000000, 0x20000000f]" in \
        lf.text("hex")
    assert LargeFolioExplorer(notation="hex").text() == lf.text("hex")
    ex = PageIndexExplorer(notation="hex")
    assert ex.text().endswith(HEX + "\n") and "p+" not in ex.text()
