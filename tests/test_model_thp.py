"""Large folios in the model: the THP settings, the fault-time order, PMD mappings, the huge
zero folio, mapcounts as 6.18 keeps them, PMD splits that keep the folio large, mremap,
fork, CoW, MADV_COLLAPSE and the rmap walk over ``[index, index + nr_pages - 1]``.

(v6.18: mm/huge_memory.c, mm/memory.c: alloc_anon_folio(), mm/rmap.c, mm/khugepaged.c:
madvise_collapse(), include/linux/huge_mm.h.)  Every syscall is followed by k.validate()
(the ``Checked`` process of tests/modelhelpers.py).  The same cases run against the live
kernel as the shipped ``thp-*`` and ``mthp-*`` scenarios (tests/test_differential.py).
"""

import errno

import pytest

from modelhelpers import PS, RW, Checked, anon, assert_unchanged_after, pg, vma_at
from rmapkit import Kernel
from rmapkit.model.rmap import rmap_walk_pages
from rmapkit.model.vmflags import VM_HUGEPAGE, VM_NOHUGEPAGE, smaps_vmflags
from rmapkit.uapi import (MADV_COLLAPSE, MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE,
                          MADV_NOHUGEPAGE, MREMAP_FIXED, MREMAP_MAYMOVE, PROT_READ,
                          THP_DEFAULTS)

BLOCK = 512                         # pages per PMD (2 MiB)
MOVE = MREMAP_MAYMOVE | MREMAP_FIXED


def kp(**thp):
    """A Kernel with THP settings (keyword names use _ for - and / is __) and a process."""
    k = Kernel(thp={key.replace("__", "/").replace("_", "-") if key.startswith("hugepages")
                    else key: v for key, v in thp.items()})
    return k, Checked(k.spawn())


def hinted(p, first, npages):
    anon(p, first, npages)
    p.madvise(pg(first), npages * PS, MADV_HUGEPAGE)


# -- settings ---------------------------------------------------------------------------
def test_settings_default_to_this_machine_and_mirror_sysfs_names():
    k = Kernel()
    assert k.thp["enabled"] == "madvise" and k.thp["use_zero_page"] == "1"
    assert k.thp["hugepages-2048kB/enabled"] == "inherit"
    assert all(k.thp[f"hugepages-{s}kB/enabled"] == "never"
               for s in (16, 32, 64, 128, 256, 512, 1024))
    assert "hugepages-8kB/enabled" not in k.thp            # order 1 is not an anon order
    assert dict(k.thp.items()) == THP_DEFAULTS
    k.thp["hugepages-64kB/enabled"] = "madvise"
    assert k.thp.changed() == {"hugepages-64kB/enabled": "madvise"}


@pytest.mark.parametrize("key, value", [("enabled", "sometimes"), ("use_zero_page", "2"),
                                        ("hugepages-64kB/enabled", "madvise "),
                                        ("hugepages-64kB/enabled", "yes"),
                                        ("khugepaged/max_ptes_none", "512")])
def test_a_bad_value_is_einval_and_changes_nothing(key, value):
    k = Kernel()
    if value.strip() in ("madvise",):
        k.thp[key] = value                                 # sysfs strips the newline too
        return
    before = dict(k.thp.items())
    with pytest.raises(OSError) as e:
        k.thp[key] = value
    assert e.value.errno == errno.EINVAL
    assert dict(k.thp.items()) == before
    with pytest.raises(OSError):
        Kernel(thp={key: value})


def test_an_unknown_file_is_a_key_error():
    with pytest.raises(KeyError):
        Kernel().thp["hugepages-8kB/enabled"] = "madvise"


def test_madvise_flags_and_their_smaps_mnemonics(k, p):
    assert (VM_HUGEPAGE, VM_NOHUGEPAGE) == (0x20000000, 0x40000000)
    assert (MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLLAPSE) == (14, 15, 25)
    anon(p, 0, 3)
    p.madvise(pg(1), PS, MADV_HUGEPAGE)
    p.madvise(pg(2), PS, MADV_NOHUGEPAGE)
    flags = [smaps_vmflags(v.vm_flags) for v in p.mm.vmas]
    assert "hg" in flags[1] and "nh" not in flags[1] and "nh" in flags[2]
    p.madvise(pg(2), PS, MADV_HUGEPAGE)                     # clears VM_NOHUGEPAGE, merges
    assert len(p.mm.vmas) == 2 and p.mm.vmas[1].vm_flags & VM_HUGEPAGE


