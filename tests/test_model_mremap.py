"""mremap(): growing, shrinking, moving (one VMA or several), MREMAP_DONTUNMAP
(v6.18: mm/mremap.c: do_mremap(), remap_move(), move_vma(), dontunmap_complete();
mm/vma.c: copy_vma()).  Every step is followed by
k.validate(); layouts in vma.c's ruler-and-letters notation."""

import errno

import pytest

from modelhelpers import (PS, RW, WPG, anon, assert_unchanged_after, avc_labels, expect_errno,
                          layout, pg, rel, spans, vma_at)
from rmapkit import rmap_walk
from rmapkit.uapi import (MAP_ANONYMOUS, MAP_FIXED, MAP_LOCKED, MAP_PRIVATE, MAP_SHARED,
                          MREMAP_DONTUNMAP, MREMAP_FIXED,
                          MREMAP_MAYMOVE, O_RDWR, PROT_READ)

MOVE = MREMAP_MAYMOVE | MREMAP_FIXED
DONTUNMAP = MOVE | MREMAP_DONTUNMAP


def _check_rmap(p):
    for v in p.mm.vmas:
        for a, pte in p.mm.ptes_in(v.vm_start, v.vm_end):
            if pte.folio is not None and pte.folio.anon:
                assert (v, a) in rmap_walk(pte.folio)


def test_grow_in_place_keeps_pgoff(k, p):
    """::

        0123
        AA..  ->  AAAA   (expand_vma_in_place(): vm_end grows, pgoff unchanged)
    """
    anon(p, 0, 2)
    p.write(pg(0), 2 * PS)
    v = vma_at(p, 0)
    assert p.mremap(pg(0), 2 * PS, 4 * PS) == pg(0)
    assert p.mm.vmas == [v] and spans(p) == [(0, 4, 0)]


def test_grow_moved_faulted_vma_in_place_keeps_its_old_pgoff(k, p):
    """A moved faulted VMA grows in place with pgoff ``vm_pgoff + pages`` proposed for
    the new part: still its old (non-linear) pgoff::

        0123456789
        .......AA   faulted, moved here from page 0 (pgoff 0)
        .......AAA  grown by one page: [7,10) pgoff 0
    """
    anon(p, 0, 2)
    p.write(pg(0), 2 * PS)
    p.mremap(pg(0), 2 * PS, 2 * PS, MOVE, pg(7))
    p.mremap(pg(7), 2 * PS, 3 * PS)
    assert spans(p) == [(7, 10, 0)]
    p.write(pg(9))
    assert p.folio_at(pg(9)).index == WPG + 2
    _check_rmap(p)


def test_shrink_in_place_unmaps_the_tail(k, p):
    """::

        01234
        AAAAA  ->  AA     (the tail's pages are freed)
    """
    anon(p, 0, 5)
    p.write(pg(0), 5 * PS)
    assert p.mremap(pg(0), 5 * PS, 2 * PS) == pg(0)
    assert spans(p) == [(0, 2, 0)] and k.physmem.nr_allocated == 2


def test_shrink_in_place_may_cross_vma_boundaries(k, p):
    """A shrink unmaps ``[addr+new_len, addr+old_len)`` whatever VMAs are there::

        01234
        AABBB  ->  A      (mremap(0, 5 pages -> 1 page))
    """
    anon(p, 0, 2)
    anon(p, 2, 3, prot=PROT_READ)
    assert p.mremap(pg(0), 5 * PS, PS) == pg(0)
    assert layout(p) == "A"


def test_shrink_move_may_cross_vma_boundaries(k, p):
    """remap_is_valid(): "We permit crossing of boundaries for the range being unmapped due
    to a shrink" (the length checked against the VMA is new_len)::

        0123456789
        AABB......   mremap(0, 4 pages -> 1 page, FIXED to page 8)
        ........A    (observed live)
    """
    anon(p, 0, 2)
    anon(p, 2, 2, prot=PROT_READ)
    assert p.mremap(pg(0), 4 * PS, PS, MOVE, pg(8)) == pg(8)
    assert layout(p) == "........A"


def test_dontunmap_partial_first_page_fixed_same_size(k, p):
    """MREMAP_DONTUNMAP of the first page of a 2-page VMA, FIXED, same size: one piece
    moved, the source stays (observed live)::

        0123456789
        AA........  ->  AA......B
    """
    anon(p, 0, 2)
    p.write(pg(0), 2 * PS)
    av = vma_at(p, 0).anon_vma
    assert p.mremap(pg(0), PS, PS, DONTUNMAP, pg(8)) == pg(8)
    assert layout(p) == "AA......B"
    # Partial DONTUNMAP keeps the source's anon_vma (dontunmap_complete() unlinks only a
    # whole VMA); the page moved.
    assert vma_at(p, 0).anon_vma is av and vma_at(p, 8).anon_vma is av
    assert p.folio_at(pg(0)) is None and p.folio_at(pg(8)).index == WPG
    assert p.folio_at(pg(1)) is not None
    _check_rmap(p)


