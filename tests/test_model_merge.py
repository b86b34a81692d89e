"""The merge outcomes of mm/vma.c: vma_merge_new_range() and vma_merge_existing_range()
(v6.18) and the scenarios of the kernel's tools/testing/vma/vma.c, built from
syscalls: mmap(MAP_FIXED) into holes for new ranges, mprotect/madvise for existing ranges,
mremap for vma_merge_extend()/copy_vma().

As in vma.c, each step is drawn with a ruler and one letter per VMA, then restated in asserts
on vm_start, vm_end, vm_pgoff and anon_vma.  Letters are assigned A, B, C... in address order
at each step.  Mappings use MAP_NORESERVE where the kernel's selftests do, so VM_ACCOUNT
differences (mprotect_fixup() adds VM_ACCOUNT to a private mapping made writable) do
not get in the way; those have their own tests.
"""

import pytest

from modelhelpers import PAF, PS, RW, anon, avc_labels, layout, pg, spans, vma_at
from rmapkit import rmap_walk
from rmapkit.uapi import (MADV_DOFORK, MADV_DONTFORK, MAP_FIXED, MAP_NORESERVE, MAP_SHARED, MREMAP_FIXED, MREMAP_MAYMOVE, O_RDWR, PROT_EXEC,
                          PROT_READ)

NR = MAP_NORESERVE
RO = PROT_READ
RWX = RW | PROT_EXEC
MOVE = MREMAP_MAYMOVE | MREMAP_FIXED


def faulted(p, first, npages, prot=RW, flags=NR):
    """Map and write-fault ``npages`` at page ``first`` (its own anon_vma unless a
    neighbour's can be reused)."""
    anon(p, first, npages, prot=RW, flags=flags)
    p.write(pg(first), npages * PS)
    if prot != RW:
        p.mprotect(pg(first), npages * PS, prot)
    return vma_at(p, first)


# ======================================================================================
# vma_merge_new_range(): a new range [start, end) between prev and next (mmap).
# ======================================================================================

def test_new_range_no_neighbours_compatible_makes_a_new_vma(k, p):
    """can_left = no, can_right = no::

        01234
        AA.CC     A RW, C RWX
        AABCC     a new read-only range at 2 matches neither side: a new VMA B
    """
    anon(p, 0, 2, flags=NR)
    anon(p, 3, 2, prot=RWX, flags=NR)
    anon(p, 2, 1, prot=RO, flags=NR)
    assert layout(p) == "AABCC"
    assert spans(p) == [(0, 2, 0), (2, 3, 2), (3, 5, 3)]


def test_new_range_merges_left_only(k, p):
    """can_left = yes, can_right = no: prev extended to end, pgoff prev's::

        01234      01234
        AA.BB  ->  AAABB     (B is RWX)
    """
    a = anon(p, 0, 2, flags=NR)
    anon(p, 3, 2, prot=RWX, flags=NR)
    a_vma = vma_at(p, 0)
    anon(p, 2, 1, flags=NR)
    assert layout(p) == "AAABB"
    assert vma_at(p, 2) is a_vma and spans(p)[0] == (0, 3, 0)
    del a


def test_new_range_merges_right_only(k, p):
    """can_left = no, can_right = yes: next extended down, its pgoff lowered::

        01234      01234
        AA.BB  ->  AABBB     (A is RWX)
    """
    anon(p, 0, 2, prot=RWX, flags=NR)
    anon(p, 3, 2, flags=NR)
    b_vma = vma_at(p, 3)
    anon(p, 2, 1, flags=NR)
    assert layout(p) == "AABBB"
    assert vma_at(p, 2) is b_vma and spans(p)[1] == (2, 5, 2)


def test_new_range_merges_both_prev_kept_next_removed(k, p):
    """can_left = yes, can_right = yes: prev extended over next, next removed::

        01234      01234
        AA.BB  ->  AAAAA
    """
    anon(p, 0, 2, flags=NR)
    anon(p, 3, 2, flags=NR)
    a_vma = vma_at(p, 0)
    anon(p, 2, 1, flags=NR)
    assert layout(p) == "AAAAA"
    assert p.mm.vmas == [a_vma] and spans(p) == [(0, 5, 0)]
    assert p.mm.map_count == 1