# -- the PMD fault ----------------------------------------------------------------------
def test_a_write_in_a_hinted_block_maps_one_pmd_thp(k, p):
    hinted(p, 0, BLOCK)
    p.write(pg(5))
    page = p.page_at(pg(5))
    f = page.folio
    assert (f.order, f.nr_pages, f.pfn % BLOCK) == (9, 512, 0)
    assert f.index == vma_at(p, 0).vm_pgoff and page.index == f.index + 5
    assert (f.entire_mapcount, f.large_mapcount, page.mapcount) == (1, 1, 0)
    assert page.precise_mapcount == 1
    assert [pg_.anon_exclusive for pg_ in f.pages[:3]] == [True, False, False]
    assert k.thp_stats[9]["anon_fault_alloc"] == 1 and k.vmstat["thp_fault_alloc"] == 1
    assert list(p.mm.pmds) == [pg(0)]


def test_no_hint_no_thp_and_a_block_sticking_out_falls_back(k, p):
    anon(p, 0, BLOCK)
    p.write(pg(0))
    assert p.page_at(pg(0)).folio.order == 0
    hinted(p, BLOCK + 1, BLOCK)                             # no whole aligned block
    p.write(pg(BLOCK + 3))
    assert p.page_at(pg(BLOCK + 3)).folio.order == 0


def test_a_read_maps_the_huge_zero_folio_and_a_write_replaces_it(k, p):
    hinted(p, 0, BLOCK)
    p.read(pg(7))
    z = p.page_at(pg(7))
    assert z.folio.is_zero_page and z.folio.is_huge_zero and z.folio.order == 9
    assert vma_at(p, 0).anon_vma is not None                # vmf_anon_prepare() on a read
    assert z.folio.mapcount == 0
    p.write(pg(7))
    f = p.page_at(pg(7)).folio
    assert f.order == 9 and not f.is_zero_page and list(p.mm.pmds) == [pg(0)]


def test_use_zero_page_0_allocates_on_a_read():
    k, p = kp(use_zero_page="0")
    hinted(p, 0, BLOCK)
    p.read(pg(1))
    assert p.page_at(pg(1)).folio.order == 9


def test_a_pte_table_in_the_block_rules_out_the_pmd(k, p):
    anon(p, 0, 2 * BLOCK)
    p.write(pg(0))                                          # 4 KiB page and a PTE table
    p.madvise(pg(0), 2 * BLOCK * PS, MADV_HUGEPAGE)
    p.write(pg(1))
    p.write(pg(BLOCK))
    assert p.page_at(pg(1)).folio.order == 0
    assert p.page_at(pg(BLOCK)).folio.order == 9
    p.madvise(pg(0), BLOCK * PS, MADV_DONTNEED)             # whole block: table freed
    p.write(pg(1))
    assert p.page_at(pg(1)).folio.order == 9


def test_allocation_failure_falls_back_and_counts(k, p):
    hinted(p, 0, BLOCK)
    k.thp_fail_orders.add(9)
    p.write(pg(0))
    assert p.page_at(pg(0)).folio.order == 0
    assert k.thp_stats[9]["anon_fault_fallback"] == 1 and k.vmstat["thp_fault_fallback"] == 1


# -- mTHP -------------------------------------------------------------------------------
def test_mthp_takes_the_largest_order_whose_block_fits_and_is_empty():
    k, p = kp(**{"hugepages-16kB/enabled": "madvise", "hugepages-32kB/enabled": "madvise",
                 "hugepages-128kB/enabled": "madvise"})
    hinted(p, 0, 40)
    p.write(pg(0))
    p.write(pg(33))
    assert p.page_at(pg(0)).folio.order == 5                # 128 KiB, pages 0-31
    f = p.page_at(pg(33)).folio
    assert (f.order, f.index - vma_at(p, 0).vm_pgoff) == (3, 32)
    assert [p.page_at(pg(i)).mapcount for i in (32, 33, 39)] == [1, 1, 1]
    assert all(pg_.anon_exclusive for pg_ in f.pages)
    assert f.large_mapcount == 8 and k.thp_stats[3]["anon_fault_alloc"] == 1


def test_mthp_read_maps_the_small_zero_page_and_the_write_after_it_is_order_0():
    k, p = kp(**{"hugepages-64kB/enabled": "madvise"})
    hinted(p, 0, 32)
    p.read(pg(20))
    assert p.page_at(pg(20)).folio.order == 0 and p.page_at(pg(20)).folio.is_zero_page
    p.write(pg(20))
    p.write(pg(21))                                         # block not pte_none: order 0
    assert p.page_at(pg(20)).folio.order == p.page_at(pg(21)).folio.order == 0
    p.write(pg(0))
    assert p.page_at(pg(0)).folio.order == 4


