"""fork(): anon_vma_fork(), copy-on-write, the fork-child merge rules, and anon_vma reuse in
long fork chains (v6.18: mm/rmap.c: anon_vma_clone(), anon_vma_fork(); mm/memory.c:
do_wp_page(); mm/mmap.c: dup_mmap(); mm/vma.c: vma_is_fork_child()).

Layouts in vma.c's ruler-and-letters notation; every syscall is followed by k.validate().
"""

import pytest

from modelhelpers import (PS, RW, anon, avc_labels, layout, pg, spans, vma_at)
from rmapkit import folio_anon_vma, rmap_walk
from rmapkit.model.rmap import rmap_candidates
from rmapkit.uapi import (MADV_DONTFORK, MADV_WIPEONFORK, MAP_LOCKED, MAP_NORESERVE,
                          MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_EXEC, PROT_READ)
from rmapkit.model.vmflags import VM_LOCKED

MOVE = MREMAP_MAYMOVE | MREMAP_FIXED


def _faulted_parent(p, npages=2):
    anon(p, 0, npages)
    p.write(pg(0), npages * PS)
    return vma_at(p, 0)


def test_fork_links_child_to_parent_anon_vma_and_a_new_child_anon_vma(k, p):
    """anon_vma_fork(): the child's VMA gets an avc to every anon_vma of the parent's chain
    plus its own new anon_vma (root = parent's root, parent = parent's anon_vma)."""
    pv = _faulted_parent(p)
    av0 = pv.anon_vma
    c = p.fork()
    cv = vma_at(c, 0)
    av1 = cv.anon_vma
    assert av1 is not av0
    assert (av1.root, av1.parent) == (av0, av0)
    assert avc_labels(cv) == [av1.label, av0.label]          # newest first
    assert avc_labels(pv) == [av0.label]
    assert (av0.num_children, av0.num_active_vmas) == (2, 1)  # itself + av1; pv
    assert (av1.num_children, av1.num_active_vmas) == (0, 1)
    assert av0.refcount == 2                                  # tree ref + av1's root ref
    # Both processes map the same folios, now shared and not anon-exclusive.
    for i in range(2):
        f = p.folio_at(pg(i))
        assert c.folio_at(pg(i)) is f
        assert f.mapcount == 2 and not f.anon_exclusive and folio_anon_vma(f) is av0
        assert not p.mm.pgtable[pg(i)].writable and not c.mm.pgtable[pg(i)].writable
        assert sorted((v.vm_mm.owner.name, a) for v, a in rmap_walk(f)) == \
            sorted([(p.name, pg(i)), (c.name, pg(i))])


def test_child_write_copies_into_child_anon_vma(k, p):
    """A CoW write in the child copies the page into a new folio of the child's own
    anon_vma (wp_page_copy() -> folio_add_new_anon_rmap(child vma)), same index."""
    pv = _faulted_parent(p)
    c = p.fork()
    cv = vma_at(c, 0)
    old = p.folio_at(pg(0))
    c.write(pg(0))
    new = c.folio_at(pg(0))
    assert new is not old
    assert folio_anon_vma(new) is cv.anon_vma and cv.anon_vma is not pv.anon_vma
    assert new.index == old.index and new.anon_exclusive and new.mapcount == 1
    assert rmap_walk(new) == [(cv, pg(0))]
    # The parent's page stays where it was, mapped once, but not anon-exclusive until
    # the parent writes it.
    assert p.folio_at(pg(0)) is old
    assert old.mapcount == 1 and not old.anon_exclusive and folio_anon_vma(old) is pv.anon_vma
    assert not p.mm.pgtable[pg(0)].writable
    assert rmap_walk(old) == [(pv, pg(0))]
    # The child's folio lives in the child's anon_vma, whose tree holds only the child's
    # avc: the parent's VMA is not even a candidate for it.
    assert rmap_candidates(new) == [(cv, pg(0))]
    # The parent's VMA stays a candidate for folios of its anon_vma that are now mapped
    # by the child only (rmap_walk_anon() walks the whole anon_vma): write page 1 in the parent, the child keeps the old one.
    old1 = p.folio_at(pg(1))
    p.write(pg(1))
    assert c.folio_at(pg(1)) is old1 and old1.mapcount == 1
    cands = {(v.vm_mm.owner.name, a) for v, a in rmap_candidates(old1)}
    assert cands == {(p.name, pg(1)), (c.name, pg(1))}
    assert rmap_walk(old1) == [(cv, pg(1))]