@pytest.mark.parametrize("prev_f,next_f,expect", [
    ("faulted", None, "AAAAA"), (None, "faulted", "AAAAA"),
    ("faulted", "other", "AAABB"), ("faulted", "same", "AAAAA"),
])
def test_new_range_anon_vma_combinations(k, p, prev_f, next_f, expect):
    """The anon_vma side of can_vma_merge_right(): a new range (anon_vma NULL) merges
    with both sides unless they carry two *different* anon_vmas::

        01234
        AA.BB  ->  AAAAA   prev faulted / next faulted / both with the same anon_vma
        AA.BB  ->  AAABB   prev and next with different anon_vmas (left only)
    """
    if next_f == "same":
        faulted(p, 0, 5)
        p.munmap(pg(2), PS)
        av = vma_at(p, 0).anon_vma
    else:
        anon(p, 0, 2, flags=NR)
        anon(p, 3, 2, flags=NR)
        if prev_f:
            p.write(pg(0))
        if next_f:
            p.write(pg(3))
        av = (vma_at(p, 0).anon_vma or vma_at(p, 3).anon_vma)
    anon(p, 2, 1, flags=NR)
    assert layout(p) == expect
    assert vma_at(p, 0).anon_vma is av
    if expect == "AAAAA":
        v = vma_at(p, 0)
        for i in range(5):
            f = p.folio_at(pg(i))
            if f is not None:
                assert rmap_walk(f) == [(v, pg(i))]


def test_new_range_needs_contiguous_pgoff(k, p):
    """A moved faulted VMA keeps its pgoff: a new range next to it is not contiguous::

        0123456789
        ......AA..  faulted A moved here from page 0 (pgoff 0)
        ......AAB.  new range at 8 (pgoff 8 != 0 + 2): not merged
    """
    faulted(p, 0, 2)
    p.mremap(pg(0), 2 * PS, 2 * PS, MOVE, pg(6))
    anon(p, 8, 1, flags=NR)
    assert layout(p) == "......AAB"
    assert spans(p) == [(6, 8, 0), (8, 9, 8)]


def test_new_range_flags_differ_no_merge(k, p):
    """Every flag except VM_SOFTDIRTY must match: a MAP_NORESERVE neighbour (VM_NORESERVE
    set, VM_ACCOUNT clear) and a normal one (VM_ACCOUNT set) differ::

        0123
        AABB   A mmap(NORESERVE), B mmap() adjacent: two VMAs
    """
    anon(p, 0, 2, flags=NR)
    anon(p, 2, 2)
    assert layout(p) == "AABB"


def test_new_range_special_neighbour_never_merges(k, p):
    """VM_SPECIAL (VM_IO|VM_DONTEXPAND|VM_PFNMAP|VM_MIXEDMAP): two adjacent shared
    mappings of one PFN device, same struct file, contiguous offsets, do not merge,
    while the same done with a regular file merges (vma_merge_special_flags)::

        0123
        AABB   /dev/pfn offsets 0 and 2
        CCCC   regular file offsets 0 and 2: merged
    """
    k.create_device("/dev/pfn", 0x80000, 16)
    fd = p.open("/dev/pfn", O_RDWR)
    p.mmap(pg(0), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 0)
    p.mmap(pg(2), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 2 * PS)
    assert layout(p) == "AABB"
    k.create_file("/f", 16 * PS)
    fd2 = p.open("/f", O_RDWR)
    p.mmap(pg(8), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd2, 0)
    p.mmap(pg(10), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd2, 2 * PS)
    assert layout(p) == "AABB....CCCC"
    assert vma_at(p, 8).vm_pgoff == 0 and vma_at(p, 11).vm_end == pg(12)