def test_mthp_mremap_misaligned_keeps_folio_index_and_pgoff_then_fork_cow():
    """The issue's example: 64 KiB folio, mremap to a misaligned address, fork, a write."""
    k, p = kp(**{"hugepages-64kB/enabled": "madvise"})
    hinted(p, 0, 32)
    p.write(pg(5))
    f = p.page_at(pg(5)).folio
    idx, pgoff = f.index, vma_at(p, 0).vm_pgoff
    p.mremap(pg(0), 32 * PS, 32 * PS, MOVE, pg(33))
    assert p.page_at(pg(38)).folio is f and f.index == idx and f.order == 4
    assert vma_at(p, 33).vm_pgoff == pgoff
    assert p.page_at(pg(38)).index == f.index + 5
    c = p.fork()
    assert f.large_mapcount == 32 and not p.page_at(pg(38)).anon_exclusive
    p.write(pg(38))
    assert p.page_at(pg(38)).folio.order == 0
    assert f.large_mapcount == 31 and c.page_at(pg(38)).mapcount == 1
    assert not f.partially_mapped                           # the child maps every page


# -- splitting the PMD, never the folio -------------------------------------------------
def test_partial_munmap_splits_the_pmd_and_defers_the_folio_split(k, p):
    hinted(p, 0, BLOCK)
    p.write(pg(0))
    f = p.page_at(pg(0)).folio
    p.munmap(pg(100), PS)
    assert not p.mm.pmds and f.order == 9 and f.entire_mapcount == 0
    assert f.large_mapcount == 511 and f.partially_mapped
    assert all(p.page_at(pg(i)).anon_exclusive for i in (0, 99, 101, 511))
    assert k.vmstat["thp_split_pmd"] == 1
    assert (k.thp_stats[9]["split_deferred"], k.thp_stats[9]["nr_anon_partially_mapped"]) \
        == (1, 1)
    p.munmap(pg(300), PS)
    assert k.thp_stats[9]["split_deferred"] == 1            # counted once
    p.munmap(pg(0), BLOCK * PS)
    assert (k.thp_stats[9]["nr_anon"], k.thp_stats[9]["nr_anon_partially_mapped"]) == (0, 0)


def test_mprotect_whole_pmd_keeps_it_part_splits(k, p):
    hinted(p, 0, 2 * BLOCK)
    p.write(pg(0))
    p.write(pg(BLOCK))
    p.mprotect(pg(0), BLOCK * PS, PROT_READ)
    p.mprotect(pg(BLOCK), 8 * PS, PROT_READ)
    assert list(p.mm.pmds) == [pg(0)] and not p.mm.pgtable[pg(0)].writable
    assert p.page_at(pg(BLOCK)).folio.order == 9 and p.page_at(pg(BLOCK)).mapcount == 1


def test_vma_split_inside_a_pmd_keeps_one_folio_found_through_three_vmas(k, p):
    hinted(p, 0, BLOCK)
    p.write(pg(0))
    f = p.page_at(pg(0)).folio
    p.madvise(pg(10), PS, MADV_NOHUGEPAGE)
    assert len(p.mm.vmas) == 3 and not p.mm.pmds
    walk = rmap_walk_pages(f)
    assert len(walk) == 512 and {v.id for v, *_ in walk} == {v.id for v in p.mm.vmas}
    assert all(level == "pte" for _, _, level, _ in walk)


def test_mremap_aligned_keeps_the_pmd_misaligned_splits_it(k, p):
    hinted(p, 0, 2 * BLOCK)
    p.write(pg(0))
    p.write(pg(BLOCK))
    a, b = p.page_at(pg(0)).folio, p.page_at(pg(BLOCK)).folio
    p.mremap(pg(0), BLOCK * PS, BLOCK * PS, MOVE, pg(3 * BLOCK))
    assert pg(3 * BLOCK) in p.mm.pmds and p.page_at(pg(3 * BLOCK)).folio is a
    assert a.entire_mapcount == 1 and k.vmstat["thp_split_pmd"] == 0
    p.mremap(pg(BLOCK), BLOCK * PS, BLOCK * PS, MOVE, pg(5 * BLOCK + 1))
    assert p.page_at(pg(5 * BLOCK + 1)).folio is b and b.entire_mapcount == 0
    assert b.large_mapcount == 512 and not b.partially_mapped