def test_parent_write_after_child_copied_reuses_its_page(k, p):
    """After the child copied page 0, the parent's folio has mapcount 1: the parent's
    write reuses it (wp_can_reuse_anon_folio()), sets PageAnonExclusive, no new folio."""
    pv = _faulted_parent(p)
    c = p.fork()
    c.write(pg(0))
    old = p.folio_at(pg(0))
    n = k.physmem.nr_allocated
    p.write(pg(0))
    assert p.folio_at(pg(0)) is old and k.physmem.nr_allocated == n
    assert old.anon_exclusive and folio_anon_vma(old) is pv.anon_vma
    assert p.mm.pgtable[pg(0)].writable


def test_parent_write_first_copies_then_child_reuses_and_rehomes(k, p):
    """The parent writes first: its copy goes to its own anon_vma; the child's write then
    reuses the old folio and folio_move_anon_rmap() re-homes it into the child's
    anon_vma (index unchanged)."""
    pv = _faulted_parent(p)
    c = p.fork()
    cv = vma_at(c, 0)
    old = p.folio_at(pg(0))
    p.write(pg(0))
    assert p.folio_at(pg(0)) is not old
    assert folio_anon_vma(p.folio_at(pg(0))) is pv.anon_vma
    assert c.folio_at(pg(0)) is old and old.mapcount == 1 and not old.anon_exclusive
    c.write(pg(0))
    assert c.folio_at(pg(0)) is old
    assert old.anon_exclusive and folio_anon_vma(old) is cv.anon_vma
    assert rmap_walk(old) == [(cv, pg(0))]


def test_fork_of_unfaulted_and_read_only_faulted_memory(k, p):
    """An unfaulted VMA forks without anon_vma and without copying PTEs; zero-page PTEs
    of a read-faulted VMA are not copied either (vma_needs_copy() is false)::

        0123
        AABB    A unfaulted, B read-faulted (zero page): neither has an anon_vma
    """
    anon(p, 0, 2)
    anon(p, 2, 2, prot=PROT_READ)
    p.read(pg(2), 2 * PS)
    c = p.fork()
    assert [v.anon_vma for v in c.mm.vmas] == [None, None]
    assert len(c.mm.pgtable) == 0
    assert layout(c) == layout(p) == "AABB"
    assert len(k.anon_vmas) == 0


def test_fork_drops_dontfork_wipes_wipeonfork_clears_locked(k, p):
    """dup_mmap(): VM_DONTCOPY VMAs are not copied, VM_WIPEONFORK ones are copied empty
    (no anon_vma, no PTEs), VM_LOCKED is not inherited::

        012345
        AABBCC   A DONTFORK, B WIPEONFORK, C locked (all faulted)
        ..BBCC   in the child
    """
    anon(p, 0, 2, flags=MAP_NORESERVE)
    anon(p, 2, 2)
    anon(p, 4, 2, flags=MAP_LOCKED)
    p.write(pg(0), 6 * PS)
    p.madvise(pg(0), 2 * PS, MADV_DONTFORK)
    p.madvise(pg(2), 2 * PS, MADV_WIPEONFORK)
    assert layout(p) == "AABBCC"
    c = p.fork()
    assert layout(c) == "..AABB"
    b, cl = c.mm.vmas
    assert b.anon_vma is None and b.anon_vma_chain == []
    assert c.folio_at(pg(2)) is None and c.folio_at(pg(3)) is None
    assert not cl.vm_flags & VM_LOCKED and vma_at(p, 4).vm_flags & VM_LOCKED
    assert c.folio_at(pg(4)) is p.folio_at(pg(4))
    c.write(pg(2))                                     # fresh zero-fill memory
    assert c.folio_at(pg(2)) is not p.folio_at(pg(2))


# --------------------------------------------------------------------------------------
# The fork-child merge rules (6.16+ is_mergeable_anon_vma(), 6.18.y copied_from).
# --------------------------------------------------------------------------------------

