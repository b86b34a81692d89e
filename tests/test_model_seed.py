"""The examples of the seed discussion, each as its own test (issue 2, "Tests that must exist").

Layouts are drawn in the notation of tools/testing/vma/vma.c: a ruler of window pages and one
letter per VMA.  Page ``i`` of the window is ``pg(i)``; anonymous memory mapped there has
``vm_pgoff == WPG + i``, written ``rel(pgoff) == i``.  Every syscall is followed by
``k.validate()`` (the ``p`` fixture).  Facts were checked on this machine's Linux 6.18.44.
"""

import pytest

from modelhelpers import (PA, PS, RW, W, WPG, anon, avc_labels, layout, pg, rel, spans,
                          vma_at)
from rmapkit import folio_anon_vma, linear_page_index, rmap_walk, vm_normal_page, vma_address
from rmapkit.model.rmap import rmap_candidates
from rmapkit.uapi import (MAP_FIXED, MAP_PRIVATE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE,
                          O_RDWR, PROT_READ)
from rmapkit.model.vmflags import VM_DONTDUMP, VM_DONTEXPAND, VM_IO, VM_PFNMAP


# --------------------------------------------------------------------------------------
# 1. The split example: unmap page 2 of 3.
# --------------------------------------------------------------------------------------

def test_split_unmap_middle_page_keeps_one_anon_vma_two_avcs(k, p):
    """Lorenzo's example (mm/vma.c: do_vmi_munmap() and __split_vma(), v6.18)::

        012
        AAA      write all three pages: one VMA, anon_vma av0, one avc
        A.B      munmap page 1: two VMAs, still one anon_vma, one avc each;
                 B keeps pgoff p+2, so rmap of page 2's folio (index p+2) finds B only.
    """
    anon(p, 0, 3)
    p.write(pg(0), 3 * PS)
    av = vma_at(p, 0).anon_vma
    assert layout(p) == "AAA"
    assert av.label == "av0" and len(av.rb_root) == 1

    p.munmap(pg(1), PS)
    assert layout(p) == "A.B"
    a, b = p.mm.vmas
    assert spans(p) == [(0, 1, 0), (2, 3, 2)]
    assert a.anon_vma is av and b.anon_vma is av
    assert avc_labels(a) == ["av0"] and avc_labels(b) == ["av0"]
    assert av.num_active_vmas == 2 and len(av.rb_root) == 2
    assert sorted(av.rb_root.key(c) for c in av.rb_root) == [(WPG, WPG), (WPG + 2, WPG + 2)]
    assert len(k.anon_vmas) == 1

    folio = p.folio_at(pg(2))
    assert folio.index == WPG + 2 == linear_page_index(b, pg(2))
    assert folio_anon_vma(folio) is av
    # The interval tree query for index p+2 yields B's avc alone ...
    assert [c.vma for c in av.rb_root.query(folio.index, folio.index)] == [b]
    assert rmap_candidates(folio) == [(b, pg(2))]
    # ... and vma_address() of that index in A is -EFAULT: A cannot map it.
    assert vma_address(a, folio.index) < 0
    assert rmap_walk(folio) == [(b, pg(2))]
    assert rmap_walk(p.folio_at(pg(0))) == [(a, pg(0))]
    # The unmapped page's folio was freed, the other two remain.
    assert p.folio_at(pg(1)) is None
    assert k.physmem.nr_allocated == 2


# --------------------------------------------------------------------------------------
# 2. The [anon0][fd][anon1] hole refilled with anonymous memory.
# --------------------------------------------------------------------------------------