def test_new_range_file_offsets_must_be_contiguous(k, p):
    """File VMAs merge only if ``prev->vm_pgoff + pages(prev) == pgoff``::

        0123
        AABB   same fd, offsets 0 and 3 (not 2): two VMAs
    """
    k.create_file("/f", 16 * PS)
    fd = p.open("/f", O_RDWR)
    p.mmap(pg(0), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 0)
    p.mmap(pg(2), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 3 * PS)
    assert layout(p) == "AABB"


# ======================================================================================
# vma_merge_existing_range(): mprotect of [start, end) of a VMA ``middle``.
# ======================================================================================

def _pvn(p, pv=RW, vv=RO, nv=RW, fault=()):
    """::

        0123456789
        PPPVVVVNNN     P [0,3), V [3,7), N [7,10); flags as given, all MAP_NORESERVE

    V is made first, so that P and N (mapped next to it with other flags) do not merge
    with it on the way; a faulted V is written while RW and then given its protection.
    P and N get their own anon_vmas when faulted, unless anon_vma_prepare() reuses V's
    (V faulted and P or N compatible with it).
    """
    anon(p, 3, 4, prot=RW if "V" in fault else vv, flags=NR)
    if "V" in fault:
        p.write(pg(3), 4 * PS)
        if vv != RW:
            p.mprotect(pg(3), 4 * PS, vv)
    for first, n, prot, name in ((0, 3, pv, "P"), (7, 3, nv, "N")):
        anon(p, first, n, prot=prot, flags=NR)
        if name in fault:
            p.write(pg(first), n * PS)
    assert layout(p) == "AAABBBBCCC", layout(p)
    return vma_at(p, 0), vma_at(p, 3), vma_at(p, 7)


def test_existing_whole_middle_merges_both_sides(k, p):
    """merge_left and merge_right, whole middle: prev extended to next's end, middle and
    next removed::

        PPPVVVVNNN  ->  PPPPPPPPPP
    """
    P, V, N = _pvn(p)
    p.mprotect(pg(3), 4 * PS, RW)
    assert layout(p) == "AAAAAAAAAA"
    assert p.mm.vmas == [P] and spans(p) == [(0, 10, 0)]


def test_existing_whole_middle_merges_left(k, p):
    """::

        PPPVVVVNNN  ->  PPPPPPPNNN      (N is RWX)
    """
    P, V, N = _pvn(p, nv=RWX)
    p.mprotect(pg(3), 4 * PS, RW)
    assert layout(p) == "AAAAAAABBB"
    assert p.mm.vmas == [P, N] and spans(p) == [(0, 7, 0), (7, 10, 7)]


def test_existing_prefix_merges_left(k, p):
    """Prefix of middle: prev extended to end, middle shrunk with pgoff advanced::

        PPPVVVVNNN  ->  PPPPPVVNNN      (mprotect pages 3-4)
    """
    P, V, N = _pvn(p, nv=RWX)
    p.mprotect(pg(3), 2 * PS, RW)
    assert layout(p) == "AAAAABBCCC"
    assert p.mm.vmas == [P, V, N]
    assert spans(p) == [(0, 5, 0), (5, 7, 5), (7, 10, 7)]


def test_existing_whole_middle_merges_right(k, p):
    """Next extended down to middle's start, its pgoff lowered; middle removed::

        PPPVVVVNNN  ->  PPPNNNNNNN      (P is RWX)
    """
    P, V, N = _pvn(p, pv=RWX)
    p.mprotect(pg(3), 4 * PS, RW)
    assert layout(p) == "AAABBBBBBB"
    assert p.mm.vmas == [P, N] and spans(p) == [(0, 3, 0), (3, 10, 3)]


def test_existing_suffix_merges_right(k, p):
    """Suffix of middle: middle shrunk, next extended down (pgoff adjusted)::

        PPPVVVVNNN  ->  PPPVVNNNNN      (mprotect pages 5-6)
    """
    P, V, N = _pvn(p, pv=RWX)
    p.mprotect(pg(5), 2 * PS, RW)
    assert layout(p) == "AAABBCCCCC"
    assert p.mm.vmas == [P, V, N]
    assert spans(p) == [(0, 3, 0), (3, 5, 3), (5, 10, 5)]