def test_child_inherited_faulted_vma_refuses_unfaulted_neighbour_on_the_right(k, p):
    """::

        0123
        AA..    faulted, forked: in the child A has two avcs (a "fork child")
        AABB    child maps B right after A: not merged, even after unCoWing every page
                (the parent, doing the same, merges)
    """
    _faulted_parent(p)
    c = p.fork()
    c.write(pg(0), 2 * PS)                  # unCoW everything: the avcs stay
    assert len(vma_at(c, 0).anon_vma_chain) == 2
    anon(c, 2, 2)
    assert layout(c) == "AABB"
    anon(p, 2, 2)
    assert layout(p) == "AAAA"


def test_child_inherited_faulted_vma_refuses_unfaulted_neighbour_on_the_left(k, p):
    """::

        0123
        ..AA    faulted, forked
        BBAA    child maps B right before A: not merged (the parent merges)
    """
    anon(p, 2, 2)
    p.write(pg(2), 2 * PS)
    c = p.fork()
    anon(c, 0, 2)
    assert layout(c) == "AABB"
    anon(p, 0, 2)
    assert layout(p) == "AAAA"


@pytest.mark.parametrize("side", ["left", "right"])
def test_child_mprotect_unfaulted_neighbour_onto_forked_vma_refused(k, p, side):
    """Existing-range merge, case 2 (target faulted, fork child; source unfaulted)::

        0123              0123
        AABB   or         BBAA      B mapped read-only in the child, then made RW:
                                    it would merge into A, but A is a fork child
    """
    a0, b0 = (0, 2) if side == "right" else (2, 0)
    anon(p, a0, 2, flags=MAP_NORESERVE)
    p.write(pg(a0), 2 * PS)
    c = p.fork()
    anon(c, b0, 2, prot=PROT_READ, flags=MAP_NORESERVE)
    c.mprotect(pg(b0), 2 * PS, RW)
    assert layout(c) == "AABB"
    anon(p, b0, 2, prot=PROT_READ, flags=MAP_NORESERVE)
    p.mprotect(pg(b0), 2 * PS, RW)
    assert layout(p) == "AAAA"


@pytest.mark.parametrize("side", ["left", "right"])
def test_child_mprotect_forked_vma_onto_unfaulted_neighbour_refused(k, p, side):
    """Existing-range merge, case 1 (source faulted fork child, target unfaulted)
    (selftest forked_source_vma)::

        0123
        AABB     A forked RW, B unfaulted RWX; mprotect A RWX: not merged in the child
    """
    a0, b0 = (0, 2) if side == "right" else (2, 0)
    rwx = RW | PROT_EXEC
    anon(p, a0, 2, flags=MAP_NORESERVE)
    p.write(pg(a0), 2 * PS)
    c = p.fork()
    for q in (c, p):
        anon(q, b0, 2, prot=rwx, flags=MAP_NORESERVE)
        assert layout(q) == "AABB"
        q.mprotect(pg(a0), 2 * PS, rwx)
    assert layout(c) == "AABB"
    assert layout(p) == "AAAA"


def test_child_mremap_back_next_to_unfaulted_refused_copied_from_rule(k, p):
    """6.18.y vma_merge_copied_range(): moving a fork child's faulted VMA next to an
    unfaulted neighbour where pgoffs line up is refused too (observed live)::

        0123456789
        ..AA.....      faulted, forked
        .......AA      child: move A away (pgoff 2 kept)
        BB.....AA      child: map B at 0-1
        BBAA.....      child: move A back: pgoffs contiguous, but A is a fork child
    """
    anon(p, 2, 2)
    p.write(pg(2), 2 * PS)
    c = p.fork()
    c.mremap(pg(2), 2 * PS, 2 * PS, MOVE, pg(7))
    anon(c, 0, 2)
    c.mremap(pg(7), 2 * PS, 2 * PS, MOVE, pg(2))
    assert layout(c) == "AABB"
    assert spans(c) == [(0, 2, 0), (2, 4, 2)]
    # The parent, doing the same, merges.
    p.mremap(pg(2), 2 * PS, 2 * PS, MOVE, pg(7))
    anon(p, 0, 2)
    p.mremap(pg(7), 2 * PS, 2 * PS, MOVE, pg(2))
    assert layout(p) == "AAAA"


