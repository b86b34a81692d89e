"""Large folios in every view: one box spanning the folio's pages, with its head, index
range, order, mapcounts and whether a PMD or PTEs map it (DOT object graph, ASCII object
graph, the address-space view in DOT and ASCII, and the anon pgoff table)."""

import re

from rmapkit.render.ascii import to_ascii
from rmapkit.render.dot import to_dot
from rmapkit.render.ruler import address_space_ascii
from rmapkit.render.views import address_space_dot
from rmapkit.scenarios import load, run_model


def _snap(name, n=None):
    sc = load(name)
    return run_model(sc if n is None else sc.prefix(n)).snapshot


def test_ascii_address_space_draws_a_pmd_thp_as_one_box():
    text = address_space_ascii(_snap("thp-pmd-fault", 3), "P0", npages=16)
    line = next(ln for ln in text.splitlines() if ln.startswith("folio  ["))
    assert line == "folio  [==============]"
    assert "order 9 (512 pages, 2048 KiB)" in text and "PMD-mapped x1" in text


def test_ascii_address_space_draws_a_moved_mthp_split_by_cow():
    """The issue's example: 64 KiB folio moved to page 33, fork, the parent writes page 38:
    the folio is two runs of PTE-mapped pages around the order-0 copy."""
    text = address_space_ascii(_snap("mthp-mremap-fork"), "P0")
    assert "folio  " + "." * 33 + "[---].[--------]" in text
    assert "large mapcount 31" in text


def test_object_graph_labels_a_large_folio_with_order_range_and_mapcounts():
    snap = _snap("thp-fork-cow", 4)            # after fork: entire mapcount 2
    dot = to_dot(snap)
    assert "order 9 (512 pages, 2048 KiB)" in dot and "PMD-mapped x2" in dot
    assert re.search(r'label="pmd"', dot)
    text = to_ascii(snap)
    assert "order 9" in text and "large mapcount 2" in text and "PMD-mapped x2" in text


def test_dot_address_space_spans_the_folio_cells():
    dot = address_space_dot(_snap("mthp-fault", 3), "P0", max_pages=40)
    assert re.search(r'COLSPAN="16"[^>]*><FONT[^>]*>folio0 order 4 PTEs', dot)
