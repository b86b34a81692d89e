"""Exact lines of the ASCII views, the ruler notation, widths and the maps text."""

import pytest

from rmapkit.render import (address_space_ascii, diff_ascii, interval_tree_ascii, ruler,
                            to_ascii, to_maps, vma_letters)
from rmapkit.render.ascii import box, wrap
from rmapkit.render.samples import (file_and_zero, fork_child, mremap_moved, remap_pfn,
                                    split_after, split_before)
from render_helpers import none_pages, snapshot, vma

SAMPLES = (split_before, split_after, fork_child, file_and_zero, remap_pfn, mremap_moved)
# The samples lie at 0x10000, outside any scenario window: every view prints absolute hex
# and ends with the line that says so (tests/test_ascii_notation.py has the window form).
HEX = "addresses and page offsets in absolute hex"


def lines(text):
    return text.splitlines()


def test_ruler_notation_of_the_split():
    #   0123456789abcdef
    #   AAA   ->   A.B      munmap the middle page; the upper part is a new struct
    assert vma_letters(split_before()) == "AAA"
    assert vma_letters(split_after()) == "A.B"
    assert lines(ruler(split_after())) == ["P0 page 0 = 0x10000", "012", "A.B", "a.a", HEX]
    assert vma_letters(split_after(), letters={"vma1": "P", "vma2": "N"}) == "P.N"
    assert vma_letters(split_after(), letters={"vma2": "A"}) == "B.A"


def test_ruler_page_states_and_window():
    assert lines(ruler(file_and_zero()))[2:] == ["AABBC", "0-f--", HEX]
    assert lines(ruler(remap_pfn())) == ["P0 page 0 = 0x10000", "01", "AA", "pp", HEX]
    assert lines(ruler(file_and_zero(), start=0xe000, npages=8)) == [
        "P0 page 0 = 0xe000", "01234567", "..AABBC", "..0-f--", HEX]
    # letters go to the VMAs inside the window, in address order
    assert vma_letters(file_and_zero(), start=0x13000, npages=2) == "AB"


def test_ruler_is_cut_at_64_pages():
    snap = snapshot([vma("vma1", 0x100, 0x200, 0x100)], none_pages(0x100, 0x200))
    out = lines(ruler(snap))
    assert out[0] == "P0 page 0 = 0x100000 (cut)"
    assert out[1] == "0123456789abcdef" * 4 and out[2] == "A" * 64


def test_object_graph_boxes_for_the_seed_split():
    out = lines(to_ascii(split_after()))
    assert out[:5] == [
        "+------------------------+  +------------------------+",
        "| P0 vma1 rw-p           |  | P0 vma2 rw-p           |",
        "| [0x10000, 0x11000)     |  | [0x12000, 0x13000)     |",
        "| vm_pgoff 0x10          |  | vm_pgoff 0x12          |",
        "+------------------------+  +------------------------+"]
    assert out[10:16] == [
        "            |                           |",
        "            +-------------+-------------+",
        "                          v",
        "              +------------------------+",
        "              | anon_vma av1 (root)    |",
        "              | children 1, VMAs 2     |"]
    assert "| index 0x12         |" in out[-4] and out[-1] == HEX


def test_object_graph_after_fork_names_every_link():
    text = to_ascii(fork_child())
    assert text.count("| -> av1") == 2 and text.count("| -> av2") == 1
    assert "| parent av1, root av1   |" in text and "| anon_vma av2           |" in text
    assert "| mapcount 2         |" in text
    assert "P1 vma2 rw-p" in text and "P0 vma1 rw-p" in text


def test_object_graph_focus_marks_the_object():
    text = to_ascii(split_after(), focus="folio3")
    assert "| *folio3" in text and "vma1" not in text


@pytest.mark.parametrize("make", SAMPLES)
@pytest.mark.parametrize("width", [72, 50])
def test_every_text_view_fits_the_width_and_is_deterministic(make, width):
    snap = make()
    for text in (to_ascii(snap, width=width), to_ascii(snap, pages=False, width=width)):
        assert max(len(x) for x in lines(text)) <= width
        assert text == to_ascii(snap, width=width) or text == to_ascii(snap, pages=False,
                                                                       width=width)
    for text in (address_space_ascii(snap), ruler(snap)):
        assert max(len(x) for x in lines(text)) <= 72
        assert not [x for x in lines(text) if x != x.rstrip()]


