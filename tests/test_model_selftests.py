"""tools/testing/selftests/mm/merge.c (Linux 6.18), one test each, on the model.

As in the selftest, each test works inside a 30-page PROT_NONE carveout (mapped here at the
window base ``W``; its leftover PROT_NONE pieces stay around as incompatible neighbours) and
checks the VMA containing a pointer the way PROCMAP_QUERY does.  ``c(i)`` is carveout page i.
"Further away" moves go +1000/+2000 pages, as in the selftest.  The ``merge_with_fork``
variants run the rest of the test in the child, as the selftest does after do_fork().

Not adapted: ``handle_uprobe_upon_merged_vma`` (uprobes are not modelled; its mremap dance
on a private file mapping is kept, without the probe), ``ksm_merge`` after
PR_SET_MEMORY_MERGE (KSM is not modelled; the plain-merge half is kept) and
``merge_vmas_with_mseal`` (mseal is not modelled).
"""

import pytest

from modelhelpers import PS, RW, W
from rmapkit.uapi import (MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MAP_PRIVATE, MREMAP_DONTUNMAP,
                          MREMAP_FIXED, MREMAP_MAYMOVE, O_CREAT, O_RDWR, PROT_EXEC, PROT_NONE,
                          PROT_READ)

ANON = MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED
NR = MAP_NORESERVE
RWX = RW | PROT_EXEC
MOVE = MREMAP_MAYMOVE | MREMAP_FIXED


@pytest.fixture
def carveout(p):
    """map_carveout(): 30 PROT_NONE pages (placed at W here)."""
    return p.mmap(W, 30 * PS, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED)


def c(i):
    return W + i * PS


def query(p, addr):
    """find_vma_procmap(): ``(vma_start, vma_end)`` of the VMA containing ``addr``."""
    v = p.mm.vma_lookup(addr)
    assert v is not None, f"{addr:#x} is not mapped"
    return v.vm_start, v.vm_end


def test_mprotect_unfaulted_left(p, carveout):
    """::

             RO          RW
        |-----------|-----------|      mprotect first 5 RO, fault page 5,
        | unfaulted |  faulted  |      mprotect last 5 RO
        |-----------|-----------|
                    RO
        |-----------------------|      one 10-page VMA (failed for ~15 years before 6.16)
    """
    ptr = p.mmap(c(1), 10 * PS, RW, ANON | NR)
    p.mprotect(ptr, 5 * PS, PROT_READ)
    p.write(ptr + 5 * PS)
    p.mprotect(ptr + 5 * PS, 5 * PS, PROT_READ)
    assert query(p, ptr) == (ptr, ptr + 10 * PS)


def test_mprotect_unfaulted_right(p, carveout):
    """::

             RW          RO
        |  faulted  | unfaulted |  ->  mprotect first 5 RO  ->  one 10-page VMA
    """
    ptr = p.mmap(c(1), 10 * PS, RW, ANON | NR)
    p.mprotect(ptr + 5 * PS, 5 * PS, PROT_READ)
    p.write(ptr)
    p.mprotect(ptr, 5 * PS, PROT_READ)
    assert query(p, ptr) == (ptr, ptr + 10 * PS)


def test_mprotect_unfaulted_both(p, carveout):
    """::

             RO          RW          RO
        | unfaulted |  faulted  | unfaulted |  ->  middle RO  ->  one 9-page VMA
    """
    ptr = p.mmap(c(2), 9 * PS, RW, ANON | NR)
    p.mprotect(ptr, 3 * PS, PROT_READ)
    p.mprotect(ptr + 6 * PS, 3 * PS, PROT_READ)
    p.write(ptr + 3 * PS)
    p.mprotect(ptr + 3 * PS, 3 * PS, PROT_READ)
    assert query(p, ptr) == (ptr, ptr + 9 * PS)


def test_mprotect_faulted_left_unfaulted_right(p, carveout):
    """::

                    RW               RO
        |       faulted         | unfaulted |    last 3 RO, fault page 0
             RO          RW          RO
        |  faulted  |  faulted  | unfaulted |    first 3 RO (split of a faulted VMA)
                         RO
        |-----------------------------------|    middle RO: one 9-page VMA
    """
    ptr = p.mmap(c(2), 9 * PS, RW, ANON | NR)
    p.mprotect(ptr + 6 * PS, 3 * PS, PROT_READ)
    p.write(ptr)
    p.mprotect(ptr, 3 * PS, PROT_READ)
    p.mprotect(ptr + 3 * PS, 3 * PS, PROT_READ)
    assert query(p, ptr) == (ptr, ptr + 9 * PS)