def test_existing_no_merge_splits_and_keeps_the_original_struct_for_the_range(k, p):
    """No merge: vma_modify() splits below (new_below=1) and above (new_below=0); the
    *original* struct ends up covering exactly the changed range::

        0123456
        VVVVVVV  ->  AABBBCC     (mprotect pages 2-4 RO; B is the original struct)
    """
    anon(p, 0, 7, flags=NR)
    v = vma_at(p, 0)
    p.mprotect(pg(2), 3 * PS, RO)
    assert layout(p) == "AABBBCC"
    assert vma_at(p, 2) is v
    assert vma_at(p, 0) is not v and vma_at(p, 5) is not v
    assert spans(p) == [(0, 2, 0), (2, 5, 2), (5, 7, 5)]


def test_existing_strictly_inside_never_merges(k, p):
    """A range strictly inside middle touches neither neighbour: split in three even when
    prev/next are compatible with the new flags::

        PPPVVVVNNN  ->  PPPVBBVNNN   (mprotect pages 4-5 RW; P, N are RW)
    """
    _pvn(p)
    p.mprotect(pg(4), 2 * PS, RW)
    assert layout(p) == "AAABCCDEEE"


def test_existing_merge_anon_vma_propagation(k, p):
    """dup_anon_vma(): the merged VMA carries whichever anon_vma the parts had::

        PPPVVVVNNN   only V faulted -> PPPPPPPPPP with V's anon_vma (P cloned from V)
    """
    P, V, N = _pvn(p, fault=("V",))
    av = V.anon_vma
    p.mprotect(pg(3), 4 * PS, RW)
    (only,) = p.mm.vmas
    assert only is P and P.anon_vma is av and avc_labels(P) == [av.label]
    assert av.num_active_vmas == 1 and len(av.rb_root) == 1
    for i in range(3, 7):
        assert rmap_walk(p.folio_at(pg(i))) == [(P, pg(i))]


def test_existing_merge_refused_between_two_different_anon_vmas(k, p):
    """anon_vma_non_mergeable: P and N faulted separately (different anon_vmas), V
    unfaulted: making V like them merges P+V only::

        PPPVVVVNNN  ->  PPPPPPPNNN
    """
    P, V, N = _pvn(p, fault=("P", "N"))
    av_p, av_n = P.anon_vma, N.anon_vma
    assert av_p is not av_n
    p.mprotect(pg(3), 4 * PS, RW)
    assert layout(p) == "AAAAAAABBB"
    assert vma_at(p, 0).anon_vma is av_p and vma_at(p, 7) is N and N.anon_vma is av_n


def test_existing_merge_via_madvise_flags(k, p):
    """madvise flag changes go through vma_modify() too::

        0123456
        AAAAAAA -> AABBBCC (MADV_DONTFORK pages 2-4) -> AAAAAAA (MADV_DOFORK)
    """
    anon(p, 0, 7, flags=NR)
    p.write(pg(0), 7 * PS)
    p.madvise(pg(2), 3 * PS, MADV_DONTFORK)
    assert layout(p) == "AABBBCC"
    p.madvise(pg(2), 3 * PS, MADV_DOFORK)
    assert layout(p) == "AAAAAAA"
    assert len(k.anon_vmas) == 1


# ======================================================================================
# The kernel's tools/testing/vma/vma.c, adapted to syscalls.
# ======================================================================================

def test_vma_c_simple_merge(k, p):
    """simple_merge: [0,1) pg0 and [2,3) pg2; new [1,2) pg1 -> one VMA [0,3) pg0::

        012
        A.B  ->  AAA
    """
    anon(p, 0, 1)
    anon(p, 2, 1)
    anon(p, 1, 1)
    assert layout(p) == "AAA" and spans(p) == [(0, 3, 0)]