# -- fork and CoW -----------------------------------------------------------------------
def test_fork_shares_the_pmd_and_a_write_copies_one_page(k, p):
    hinted(p, 0, BLOCK)
    p.write(pg(0))
    f = p.page_at(pg(0)).folio
    c = p.fork()
    assert (f.entire_mapcount, f.large_mapcount, f.maybe_shared) == (2, 2, True)
    assert not f.page(0).anon_exclusive and p.page_at(pg(3)).precise_mapcount == 2
    p.write(pg(5))
    assert p.page_at(pg(5)).folio.order == 0 and pg(0) not in p.mm.pmds
    assert pg(0) in c.mm.pmds
    assert (f.entire_mapcount, f.large_mapcount) == (1, 512)
    assert not f.partially_mapped
    c.exit()
    p.write(pg(6))                                          # now exclusive: reused in place
    assert p.page_at(pg(6)).folio is f and p.page_at(pg(6)).anon_exclusive


def test_pmd_cow_with_refcount_1_reuses_the_whole_pmd(k, p):
    hinted(p, 0, BLOCK)
    p.write(pg(0))
    c = p.fork()
    c.exit()
    p.write(pg(9))
    f = p.page_at(pg(9)).folio
    assert pg(0) in p.mm.pmds and f.page(0).anon_exclusive and p.mm.pgtable[pg(9)].writable


# -- MADV_COLLAPSE ----------------------------------------------------------------------
def test_collapse_errnos_and_success():
    k, p = kp(**{"hugepages-2048kB/enabled": "never"})
    anon(p, 0, 3 * BLOCK)
    e = assert_unchanged_after(k, p.madvise, pg(0), BLOCK * PS, MADV_COLLAPSE)
    assert isinstance(e, OSError) and e.errno == errno.EINVAL   # no anon_vma yet
    p.write(pg(3), 4 * PS)
    old = p.page_at(pg(3)).folio
    p.madvise(pg(0), BLOCK * PS, MADV_COLLAPSE)
    new = p.page_at(pg(3)).folio
    assert new is not old and new.order == 9 and list(p.mm.pmds) == [pg(0)]
    assert new.index == vma_at(p, 0).vm_pgoff and k.vmstat["thp_collapse_alloc"] == 1
    with pytest.raises(OSError) as e:
        p.madvise(pg(BLOCK), BLOCK * PS, MADV_COLLAPSE)     # no page table there
    assert e.value.errno == errno.EINVAL
    p.madvise(pg(2 * BLOCK), BLOCK * PS, MADV_NOHUGEPAGE)
    p.write(pg(2 * BLOCK))
    with pytest.raises(OSError) as e:
        p.madvise(pg(2 * BLOCK), BLOCK * PS, MADV_COLLAPSE)
    assert e.value.errno == errno.EINVAL


# -- what is not modelled ---------------------------------------------------------------
def test_madvise_free_of_part_of_a_large_folio_is_not_modelled():
    k, p = kp(**{"hugepages-64kB/enabled": "madvise"})
    hinted(p, 0, 16)
    p.write(pg(0))
    with pytest.raises(NotImplementedError):
        p.madvise(pg(2), PS, MADV_FREE)
    p.madvise(pg(0), 16 * PS, MADV_FREE)                    # the whole folio: lazyfree


def test_shmem_thp_is_not_modelled():
    from rmapkit.uapi import MAP_ANONYMOUS, MAP_SHARED
    k, p = kp(shmem_enabled="always")
    a = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    with pytest.raises(NotImplementedError):
        p.write(a)


# -- random runs: validate() after every step -------------------------------------------
@pytest.mark.parametrize("seed", range(40))
def test_random_thp_scenarios_keep_every_invariant(seed):
    from rmapkit.scenarios import run_model
    from rmapkit.scenarios.generate import random_thp_scenario
    res = run_model(random_thp_scenario(1000 + seed), strict=False, validate=True,
                    steps=False)
    assert res.error is None, res.error


def test_page_at_and_folio_at_agree_for_order_0(k, p):
    anon(p, 0, 2)
    p.write(pg(0))
    assert p.page_at(pg(0)).folio is p.folio_at(pg(0))
    assert p.page_at(pg(0)).index == p.folio_at(pg(0)).index
    assert p.page_at(pg(1)) is None                         # nothing mapped at page 1