def test_dontunmap_whole_vma_unlinks_source_anon_vma(k, p):
    """dontunmap_complete(): the whole source VMA stays mapped, empty, without anon_vma;
    the next write there attaches a new (or a neighbour's) anon_vma::

        0123456789
        AAA.......  ->  AAA.....BBB    (A now unfaulted, B has A's old anon_vma and pages)
    """
    anon(p, 0, 3)
    p.write(pg(0), 3 * PS)
    av = vma_at(p, 0).anon_vma
    assert p.mremap(pg(0), 3 * PS, 3 * PS, DONTUNMAP, pg(8)) == pg(8)
    src, dst = vma_at(p, 0), vma_at(p, 8)
    assert layout(p) == "AAA.....BBB"
    assert src.anon_vma is None and src.anon_vma_chain == []
    assert dst.anon_vma is av and avc_labels(dst) == [av.label]
    assert all(p.folio_at(pg(i)) is None for i in range(3))
    assert [rel(p.folio_at(pg(8 + i)).index) for i in range(3)] == [0, 1, 2]
    p.write(pg(0))
    assert src.anon_vma is not None and src.anon_vma is not av
    _check_rmap(p)


def test_fixed_move_replaces_the_destination(k, p):
    """mremap_to() with MREMAP_FIXED unmaps the destination first::

        0123456789
        AA....BBBB  ->  ......AABB   (B's pages 6-7 replaced by A)
    """
    anon(p, 0, 2)
    p.write(pg(0), 2 * PS)
    anon(p, 6, 4, prot=PROT_READ)
    p.read(pg(6), 4 * PS)
    p.mremap(pg(0), 2 * PS, 2 * PS, MOVE, pg(6))
    assert layout(p) == "......AABB"
    assert spans(p) == [(6, 8, 0), (8, 10, 8)]
    assert p.folio_at(pg(6)).anon and p.folio_at(pg(8)).is_zero_page


def test_unfaulted_move_next_to_itself_merges_into_itself(k, p):
    """copy_vma(): an unfaulted VMA moved right after itself merges with its own
    remaining part, then the source range is unmapped::

        012345
        AAAA..  mremap([2,4) -> page 4)  ->  AA..BB   ([0,2) pg0, [4,6) pg4)
    """
    anon(p, 0, 4)
    assert p.mremap(pg(2), 2 * PS, 2 * PS, MOVE, pg(4)) == pg(4)
    assert layout(p) == "AA..BB"
    assert spans(p) == [(0, 2, 0), (4, 6, 4)]


def test_grow_needs_room_or_maymove(k, p):
    """Growing where the next VMA is in the way moves the VMA (MREMAP_MAYMOVE) to a
    kernel-chosen address; its pages follow with their index."""
    anon(p, 0, 2)
    anon(p, 2, 1, prot=PROT_READ)
    p.write(pg(0), 2 * PS)
    folio = p.folio_at(pg(0))
    new = p.mremap(pg(0), 2 * PS, 3 * PS, MREMAP_MAYMOVE)
    assert new not in (pg(0),) and layout(p) == "..A"
    assert p.folio_at(new) is folio and folio.index == WPG
    _check_rmap(p)


def test_multi_vma_move_preserves_gaps(k, p):
    """remap_move() (6.17+): MREMAP_FIXED with old_len == new_len may span several VMAs;
    gaps between them are reproduced at the destination.  Unfaulted pieces take their
    new address as pgoff, faulted ones keep theirs (copy_vma(); observed live)::

        0123456789abcdefghij
        AA.BBB.CC...........     A faulted, B unfaulted (RO), C faulted
        ...........AA.BBB.CC     mremap(0, 9 pages -> FIXED page b)
    """
    anon(p, 0, 2)
    anon(p, 3, 3, prot=PROT_READ)
    anon(p, 7, 2)
    p.write(pg(0), 2 * PS)
    p.write(pg(7), 2 * PS)
    assert p.mremap(pg(0), 9 * PS, 9 * PS, MOVE, pg(11)) == pg(11)
    assert layout(p, 32) == "...........AA.BBB.CC"
    assert spans(p) == [(11, 13, 0), (14, 17, 14), (18, 20, 7)]
    _check_rmap(p)


def test_multi_vma_move_gap_at_start_is_efault(k, p):
    """remap_move(): no gap permitted at the start of the range."""
    anon(p, 1, 2)
    expect_errno(k, errno.EFAULT, p.mremap, pg(0), 3 * PS, 3 * PS, MOVE, pg(10))


def test_multi_vma_move_trailing_gap_is_fine(k, p):
    """A gap at the end of the range is allowed: the VMAs inside move::

        0123456789
        AA........  mremap(0, 4 pages, FIXED page 6)  ->  ......AA
    """
    anon(p, 0, 2)
    assert p.mremap(pg(0), 4 * PS, 4 * PS, MOVE, pg(6)) == pg(6)
    assert layout(p) == "......AA"