def test_mprotect_unfaulted_left_faulted_right(p, carveout):
    """::

             RO          RW          RO
        | unfaulted |  faulted  |  faulted  |  ->  middle RO  ->  one 9-page VMA
    """
    ptr = p.mmap(c(2), 9 * PS, RW, ANON | NR)
    p.mprotect(ptr, 3 * PS, PROT_READ)
    p.write(ptr + 3 * PS)
    p.mprotect(ptr + 6 * PS, 3 * PS, PROT_READ)
    p.mprotect(ptr + 3 * PS, 3 * PS, PROT_READ)
    assert query(p, ptr) == (ptr, ptr + 9 * PS)


def test_forked_target_vma(p, carveout):
    """::

            forked
        |-----------|-----------|
        |  faulted  | unfaulted |    in the child, after unCoWing everything: not merged
        |-----------|-----------|
             ptr         ptr2
    """
    ptr = p.mmap(c(1), 5 * PS, RW, ANON)
    p.write(ptr)
    ch = p.fork()
    ch.write(ptr, 5 * PS)
    ch.mmap(ptr + 5 * PS, 5 * PS, RW, ANON)
    assert query(ch, ptr) == (ptr, ptr + 5 * PS)


def test_forked_source_vma(p, carveout):
    """::

          forked RW      RWX                 forked RWX     RWX
        |  faulted  | unfaulted |   ->     |  faulted  | unfaulted |   not merged
    """
    ptr = p.mmap(c(1), 5 * PS, RW, ANON | NR)
    p.write(ptr)
    ch = p.fork()
    ch.write(ptr, 5 * PS)
    ptr2 = ch.mmap(c(6), 5 * PS, RWX, ANON | NR)
    assert query(ch, ptr2) == (ptr2, ptr2 + 5 * PS)
    ch.mprotect(ptr, 5 * PS, RWX)
    assert query(ch, ptr2) == (ptr2, ptr2 + 5 * PS)
    assert query(ch, ptr) == (ptr, ptr + 5 * PS)


def test_handle_uprobe_upon_merged_vma_without_the_uprobe(k, p, carveout):
    """The mremap dance of handle_uprobe_upon_merged_vma on a 10-page PROT_EXEC private
    file mapping (the uprobe itself is not modelled): 1 page -> 2 pages at +5, then back.
    It must not break an invariant; the 2-page copy keeps file offset 0."""
    fd = p.open("./foo", O_RDWR | O_CREAT)
    p.ftruncate(fd, PS)
    ptr1 = p.mmap(c(1), 10 * PS, PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, 0)
    ptr2 = p.mremap(ptr1, PS, 2 * PS, MOVE, ptr1 + 5 * PS)
    assert ptr2 == ptr1 + 5 * PS
    v = p.mm.vma_lookup(ptr2)
    assert (v.vm_start, v.vm_end, v.vm_pgoff) == (ptr2, ptr2 + 2 * PS, 0)
    assert p.mremap(ptr2, PS, PS, MOVE, ptr1) == ptr1
    v = p.mm.vma_lookup(ptr1)
    assert (v.vm_start, v.vm_pgoff) == (ptr1, 0)


def test_ksm_merge_plain_half(p, carveout):
    """ksm_merge without PR_SET_MEMORY_MERGE: two adjacent 1-page maps merge; after
    unmapping the second half and the whole, the same again merges."""
    ptr = p.mmap(c(1), PS, RW, ANON)
    p.mmap(c(2), PS, RW, ANON)
    assert query(p, ptr) == (ptr, ptr + 2 * PS)
    p.munmap(c(2), PS)
    p.mmap(c(2), PS, RW, ANON)
    assert query(p, ptr) == (ptr, ptr + 2 * PS)
    p.munmap(ptr, 2 * PS)
    ptr = p.mmap(c(1), PS, RW, ANON)
    p.mmap(c(2), PS, RW, ANON)
    assert query(p, ptr) == (ptr, ptr + 2 * PS)


def test_mremap_unfaulted_to_faulted(p, carveout):
    """::

        |  faulted  | unfaulted |   ptr2 (moved far away, then next to ptr): one VMA
    """
    ptr = p.mmap(c(1), 5 * PS, RW, ANON)
    ptr2 = p.mmap(c(7), 5 * PS, RW, ANON)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr2 + 1000 * PS)
    p.write(ptr)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS)
    assert query(p, ptr) == (ptr, ptr + 10 * PS)


def test_mremap_unfaulted_behind_faulted(p, carveout):
    """::

        | unfaulted |  faulted  |   ptr2 moved in front of ptr: one VMA from ptr2
    """
    ptr = p.mmap(c(6), 5 * PS, RW, ANON)
    ptr2 = p.mmap(c(14), 5 * PS, RW, ANON)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr2 + 1000 * PS)
    p.write(ptr)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, c(1))
    assert query(p, ptr2) == (ptr2, ptr2 + 10 * PS)