def test_vma_c_simple_modify(k, p):
    """simple_modify: [0,3) pg0; modify flags of [1,2): the returned VMA is the original
    struct, now [1,2) pg1; neighbours [0,1) pg0 and [2,3) pg2::

        012
        AAA  ->  ABC
    """
    anon(p, 0, 3)
    v = vma_at(p, 0)
    p.mprotect(pg(1), PS, RO)
    assert layout(p) == "ABC"
    assert vma_at(p, 1) is v
    assert spans(p) == [(0, 1, 0), (1, 2, 1), (2, 3, 2)]


def test_vma_c_simple_expand(k, p):
    """simple_expand: [0,1) expanded to [0,3) pg0 (mremap growing in place)::

        012
        A    ->  AAA
    """
    anon(p, 0, 1)
    v = vma_at(p, 0)
    assert p.mremap(pg(0), PS, 3 * PS) == pg(0)
    assert p.mm.vmas == [v] and spans(p) == [(0, 3, 0)]


def test_vma_c_simple_shrink(k, p):
    """simple_shrink: [0,3) shrunk to [0,1) pg0::

        012
        AAA  ->  A
    """
    anon(p, 0, 3)
    v = vma_at(p, 0)
    assert p.mremap(pg(0), 3 * PS, PS) == pg(0)
    assert spans(p) == [(0, 1, 0)]
    # mremap shrinks through do_vmi_munmap(), whose split of the first VMA is
    # __split_vma(new_below=1): the *new* struct keeps [0,1), the original is unmapped.
    assert vma_at(p, 0) is not v


def test_vma_c_merge_new(k, p):
    """merge_new, with one anon_vma for every faulted piece (the harness gives each VMA
    one avc of a shared dummy anon_vma; here the pieces come from one faulted mapping)::

        0123456789abc
        AA.B.......C     A, B, C: pieces of one faulted mapping (av0)
        AA.B...DD..C     new D at 7: no merge, 4 VMAs
        AAAA...DD..C     new [2,3): A + new + B (B removed), 3 VMAs
        AAAAA..DD..C     new [4,5): A extended
        AAAAA.DDD..C     new [6,7): D extended down, pgoff 6
        AAAAAAAAA..C     new [5,6): A absorbs D (A keeps av0, D had none)
        AAAAAAAAA.CC     new [a,b): C extended down, pgoff a
        AAAAAAAAAAAA     new [9,a): one VMA [0,c) pg0 with av0
    """
    faulted(p, 0, 12, flags=0)
    av = vma_at(p, 0).anon_vma
    p.munmap(pg(2), PS)
    p.munmap(pg(4), 7 * PS)
    assert layout(p) == "AA.B.......C"
    a_vma = vma_at(p, 0)

    anon(p, 7, 2)
    assert layout(p) == "AA.B...CC..D" and p.mm.map_count == 4
    assert vma_at(p, 7).anon_vma is None
    anon(p, 2, 1)
    assert layout(p) == "AAAA...BB..C" and p.mm.map_count == 3
    assert vma_at(p, 0) is a_vma and a_vma.anon_vma is av
    anon(p, 4, 1)
    assert layout(p) == "AAAAA..BB..C"
    anon(p, 6, 1)
    assert layout(p) == "AAAAA.BBB..C"
    assert spans(p)[1] == (6, 9, 6)
    anon(p, 5, 1)
    assert layout(p) == "AAAAAAAAA..B" and p.mm.map_count == 2
    anon(p, 10, 1)
    assert layout(p) == "AAAAAAAAA.BB"
    assert spans(p)[1] == (10, 12, 10)
    anon(p, 9, 1)
    assert layout(p) == "AAAAAAAAAAAA"
    assert p.mm.vmas == [a_vma] and spans(p) == [(0, 12, 0)]
    assert a_vma.anon_vma is av and len(av.rb_root) == 1 and len(k.anon_vmas) == 1