def test_address_space_text_with_the_virtual_anon_file():
    assert lines(address_space_ascii(mremap_moved())) == [
        "P0 address space, page 0 = 0x20000",
        "addr   01",
        "vma    AA",
        "page   aa",
        "A = vma2 [0x20000, 0x22000) rw-p vm_pgoff 0x10 anon_vma av1",
        "page: - not present, 0 zero page, a anon, f file, p PFN",
        "virtual anon file, pgoff 0 = 0x10",
        "pgoff  01",
        "vma    AA",
        "folio  aa",
        HEX]
    out = lines(address_space_ascii(file_and_zero()))
    assert out[1:4] == ["addr   01234", "vma    AABBC", "page   0-f--"]
    assert out[-4:] == ["pgoff  01234", "vma    AA..C", "folio", HEX]


def test_interval_tree_text():
    assert lines(interval_tree_ascii(split_after(), folio="folio3")) == [
        "anon_vma av1: 2 avcs, pgoff 0 = 0x10",
        "pgoff   012",
        "vma1    #..  [0x10, 0x10] P0 skipped",
        "vma2    ..#  [0x12, 0x12] P0 visited -> 0x12000",
        "          ^ folio3 index 0x12",
        HEX]


def test_diff_text_keeps_letters_per_struct():
    out = lines(diff_ascii(split_before(), split_after(), op="munmap(0x11000, 0x1000)"))
    assert out[:7] == ["munmap(0x11000, 0x1000)", "P0 page 0 = 0x10000", "        012",
                       "before  AAA", "after   A.B", "A = vma1", "B = vma2"]
    assert "- P0 vma2 [0x12000, 0x13000) vm_pgoff 0x12 was split off vma1" in out
    assert out[-1] == HEX
    assert all(len(x) <= 72 for x in out)


def test_box_and_wrap():
    assert box(["ab"], 8) == ["+------+", "| ab   |", "+------+"]
    assert wrap("[0x7f0000000000, 0x7f0000003000)", 18) == ["[0x7f0000000000,", "0x7f0000003000)"]
    assert wrap("abcdefghij", 4) == ["abcd", "efgh", "ij"]


def test_maps_text_is_the_kernel_format():
    out = to_maps(file_and_zero()).splitlines()
    assert out[0] == "00010000-00012000 rw-p 00000000 00:00 0 "
    assert out[1] == "00012000-00014000 r--s 00000000 00:00 0" + " " * 34 + "/tmp/data"
    extra = to_maps(split_after(), extra=True).splitlines()
    assert extra[1].endswith("  # vma2 vm_pgoff 0x12 anon_vma av1")


def _live():
    from rmapkit.snapshot import PageView, ProcessView, Snapshot, VMAView
    anon = ("rd", "wr", "mr", "mw", "me", "ac")
    vmas = (VMAView(0x10000, 0x12000, "rw-p", 0, "", anon),
            VMAView(0x12000, 0x13000, "r--p", 0x3000, "/tmp/f", ("rd", "mr")))
    pages = (PageView(0x10000, True, "f0", None, True, False, True, 1),
             PageView(0x11000, False), PageView(0x12000, True, "f1", None, False, False, True, 1))
    return Snapshot("live", (ProcessView("P0", vmas, pages),),
                    unknown={"anon_vmas": "not visible", "vm_pgoff": "anon only"})


def test_live_snapshots_render_with_unknowns_shown_as_such():
    from rmapkit.render import address_space_dot, diff, to_dot
    from rmapkit.render.display import view_text
    snap = _live()
    text = to_ascii(snap)
    assert "| P0 rw-p" in text and "| vm_pgoff ?" in text and "| vm_pgoff 0x3" in text
    assert "(anon_vmas and folios are not observable in a live snapshot)" in text
    out = lines(address_space_ascii(snap))
    assert out[1:4] == ["addr   012", "vma    AAB", "page   a-f"]
    assert "A = P0@0x10000 [0x10000, 0x12000) rw-p vm_pgoff ?" in out
    assert "(vm_pgoff of anonymous memory is not visible in a live snapshot)" in out
    assert "virtual anon file" not in address_space_ascii(snap)
    assert "vm_pgoff ?" in to_dot(snap) and "not visible in a live snapshot" in \
        address_space_dot(snap)
    assert view_text(snap, view="tree") == "(anon_vmas are not observable in a live snapshot)\n"
    assert diff(snap, snap) == []