def test_child_stays_a_fork_child_after_the_parent_exits(k, p):
    """Whatever the parent does later (here: it exits), the child's VMA keeps two avcs
    and keeps refusing merges with unfaulted neighbours."""
    _faulted_parent(p)
    c = p.fork()
    p.exit()
    k.validate()
    cv = vma_at(c, 0)
    assert len(cv.anon_vma_chain) == 2
    anon(c, 2, 2)
    assert layout(c) == "AABB"


def test_child_faulted_vmas_of_one_anon_vma_still_merge_with_each_other(k, p):
    """The fork-child rule only concerns anon_vma-less neighbours: two pieces of the
    child's VMA (same anon_vma, contiguous pgoff) re-merge::

        0123
        AAAA -> AABB (mprotect RO) -> AAAA (mprotect RW)
    """
    anon(p, 0, 4, flags=MAP_NORESERVE)
    p.write(pg(0), 4 * PS)
    c = p.fork()
    c.mprotect(pg(2), 2 * PS, PROT_READ)
    assert layout(c) == "AABB"
    c.mprotect(pg(2), 2 * PS, RW)
    assert layout(c) == "AAAA"


# --------------------------------------------------------------------------------------
# Long fork chains.
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("child_writes", [False, True])
def test_long_fork_chain_reuses_idle_anon_vmas(k, p, child_writes):
    """50 generations, each forking and then exiting: anon_vma_clone()'s reuse heuristic
    (``num_children < 2 && num_active_vmas == 0``) picks an idle ancestor, so the number
    of anon_vmas and the chain length stay bounded instead of growing with the depth."""
    _faulted_parent(p, 4)
    cur = p
    counts, chains = [], []
    for gen in range(50):
        child = cur.fork()
        if child_writes:
            child.write(pg(gen % 4))
        cur.exit()
        k.validate()
        cur = child
        counts.append(len(k.anon_vmas))
        chains.append(len(vma_at(cur, 0).anon_vma_chain))
    assert max(counts) <= 3, counts
    assert max(chains) <= 3, chains
    v = vma_at(cur, 0)
    assert v.anon_vma is not None
    for i in range(4):
        f = cur.folio_at(pg(i))
        assert rmap_walk(f) == [(v, pg(i))]


def test_fork_tree_with_live_parents_grows_one_anon_vma_per_child(k, p):
    """No reuse while every ancestor is alive: each child gets its own anon_vma."""
    _faulted_parent(p)
    procs = [p]
    for _ in range(5):
        procs.append(procs[-1].fork())
    assert len(k.anon_vmas) == 6
    assert [len(vma_at(q, 0).anon_vma_chain) for q in procs] == [1, 2, 3, 4, 5, 6]
    root = vma_at(p, 0).anon_vma
    assert all(vma_at(q, 0).anon_vma.root is root for q in procs)
    f = p.folio_at(pg(0))
    assert len(rmap_walk(f)) == 6


def test_exit_of_everyone_frees_every_anon_vma_and_folio(k, p):
    _faulted_parent(p, 3)
    c = p.fork()
    g = c.fork()
    c.write(pg(0))
    g.write(pg(1))
    for q in (c, p, g):
        q.exit()
        k.validate()
    assert k.anon_vmas == {} and k.physmem.nr_allocated == 0


def test_dontunmap_in_child_keeps_rmap_of_parent_era_folios(k, p):
    """MREMAP_DONTUNMAP of a whole forked VMA unlinks the source's avcs; the moved VMA
    keeps them (anon_vma_clone()), so parent-era folios are still found at the new place."""
    _faulted_parent(p)
    c = p.fork()
    c.mremap(pg(0), 2 * PS, 2 * PS, MOVE | MREMAP_DONTUNMAP, pg(8))
    src, dst = vma_at(c, 0), vma_at(c, 8)
    assert src.anon_vma is None and src.anon_vma_chain == []
    assert len(dst.anon_vma_chain) == 2
    f = p.folio_at(pg(0))
    assert sorted((v.vm_mm.owner.name, a) for v, a in rmap_walk(f)) == \
        sorted([(p.name, pg(0)), (c.name, pg(8))])
