"""Reverse mapping beyond the seed examples: file folios through i_mmap, shmem and memfd,
truncation (which zaps CoW copies too), MADV_DONTNEED, and the interval-tree keys after
splits and merges (v6.18: mm/rmap.c: rmap_walk_anon(), rmap_walk_file(); mm/truncate.c:
truncate_pagecache()).  Every step is followed by k.validate()."""

from modelhelpers import PS, RW, WPG, anon, layout, pg, rel, vma_at
from rmapkit import folio_anon_vma, rmap_walk
from rmapkit.model.rmap import rmap_candidates
from rmapkit.uapi import (MADV_DONTNEED, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, O_RDWR,
                          PROT_READ)


def _who(f):
    return sorted((v.vm_mm.owner.name, a) for v, a in rmap_walk(f))


def test_file_folio_found_through_i_mmap_in_every_process(k, p):
    """A page-cache folio's rmap walks the file's i_mmap, keyed on each VMA's file pgoff
    range; two processes mapping different offsets of one file at different addresses::

        0123456789
        AAAA......   P0: /f pages 2-5 at page 0
        .....BBBB.   P1: /f pages 4-7 at page 5 -> file page 4 is at page 2 in P0, 5 in P1
    """
    k.create_file("/f", 8 * PS)
    fd = p.open("/f", O_RDWR)
    p.mmap(pg(0), 4 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 2 * PS)
    q = k.spawn()
    fq = q.open("/f", O_RDWR)
    q.mmap(pg(5), 4 * PS, RW, MAP_SHARED | MAP_FIXED, fq, 4 * PS)
    k.validate()
    p.read(pg(2))
    q.read(pg(5))
    k.validate()
    f = p.folio_at(pg(2))
    assert q.folio_at(pg(5)) is f and f.index == 4 and not f.anon
    assert f.mapcount == 2
    assert _who(f) == sorted([(p.name, pg(2)), (q.name, pg(5))])
    mapping = vma_at(p, 0).vm_file.f_mapping
    assert sorted(mapping.i_mmap.key(v) for v in mapping.i_mmap) == [(2, 5), (4, 7)]


def test_private_file_mapping_mixes_page_cache_and_anon_folios(k, p):
    """A private file VMA is in i_mmap (its clean pages are file folios) and, once written,
    has an anon_vma for its CoW copies, whose index is the file offset::

        0123
        AAAA   /f pages 0-3, private; read page 0, write page 1
    """
    k.create_file("/f", 4 * PS)
    fd = p.open("/f", O_RDWR)
    p.mmap(pg(0), 4 * PS, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    v = vma_at(p, 0)
    p.read(pg(0))
    p.write(pg(1))
    f0, f1 = p.folio_at(pg(0)), p.folio_at(pg(1))
    assert not f0.anon and f0.mapping is v.vm_file.f_mapping
    assert f1.anon and folio_anon_vma(f1) is v.anon_vma and f1.index == 1
    assert rmap_walk(f0) == [(v, pg(0))] and rmap_walk(f1) == [(v, pg(1))]
    c = p.fork()
    cv = vma_at(c, 0)
    assert c.folio_at(pg(1)) is f1 and f1.mapcount == 2
    assert _who(f1) == sorted([(p.name, pg(1)), (c.name, pg(1))])
    assert cv.vm_file is v.vm_file


def test_memfd_shared_between_parent_and_child(k, p):
    """memfd_create() + ftruncate(): a shmem file; parent and child share its pages."""
    fd = p.memfd_create("buf")
    p.ftruncate(fd, 4 * PS)
    p.mmap(pg(0), 4 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 0)
    p.write(pg(0), 2 * PS)
    c = p.fork()
    c.write(pg(1))
    c.read(pg(0))
    f = p.folio_at(pg(1))
    assert c.folio_at(pg(1)) is f and not f.anon and f.mapcount == 2
    assert p.maps().split()[-1] == "(deleted)" and "/memfd:buf" in p.maps()
    assert _who(f) == sorted([(p.name, pg(1)), (c.name, pg(1))])


def test_truncate_zaps_mappings_and_cow_copies_past_the_end(k, p):
    """truncate_pagecache() -> unmap_mapping_range(even_cows=1): pages past the new end go
    from every mapping, shared pages and private CoW copies alike::

        0123 4567
        AAAA BBBB   A shared, B private (written: CoW copies) of /f pages 0-3
        truncate /f to 2 pages: pages 2-3 of both are unmapped, the copies freed
    """
    k.create_file("/f", 4 * PS)
    fd = p.open("/f", O_RDWR)
    p.mmap(pg(0), 4 * PS, RW, MAP_SHARED | MAP_FIXED, fd, 0)
    p.mmap(pg(4), 4 * PS, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
    p.read(pg(0), 4 * PS)
    p.write(pg(4), 4 * PS)
    assert all(p.folio_at(pg(i)).anon for i in range(4, 8))
    n = k.physmem.nr_allocated
    p.ftruncate(fd, 2 * PS)
    assert [p.folio_at(pg(i)) is not None for i in range(8)] == [True, True, False, False] * 2
    assert k.physmem.nr_allocated == n - 4
    assert layout(p) == "AAAABBBB"


def test_madv_dontneed_frees_pages_but_keeps_the_anon_vma(k, p):
    """MADV_DONTNEED zaps the range: the folios go, the VMA and its anon_vma stay (so a
    later write reuses it)."""
    anon(p, 0, 4)
    p.write(pg(0), 4 * PS)
    av = vma_at(p, 0).anon_vma
    p.madvise(pg(1), 2 * PS, MADV_DONTNEED)
    assert [p.folio_at(pg(i)) is not None for i in range(4)] == [True, False, False, True]
    assert vma_at(p, 0).anon_vma is av and k.physmem.nr_allocated == 2
    p.read(pg(1))
    assert p.folio_at(pg(1)).is_zero_page
    p.write(pg(2))
    assert folio_anon_vma(p.folio_at(pg(2))) is av
    assert p.folio_at(pg(2)).index == WPG + 2


def test_avc_keys_follow_splits_and_merges(k, p):
    """Every avc is keyed on its VMA's current ``[vm_pgoff, vm_pgoff + pages - 1]``
    (anon_vma_interval_tree_pre/post_update_vma around every change)::

        012345
        AAAAAA -> AABBCC (mprotect 2-3 RO) -> AAAAAA (back to RW)
    """
    anon(p, 0, 6)
    p.write(pg(0), 6 * PS)
    av = vma_at(p, 0).anon_vma

    def keys():
        return sorted((rel(s), rel(e)) for s, e, _ in av.rb_root.items())

    assert keys() == [(0, 5)]
    p.mprotect(pg(2), 2 * PS, PROT_READ)
    assert keys() == [(0, 1), (2, 3), (4, 5)]
    f = p.folio_at(pg(3))
    assert rmap_candidates(f) == [(vma_at(p, 3), pg(3))]
    p.mprotect(pg(2), 2 * PS, RW)
    assert keys() == [(0, 5)] and layout(p) == "AAAAAA"