def _anon_fd_anon(k, p, fault_left, fault_right):
    """::

        012345
        AABBCC     A = anon0, B = a file mapping, C = anon1 (written as asked)
    """
    k.create_file("/data", 16 * PS)
    fd = p.open("/data", O_RDWR)
    anon(p, 0, 2)
    p.mmap(pg(2), 2 * PS, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    anon(p, 4, 2)
    if fault_left:
        p.write(pg(0), 2 * PS)
    if fault_right:
        p.write(pg(4), 2 * PS)
    assert layout(p) == "AABBCC"
    return vma_at(p, 0).anon_vma, vma_at(p, 4).anon_vma


@pytest.mark.parametrize("refill", ["munmap+mmap", "MAP_FIXED over the file"])
@pytest.mark.parametrize("fault_left,fault_right", [(False, False), (True, False),
                                                    (False, True)])
def test_hole_refill_merges_when_at_most_one_side_has_anon_vma(k, p, refill, fault_left,
                                                               fault_right):
    """::

        012345
        AABBCC  ->  AAAAAA    (B unmapped and refilled with anon memory: one VMA)

    The new range has no anon_vma; the merged VMA keeps whichever anon_vma one side had
    (vma_merge_new_range(), both sides, dup_anon_vma() from next).
    """
    left, right = _anon_fd_anon(k, p, fault_left, fault_right)
    if refill == "munmap+mmap":
        p.munmap(pg(2), 2 * PS)
        assert layout(p) == "AA..BB"
    anon(p, 2, 2)
    assert layout(p) == "AAAAAA"
    (v,) = p.mm.vmas
    assert rel(v.vm_pgoff) == 0
    assert v.anon_vma is (left or right)
    for i in range(6):
        f = p.folio_at(pg(i))
        if f is not None:
            assert rmap_walk(f) == [(v, pg(i))]


@pytest.mark.parametrize("refill", ["munmap+mmap", "MAP_FIXED over the file"])
def test_hole_refill_with_two_anon_vmas_joins_the_left_side_only(k, p, refill):
    """::

        012345
        AABBCC  ->  AAAABB    (anon0 and anon1 have different anon_vmas)

    can_vma_merge_right() refuses when prev and next carry different anon_vmas, so only
    the left merge happens (mm/vma.c: can_vma_merge_right() and
    are_anon_vmas_compatible(), v6.18; the same on this machine's live kernel).
    """
    left, right = _anon_fd_anon(k, p, True, True)
    assert left is not right
    if refill == "munmap+mmap":
        p.munmap(pg(2), 2 * PS)
    anon(p, 2, 2)
    assert layout(p) == "AAAABB"
    a, c = p.mm.vmas
    assert spans(p) == [(0, 4, 0), (4, 6, 4)]
    assert a.anon_vma is left and c.anon_vma is right


# --------------------------------------------------------------------------------------
# 3. An anon mmap placed directly before an existing one merges.
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("faulted", [False, True])
def test_anon_mmap_placed_directly_below_merges(k, p, faulted):
    """The top-down allocator puts a second mapping right below the first; its pgoff
    (``addr >> PAGE_SHIFT``) ends where the first one's begins, so they merge::

        new  old           merged
        ..BB AAAA   ->     AAAAAA   (pgoff = the new start's page number)
    """
    a = p.mmap(0, 4 * PS, RW, PA)
    if faulted:
        p.write(a, PS)
    av = p.mm.vma_lookup(a).anon_vma
    b = p.mmap(0, 2 * PS, RW, PA)
    assert b == a - 2 * PS
    (v,) = p.mm.vmas
    assert (v.vm_start, v.vm_end, v.vm_pgoff) == (b, a + 4 * PS, b // PS)
    assert v.anon_vma is av
    if faulted:
        assert p.folio_at(a).index == a // PS == linear_page_index(v, a)


def test_anon_mmap_fixed_directly_before_merges(k, p):
    """::

        0123
        ..AA   mmap(MAP_FIXED) of pages 0-1  ->  AAAA (pgoff of page 0)
    """
    anon(p, 2, 2)
    p.write(pg(2))
    anon(p, 0, 2)
    assert layout(p) == "AAAA"
    assert spans(p) == [(0, 4, 0)]


# --------------------------------------------------------------------------------------
# 4. mremap of a faulted VMA keeps its pgoff and refuses to merge; moving it back
#    re-merges.
# --------------------------------------------------------------------------------------

def test_mremap_faulted_keeps_pgoff_refuses_merge_then_remerges_when_moved_back(k, p):
    """::

        0123456789abcdef
        AAAAAA.......BB     faulted A (one anon_vma), unfaulted B at page d
        AAA.......BBBCC     move pages 3-5 to page a: the moved VMA keeps pgoff 3 (its
                            folios' index must stay valid), so it is not linear at page a
                            and cannot merge with its unfaulted neighbour (pgoff d)
        AAAAAA.......BB     move it back to page 3: pgoffs line up, same anon_vma: merged
    """
    anon(p, 0, 6)
    p.write(pg(0), 6 * PS)
    av = vma_at(p, 0).anon_vma
    anon(p, 13, 2)
    assert layout(p) == "AAAAAA.......BB"

    assert p.mremap(pg(3), 3 * PS, 3 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, pg(10)) == pg(10)
    assert layout(p) == "AAA.......BBBCC"
    assert spans(p) == [(0, 3, 0), (10, 13, 3), (13, 15, 13)]
    moved = vma_at(p, 10)
    assert moved.anon_vma is av
    for i in range(3):
        f = p.folio_at(pg(10 + i))
        assert f.index == WPG + 3 + i == linear_page_index(moved, pg(10 + i))
        assert rmap_walk(f) == [(moved, pg(10 + i))]

    assert p.mremap(pg(10), 3 * PS, 3 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, pg(3)) == pg(3)
    assert layout(p) == "AAAAAA.......BB"
    assert spans(p) == [(0, 6, 0), (13, 15, 13)]
    assert vma_at(p, 0).anon_vma is av and len(av.rb_root) == 1


def test_mremap_faulted_without_fixed_lands_elsewhere_with_old_pgoff(k, p):
    """Growing a faulted VMA that has no room moves it: the kernel picks the address,
    the pgoff stays the old one (not ``new_addr >> PAGE_SHIFT``)."""
    anon(p, 0, 2)
    anon(p, 2, 1, prot=PROT_READ)          # blocks growth in place
    p.write(pg(0), 2 * PS)
    new = p.mremap(pg(0), 2 * PS, 4 * PS, MREMAP_MAYMOVE)
    assert new != pg(0)
    v = p.mm.vma_lookup(new)
    assert (v.vm_start, v.vm_end, v.vm_pgoff) == (new, new + 4 * PS, WPG)
    assert p.folio_at(new).index == WPG
    assert rmap_walk(p.folio_at(new + PS)) == [(v, new + PS)]


# --------------------------------------------------------------------------------------
# 5. mremap of an unfaulted VMA resets its pgoff and merges.
# --------------------------------------------------------------------------------------

def test_mremap_unfaulted_resets_pgoff_and_merges(k, p):
    """::

        0123456789ab
        AAA.......BB    A and B unfaulted
        .......AAABB -> .......BBBBB  (A moved to page 7: pgoff := 7, merges with B)
    """
    anon(p, 0, 3)
    anon(p, 10, 2)
    p.read(pg(0), 3 * PS)                  # read faults: zero page, still "unfaulted"
    assert vma_at(p, 0).anon_vma is None
    p.mremap(pg(0), 3 * PS, 3 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, pg(7))
    assert layout(p) == ".......AAAAA"
    assert spans(p) == [(7, 12, 7)]


def test_mremap_unfaulted_alone_takes_new_address_pgoff(k, p):
    """copy_vma(): an unfaulted anonymous VMA's pgoff becomes ``new_addr >> PAGE_SHIFT``
    even where there is nothing to merge with."""
    anon(p, 0, 3)
    p.mremap(pg(0), 3 * PS, 3 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, pg(20))
    assert spans(p) == [(20, 23, 20)]


# --------------------------------------------------------------------------------------
# 6. remap_pfn_range(): pgoff becomes the PFN on a private mapping, stays on a shared one.
# --------------------------------------------------------------------------------------

PFN_BASE = 0x80000


def _pfn_map(k, p, flags, npages=4, offset_pages=2, prot=RW):
    k.create_device("/dev/pfn", PFN_BASE, 16)
    fd = p.open("/dev/pfn", O_RDWR)
    a = p.mmap(pg(0), npages * PS, prot, flags | MAP_FIXED, fd, offset_pages * PS)
    return a, p.mm.vma_lookup(a)


def test_remap_pfn_range_private_sets_pgoff_to_pfn(k, p):
    """remap_pfn_range_internal() on a COW mapping: ``vm_pgoff = pfn`` (the first PFN
    remapped, device base + offset), VM_IO|VM_PFNMAP|VM_DONTEXPAND|VM_DONTDUMP; every PTE
    is a special raw PFN, and maps shows the PFN in the offset column."""
    a, v = _pfn_map(k, p, MAP_PRIVATE)
    pfn = PFN_BASE + 2
    assert v.vm_pgoff == pfn
    assert v.vm_flags & (VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP) == \
        VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP
    assert v.anon_vma is None
    for i in range(4):
        pte = p.mm.pgtable[a + i * PS]
        assert (pte.pfn, pte.special, pte.folio, pte.writable) == (pfn + i, True, None, False)
        assert vm_normal_page(v, a + i * PS, pte) is None
    assert p.maps().split()[2] == f"{pfn << 12:08x}"
    assert p.maps().split()[1] == "rw-p"


def test_remap_pfn_range_shared_keeps_pgoff(k, p):
    """On a shared mapping remap_pfn_range() leaves vm_pgoff alone (the user's offset);
    PTEs are writable special PFNs."""
    a, v = _pfn_map(k, p, MAP_SHARED)
    assert v.vm_pgoff == 2
    assert v.vm_flags & VM_PFNMAP and v.vm_flags & VM_IO
    for i in range(4):
        pte = p.mm.pgtable[a + i * PS]
        assert (pte.pfn, pte.special, pte.writable) == (PFN_BASE + 2 + i, True, True)
        assert vm_normal_page(v, a + i * PS, pte) is None
    assert p.maps().split()[1:3] == ["rw-s", f"{2 * PS:08x}"]
    p.write(a, 4 * PS)                      # shared: written in place, nothing copied
    assert all(p.mm.pgtable[a + i * PS].pfn == PFN_BASE + 2 + i for i in range(4))
    assert v.anon_vma is None and k.physmem.nr_allocated == 0


# --------------------------------------------------------------------------------------
# 7. vm_normal_page() after a CoW write in a private PFN map.
# --------------------------------------------------------------------------------------

def test_vm_normal_page_tells_cowed_page_from_remapped_pfn(k, p):
    """Writing page 1 of a private PFN map copies it into a new anon folio.  The rule of
    architectures without pte_special: ``pfn == vm_pgoff + page offset`` is the original
    remapped frame (no struct page), any other pfn is a normal page::

        0123
        AAAA     pages 0, 2, 3: raw PFNs; page 1: anon folio, index = pgoff + 1 = PFN + 1
    """
    a, v = _pfn_map(k, p, MAP_PRIVATE)
    pfn = PFN_BASE + 2
    p.write(a + PS)
    pte1 = p.mm.pgtable[a + PS]
    f = vm_normal_page(v, a + PS, pte1)
    assert f is not None and f is pte1.folio and pte1.pfn != pfn + 1 and pte1.writable
    assert f.anon and f.anon_exclusive and f.mapcount == 1
    assert v.anon_vma is not None and folio_anon_vma(f) is v.anon_vma
    assert f.index == linear_page_index(v, a + PS) == pfn + 1
    assert rmap_walk(f) == [(v, a + PS)]
    for i in (0, 2, 3):
        pte = p.mm.pgtable[a + i * PS]
        assert pte.pfn == pfn + i and vm_normal_page(v, a + i * PS, pte) is None


def test_pfn_linearity_survives_split_and_move(k, p):
    """Split and mremap shift pgoff by the same page offset, so ``pfn == vm_pgoff + off``
    still identifies the remapped frames afterwards (mm/memory.c: vm_normal_page(),
    remap_pfn_range(), v6.18)::

        0123          .1.3         (munmap pages 0 and 2: B keeps pgoff PFN+1, D PFN+3)
        AAAA   ->     .B.D  ->  moved D to page 9 (pgoff unchanged)
    """
    a, v = _pfn_map(k, p, MAP_PRIVATE)
    pfn = PFN_BASE + 2
    p.write(a + 3 * PS)                     # a CoW copy in page 3
    p.munmap(pg(0), PS)
    p.munmap(pg(2), PS)
    assert layout(p) == ".A.B"
    b, d = p.mm.vmas
    assert (b.vm_pgoff, d.vm_pgoff) == (pfn + 1, pfn + 3)
    p.mremap(pg(3), PS, PS, MREMAP_MAYMOVE | MREMAP_FIXED, pg(9))
    d = vma_at(p, 9)
    assert d.vm_pgoff == pfn + 3
    assert vm_normal_page(b, pg(1), p.mm.pgtable[pg(1)]) is None
    f = vm_normal_page(d, pg(9), p.mm.pgtable[pg(9)])
    assert f is not None and f.index == pfn + 3 and rmap_walk(f) == [(d, pg(9))]


# --------------------------------------------------------------------------------------
# The drawings themselves: the renderer emits the same ruler-and-letters notation.
# --------------------------------------------------------------------------------------

def test_renderer_draws_the_layouts_these_tests_draw(k, p):
    """Style habit 8: the ASCII renderer's letters line is the notation the docstrings
    use, so the drawings are asserted too (rmapkit.render.vma_letters/ruler)."""
    from rmapkit.render import ruler, vma_letters

    def drawn():
        return vma_letters(k.snapshot(), process=p.name, start=W, npages=16)

    anon(p, 0, 3)
    p.write(pg(0), 3 * PS)
    assert drawn() == layout(p) == "AAA"
    p.munmap(pg(1), PS)
    assert drawn() == layout(p) == "A.B"
    anon(p, 5, 3, prot=PROT_READ)
    anon(p, 8, 2)
    assert drawn() == layout(p) == "A.B..CCCDD"
    text = ruler(k.snapshot(), process=p.name, start=W, npages=10)
    assert "0123456789" in text and "A.B..CCCDD" in text