def test_move_of_shared_and_file_mappings_keeps_pgoff(k, p):
    """Only an unfaulted *anonymous* VMA gets a new pgoff when moved; shmem (MAP_SHARED
    anon, pgoff 0) and file mappings keep theirs."""
    k.create_file("/f", 16 * PS)
    fd = p.open("/f", O_RDWR)
    p.mmap(pg(0), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 4 * PS)
    p.mmap(pg(3), 2 * PS, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
    p.mremap(pg(0), 2 * PS, 2 * PS, MOVE, pg(10))
    p.mremap(pg(3), 2 * PS, 2 * PS, MOVE, pg(13))
    assert vma_at(p, 10).vm_pgoff == 4 and vma_at(p, 13).vm_pgoff == 0


def test_pfnmap_can_move_but_not_grow_nor_dontunmap(k, p):
    """VM_PFNMAP|VM_DONTEXPAND: growth is EFAULT, DONTUNMAP EINVAL, a plain move works and
    keeps the PFN linearity (pgoff unchanged, PTEs moved)."""
    k.create_device("/dev/pfn", 0x80000, 16)
    fd = p.open("/dev/pfn", O_RDWR)
    p.mmap(pg(0), 2 * PS, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    expect_errno(k, errno.EFAULT, p.mremap, pg(0), 2 * PS, 3 * PS, MREMAP_MAYMOVE)
    expect_errno(k, errno.EINVAL, p.mremap, pg(0), 2 * PS, 2 * PS, DONTUNMAP, pg(8))
    p.mremap(pg(0), 2 * PS, 2 * PS, MOVE, pg(8))
    v = vma_at(p, 8)
    assert v.vm_pgoff == 0x80000
    assert [p.mm.pgtable[pg(8 + i)].pfn for i in range(2)] == [0x80000, 0x80001]


def test_no_resize_no_move_is_a_noop(k, p):
    anon(p, 0, 2)
    assert assert_unchanged_after(k, p.mremap, pg(0), 2 * PS, 2 * PS) == pg(0)


def test_mremap_anon_then_write_pages_keep_linear_index_relative_to_pgoff(k, p):
    """After moves back and forth, every anon page still satisfies
    ``folio.index == linear_page_index(vma, addr)`` (validate() checks it) and rmap
    finds it."""
    anon(p, 0, 6, flags=0)
    p.write(pg(0), 6 * PS)
    p.mremap(pg(2), 2 * PS, 2 * PS, MOVE, pg(12))
    p.write(pg(12))
    p.mremap(pg(12), 2 * PS, 3 * PS, MOVE, pg(20))
    p.write(pg(22))
    assert p.folio_at(pg(22)).index == WPG + 4
    p.mremap(pg(20), 3 * PS, 2 * PS, MOVE, pg(2))
    assert layout(p) == "AAAAAA"
    _check_rmap(p)


def test_multi_vma_move_stops_at_a_vma_that_may_not_move_in_a_batch(k, p):
    """remap_move(): a VMA whose file has its own get_unmapped_area (/dev/zero) may not be
    part of a batch; met after a first piece was moved, the call fails with EFAULT and the
    first piece stays moved (observed live)::

        0123456789abcdefghijklmn
        AAAAAABBBBB.........      A anon [0,6), B private /dev/zero [6,11)
        AAAA..BBBBB.........CC    mremap([4,8) -> page 20): [4,6) moved, then EFAULT
    """
    fd = p.open("/dev/zero", O_RDWR)
    p.mmap(pg(5), 6 * PS, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    anon(p, 0, 6)
    assert layout(p) == "AAAAAABBBBB"
    expect_errno(k, errno.EFAULT, p.mremap, pg(4), 4 * PS, 4 * PS, MOVE, pg(20),
                 unchanged=False)
    assert layout(p, 32) == "AAAA..BBBBB.........CC"


@pytest.mark.parametrize("how", ["in place", "moved"])
def test_growing_a_locked_vma_populates_the_new_pages(k, p, how):
    """do_mremap(): ``if (!failed && vrm->populate_expand) mm_populate(new_addr + old_len,
    delta)`` for a VM_LOCKED VMA (observed live: write faults for a writable private VMA,
    zero pages for a read-only one)::

        0123456789a
        AA.........   MAP_LOCKED, populated
        AAAA          grown in place: pages 2-3 present too
        ........AAA   or moved and grown (FIXED): all three present
    """
    anon(p, 0, 2, flags=MAP_LOCKED)
    if how == "in place":
        p.mremap(pg(0), 2 * PS, 4 * PS)
        pages = range(0, 4)
    else:
        p.mremap(pg(0), 2 * PS, 3 * PS, MOVE, pg(8))
        pages = range(8, 11)
    assert all(p.folio_at(pg(i)) is not None and p.folio_at(pg(i)).anon for i in pages)