def test_vma_c_vma_merge_special_flags(k, p):
    """vma_merge_special_flags: a VM_PFNMAP|VM_IO|VM_DONTEXPAND VMA never merges, new
    range or existing range, even with an identical neighbour (same file, offsets
    contiguous)::

        012345
        AABBCC   three private mappings of /dev/pfn: three VMAs; mprotect of B: same
    """
    k.create_device("/dev/pfn", 0x80000, 16)
    fd = p.open("/dev/pfn", O_RDWR)
    for i in range(3):
        p.mmap(pg(2 * i), 2 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 2 * i * PS)
    assert layout(p) == "AABBCC"
    p.mprotect(pg(2), 2 * PS, RO)
    p.mprotect(pg(2), 2 * PS, RW)
    assert layout(p) == "AABBCC"


@pytest.mark.parametrize("part", ["right partial", "right full", "left partial",
                                  "left full", "both"])
def test_vma_c_merge_existing(k, p, part):
    """merge_existing (V faulted, its new flags match an unfaulted neighbour)::

        0123456789
        ..VVVVNNN.  right partial: modify [3,6) -> ..VNNNNNN.  N [3,9) pg3 gets V's av
        ..VVVVNNN.  right full:    modify [2,6) -> ..NNNNNNN.  N [2,9) pg2, V deleted
        PPPVVVV...  left partial:  modify [3,6) -> PPPPPPV...  P [0,6), V [6,7) pg6
        PPPVVVV...  left full:     modify [3,7) -> PPPPPPP...  V deleted
        PPPVVVVNN.  both:          modify [3,7) -> PPPPPPPPP.  one VMA
    """
    left = part.startswith("left") or part == "both"
    right = part.startswith("right") or part == "both"
    if left:
        anon(p, 0, 3, prot=RO, flags=NR)
        vs, vn = 3, 4
    else:
        vs, vn = 2, 4
    v = faulted(p, vs, vn, prot=RW)
    av = v.anon_vma
    if right:
        anon(p, vs + vn, 3 if not left else 2, prot=RO, flags=NR)
    start, n = {"right partial": (3, 3), "right full": (2, 4), "left partial": (3, 3),
                "left full": (3, 4), "both": (3, 4)}[part]
    p.mprotect(pg(start), n * PS, RO)
    expect = {"right partial": ("..ABBBBBB", [(2, 3, 2), (3, 9, 3)]),
              "right full": ("..AAAAAAA", [(2, 9, 2)]),
              "left partial": ("AAAAAAB", [(0, 6, 0), (6, 7, 6)]),
              "left full": ("AAAAAAA", [(0, 7, 0)]),
              "both": ("AAAAAAAAA", [(0, 9, 0)])}[part]
    assert (layout(p), spans(p)) == expect
    assert all(x.anon_vma is av for x in p.mm.vmas)
    for i in range(vs, vs + vn):
        f = p.folio_at(pg(i))
        assert rmap_walk(f) == [(vma_at(p, i), pg(i))]


def test_vma_c_anon_vma_non_mergeable(k, p):
    """anon_vma_non_mergeable: P and N with different anon_vmas; V unfaulted between::

        0123456789
        PPPVVVVNNN   modify all of V  -> PPPPPPPNNN  (P+V only, N untouched)
        PPP....NNN   new range in gap -> PPPPPPPNNN  (same)
    """
    P, V, N = _pvn(p, vv=RO, fault=("P", "N"))
    av_p, av_n = P.anon_vma, N.anon_vma
    assert av_p is not av_n
    p.mprotect(pg(3), 4 * PS, RW)
    assert layout(p) == "AAAAAAABBB"
    assert vma_at(p, 7) is N
    p.munmap(pg(3), 4 * PS)
    assert layout(p) == "AAA....BBB"
    anon(p, 3, 4, flags=NR)
    assert layout(p) == "AAAAAAABBB"
    assert vma_at(p, 0).anon_vma is av_p and vma_at(p, 7) is N and N.anon_vma is av_n


@pytest.mark.parametrize("case", ["only N faulted", "only V faulted", "P + partial V",
                                  "partial V + N"])