def test_mremap_unfaulted_between_faulted(p, carveout):
    """::

        |  faulted  | unfaulted |  faulted  |   ptr, ptr3 faulted separately
        |-----------------------|-----------|   only ptr + ptr2 merge
    """
    ptr = p.mmap(c(1), 5 * PS, RW, ANON)
    ptr2 = p.mmap(c(7), 5 * PS, RW, ANON)
    ptr3 = p.mmap(c(14), 5 * PS, RW, ANON)
    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr3 + 2000 * PS)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr2 + 1000 * PS)
    p.write(ptr)
    p.write(ptr3)
    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr + 10 * PS)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS)
    assert query(p, ptr) == (ptr, ptr + 10 * PS)
    assert query(p, ptr3) == (ptr3, ptr3 + 5 * PS)


def test_mremap_unfaulted_between_faulted_unfaulted(p, carveout):
    """::

        |  faulted  | unfaulted | unfaulted |   ->  one 15-page VMA
    """
    ptr = p.mmap(c(1), 5 * PS, RW, ANON)
    ptr2 = p.mmap(c(7), 5 * PS, RW, ANON)
    ptr3 = p.mmap(c(14), 5 * PS, RW, ANON)
    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr3 + 2000 * PS)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr2 + 1000 * PS)
    p.write(ptr)
    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr + 10 * PS)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS)
    assert query(p, ptr) == (ptr, ptr + 15 * PS)


def test_mremap_unfaulted_between_correctly_placed_faulted(p, carveout):
    """::

        |  faulted  |           |  faulted  |   15 faulted pages, middle unmapped
        |-----------------------------------|   new unfaulted ptr2 moved in: one VMA
    """
    ptr = p.mmap(c(1), 15 * PS, RW, ANON)
    p.write(ptr)
    p.munmap(ptr + 5 * PS, 5 * PS)
    ptr2 = p.mmap(c(20), 5 * PS, RW, ANON)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS)
    assert query(p, ptr) == (ptr, ptr + 15 * PS)


def test_mremap_correct_placed_faulted(p, carveout):
    """Pieces of one faulted 15-page VMA moved away and back re-merge whenever they land
    at their original place next to a sibling, in any order::

        |  ptr  |  ptr2 |  ptr3 |   -> ptr3, ptr2 away; ptr2 back: 10 pages
        ptr away and back: 10; ptr away, ptr3 back next to ptr2: ptr2 10 pages;
        ptr back: 15; ptr2 away and back: 15; ptr3 away and back: 15
    """
    ptr = p.mmap(c(1), 15 * PS, RW, ANON)
    p.write(ptr)
    ptr3 = p.mremap(ptr + 10 * PS, 5 * PS, 5 * PS, MOVE, ptr + 10 * PS + 2000 * PS)
    ptr2 = p.mremap(ptr + 5 * PS, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS + 1000 * PS)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS)
    assert query(p, ptr) == (ptr, ptr + 10 * PS)

    ptr = p.mremap(ptr, 5 * PS, 5 * PS, MOVE, ptr + 1000 * PS)
    ptr = p.mremap(ptr, 5 * PS, 5 * PS, MOVE, c(1))
    assert query(p, ptr) == (ptr, ptr + 10 * PS)

    ptr = p.mremap(ptr, 5 * PS, 5 * PS, MOVE, ptr + 1000 * PS)
    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr2 + 5 * PS)
    assert query(p, ptr2) == (ptr2, ptr2 + 10 * PS)
    ptr = p.mremap(ptr, 5 * PS, 5 * PS, MOVE, c(1))
    assert query(p, ptr) == (ptr, ptr + 15 * PS)

    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr2 + 1000 * PS)
    ptr2 = p.mremap(ptr2, 5 * PS, 5 * PS, MOVE, ptr + 5 * PS)
    assert query(p, ptr) == (ptr, ptr + 15 * PS)

    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr3 + 1000 * PS)
    ptr3 = p.mremap(ptr3, 5 * PS, 5 * PS, MOVE, ptr + 10 * PS)
    assert query(p, ptr) == (ptr, ptr + 15 * PS)
    assert len(p.kernel.anon_vmas) == 1


# --------------------------------------------------------------------------------------
# FIXTURE(merge_with_fork), variants forked / unforked: the rest runs in the child.
# --------------------------------------------------------------------------------------

FORKED = pytest.mark.parametrize("forked", [False, True], ids=["unforked", "forked"])


def _maybe_fork(p, forked):
    return p.fork() if forked else p


@FORKED
def test_mremap_faulted_to_unfaulted_prev(p, carveout, forked):
    """::

                                     |------------|
                                     |    \\       |
                 |-----------|       |    /  |---------|
                 | unfaulted |       v    \\  | faulted |
                 |-----------|            /  |---------|
                       B                  \\       A

    A moved back next to B with MREMAP_DONTUNMAP: B+A merge (6 pages), unless A was
    forked (3 pages).
    """
    ptr_a = p.mmap(c(4), 3 * PS, RW, ANON)
    p.write(ptr_a)
    q = _maybe_fork(p, forked)
    ptr_a = q.mremap(ptr_a, 3 * PS, 3 * PS, MOVE, c(20))
    ptr_b = q.mmap(c(1), 3 * PS, RW, ANON)
    ptr_a = q.mremap(ptr_a, 3 * PS, 3 * PS, MOVE | MREMAP_DONTUNMAP, c(4))
    assert query(q, ptr_b) == (ptr_b, ptr_b + (3 if forked else 6) * PS)
    # The DONTUNMAP source stays mapped, empty and without anon_vma.
    src = q.mm.vma_lookup(c(20))
    assert src is not None and src.anon_vma is None and q.folio_at(c(20)) is None


@FORKED
def test_mremap_faulted_to_unfaulted_next(p, carveout, forked):
    """::

             |---------------------------|
             |                   \\       |
             |    |-----------|  /  |---------|
             v    | unfaulted |  \\  | faulted |
                  |-----------|  /  |---------|
                        B        \\       A

    A moved back in front of B with MREMAP_DONTUNMAP: one 6-page VMA unless forked.
    """
    ptr_a = p.mmap(c(1), 3 * PS, RW, ANON)
    p.write(ptr_a)
    q = _maybe_fork(p, forked)
    ptr_a = q.mremap(ptr_a, 3 * PS, 3 * PS, MOVE, c(20))
    q.mmap(c(4), 3 * PS, RW, ANON)
    ptr_a = q.mremap(ptr_a, 3 * PS, 3 * PS, MOVE | MREMAP_DONTUNMAP, c(1))
    assert query(q, ptr_a) == (ptr_a, ptr_a + (3 if forked else 6) * PS)
    # "Then unmap VMA A to trigger the bug": with the merge done right, nothing dangles.
    q.munmap(c(20), 3 * PS)


@FORKED
def test_mremap_faulted_to_unfaulted_prev_unfaulted_next(p, carveout, forked):
    """::

                         |---------------------------|
                         |                   \\       |
        |-----------|    |    |-----------|  /  |---------|
        | unfaulted |    v    | unfaulted |  \\  | faulted |
        |-----------|         |-----------|  /  |---------|
              A                     C        \\        B

    B moved into the 3-page hole between A and C: one 9-page VMA; forked: no merges.
    """
    ptr_b = p.mmap(c(4), 3 * PS, RW, ANON)
    p.write(ptr_b)
    q = _maybe_fork(p, forked)
    ptr_b = q.mremap(ptr_b, 3 * PS, 3 * PS, MOVE, c(20))
    ptr_a = q.mmap(c(1), 3 * PS, RW, ANON)
    q.mmap(c(7), 3 * PS, RW, ANON)
    ptr_b = q.mremap(ptr_b, 3 * PS, 3 * PS, MOVE | MREMAP_DONTUNMAP, c(4))
    assert query(q, ptr_a) == (ptr_a, ptr_a + (3 if forked else 9) * PS)
    if forked:
        assert query(q, ptr_b) == (ptr_b, ptr_b + 3 * PS)


@FORKED
def test_mremap_faulted_to_unfaulted_prev_faulted_next(p, carveout, forked):
    """::

                         |---------------------------|
                         |                   \\       |
        |-----------|    |    |-----------|  /  |---------|
        | unfaulted |    v    |  faulted  |  \\  | faulted |
        |-----------|         |-----------|  /  |---------|
              A                     C        \\       B

    BC mapped and faulted together, B moved away, A mapped, B moved back with
    DONTUNMAP: A+B+C one 9-page VMA; forked: only B+C (6 pages).
    """
    ptr_bc = p.mmap(c(4), 6 * PS, RW, ANON)
    p.write(ptr_bc)
    q = _maybe_fork(p, forked)
    ptr_b = q.mremap(ptr_bc, 3 * PS, 3 * PS, MOVE, c(20))
    ptr_a = q.mmap(c(1), 3 * PS, RW, ANON)
    ptr_b = q.mremap(ptr_b, 3 * PS, 3 * PS, MOVE | MREMAP_DONTUNMAP, c(4))
    if forked:
        assert query(q, ptr_b) == (ptr_b, ptr_b + 6 * PS)
    else:
        assert query(q, ptr_a) == (ptr_a, ptr_a + 9 * PS)