def test_vma_c_dup_anon_vma(k, p, case):
    """dup_anon_vma: the expanded VMA gets the anon_vma (avcs cloned) of the faulted part::

        01234567
        PPPVVNNN  only N faulted:  modify V      -> PPPPPPPP (P cloned from N)
        PPPVVNNN  only V faulted:  modify V      -> PPPPPPPP (P cloned from V)
        PPPVVVVV  V faulted:       modify [3,5)  -> PPPPPVVV (P cloned from V)
        ...VVVVVNNN V faulted:     modify [5,8)  -> ...VVNNNNNN (N cloned from V)
    """
    if case == "partial V + N":
        v = faulted(p, 3, 5, prot=RO)
        anon(p, 8, 3, flags=NR)
        p.mprotect(pg(5), 3 * PS, RW)
        assert layout(p) == "...AABBBBBB"
        assert spans(p) == [(3, 5, 3), (5, 11, 5)]
        assert vma_at(p, 8).anon_vma is v.anon_vma
        return
    anon(p, 0, 3, flags=NR)
    if case == "P + partial V":
        v = faulted(p, 3, 5, prot=RO)
        p.mprotect(pg(3), 2 * PS, RW)
        assert layout(p) == "AAAAABBB"
        assert vma_at(p, 0).anon_vma is v.anon_vma
        return
    if case == "only V faulted":
        v = faulted(p, 3, 2, prot=RO)
        anon(p, 5, 3, flags=NR)
        av = v.anon_vma
    else:
        anon(p, 3, 2, prot=RO, flags=NR)
        n = faulted(p, 5, 3)
        av = n.anon_vma
    p.mprotect(pg(3), 2 * PS, RW)
    assert layout(p) == "AAAAAAAA"
    (only,) = p.mm.vmas
    assert only.anon_vma is av and avc_labels(only) == [av.label]


def test_vma_c_dup_anon_vma_expand_over_faulted_next(k, p):
    """dup_anon_vma, first case: expanding P over a faulted N gives P N's anon_vma
    (mremap growth in place reaching N: vma_merge_extend())::

        01234567
        PPP..NNN  ->  PPPPPPPP
    """
    anon(p, 0, 3)
    n = faulted(p, 5, 3, flags=0)
    av = n.anon_vma
    P = vma_at(p, 0)
    p.mremap(pg(0), 3 * PS, 5 * PS)
    assert p.mm.vmas == [P] and P.anon_vma is av and spans(p) == [(0, 8, 0)]
    assert rmap_walk(p.folio_at(pg(6))) == [(P, pg(6))]


def test_vma_c_merge_extend(k, p):
    """merge_extend: V=[0,1), W=[3,4) pg3; vma_merge_extend(V, 2 pages) -> V [0,4) pg0::

        0123
        V..W  ->  VVVV
    """
    anon(p, 0, 1)
    anon(p, 3, 1)
    v = vma_at(p, 0)
    assert p.mremap(pg(0), PS, 3 * PS) == pg(0)
    assert p.mm.vmas == [v] and spans(p) == [(0, 4, 0)]


def test_vma_c_copy_vma(k, p):
    """copy_vma: V=[3,5) pg3 copied to 0 -> a new distinct VMA [0,2) pg0; V=[0,2)
    copied to 4 next to N=[6,8) pg6 -> merged into N::

        01234567
        ...VV...  ->  VV......        (unfaulted: pgoff reset to 0)
        VV....NN  ->  ....NNNN        (moved to 4, merges with N: [4,8) pg4)
    """
    anon(p, 3, 2)
    p.mremap(pg(3), 2 * PS, 2 * PS, MOVE, pg(0))
    assert spans(p) == [(0, 2, 0)]
    anon(p, 6, 2)
    n = vma_at(p, 6)
    p.mremap(pg(0), 2 * PS, 2 * PS, MOVE, pg(4))
    assert layout(p) == "....AAAA"
    assert p.mm.vmas == [n] and spans(p) == [(4, 8, 4)]


def test_vma_c_mmap_region_basic(k, p):
    """mmap_region_basic: anon maps at 0x300000, 0x250000, 0x303000, 0x24d000 (3 pages
    each) -> 2 VMAs [0x300000,0x306000) pg 0x300 and [0x24d000,0x253000) pg 0x24d."""
    for addr in (0x300000, 0x250000, 0x303000, 0x24d000):
        assert p.mmap(addr, 3 * PS, RW, PAF) == addr
    assert [(v.vm_start, v.vm_end, v.vm_pgoff) for v in p.mm.vmas] == [
        (0x24d000, 0x253000, 0x24d), (0x300000, 0x306000, 0x300)]


# --------------------------------------------------------------------------------------
# anon_vma_prepare() neighbour reuse (find_mergeable_anon_vma()): mprotect-split siblings
# share.
# --------------------------------------------------------------------------------------

def test_anon_vma_prepare_reuses_next_before_prev(k, p):
    """find_mergeable_anon_vma() tries next first, then prev, when the flags differ only
    in R/W/X and pgoffs are linear (anon_vma_compatible())::

        0123456
        AABBBCC   one mapping split by mprotect: B RWX, A and C RW
                  write C: av0 (B has none yet); write A: av1 (nor here)
                  write B: B reuses *next*'s av0
        AABBBBB   mprotect B RW: merges with C (same anon_vma) but not with A
    """
    anon(p, 0, 7, flags=NR)
    p.mprotect(pg(2), 3 * PS, RWX)
    p.write(pg(5))
    p.write(pg(0))
    av_c, av_a = vma_at(p, 5).anon_vma, vma_at(p, 0).anon_vma
    assert av_a is not av_c
    p.write(pg(2))
    assert vma_at(p, 2).anon_vma is av_c
    p.mprotect(pg(2), 3 * PS, RW)
    assert layout(p) == "AABBBBB"
    assert vma_at(p, 2).anon_vma is av_c and vma_at(p, 0).anon_vma is av_a


def test_anon_vma_prepare_without_reuse_pieces_merge_left_only(k, p):
    """The same, but B is made RW before it is ever faulted: A+B merge, C stays::

        0123456
        AABBBCC  ->  AAAAABB
    """
    anon(p, 0, 7, flags=NR)
    p.mprotect(pg(2), 3 * PS, RO)
    p.write(pg(5))
    p.write(pg(0))
    p.mprotect(pg(2), 3 * PS, RW)
    assert layout(p) == "AAAAABB"


def test_anon_vma_prepare_reuse_lets_split_pieces_remerge(k, p):
    """::

        012345
        AAABBB   B RWX (differs from A only in VM_EXEC), A written first (av0);
                 writing B reuses A's anon_vma (its prev), so making B RW re-merges
        AAAAAA
    """
    anon(p, 0, 6, flags=NR)
    p.mprotect(pg(3), 3 * PS, RWX)
    p.write(pg(0))
    av = vma_at(p, 0).anon_vma
    p.write(pg(3))
    assert vma_at(p, 3).anon_vma is av          # reused from prev
    assert layout(p) == "AAABBB"
    p.mprotect(pg(3), 3 * PS, RW)
    assert layout(p) == "AAAAAA" and vma_at(p, 0).anon_vma is av


def test_anon_vma_prepare_no_reuse_from_a_fork_child(k, p):
    """reusable_anon_vma() refuses a neighbour whose chain is not singular::

        0123
        AABB   A forked (child: two avcs), B adjacent RO in the child; faulting B in the
               child gets B a fresh anon_vma
    """
    anon(p, 0, 2, flags=NR)
    p.write(pg(0))
    c = p.fork()
    anon(c, 2, 2, prot=RWX, flags=NR)
    c.write(pg(2))
    assert vma_at(c, 2).anon_vma is not vma_at(c, 0).anon_vma
    assert vma_at(c, 2).anon_vma.root is vma_at(c, 2).anon_vma
