"""Reverse mapping: from a folio to every (VMA, address) that maps it.

Mirrors mm/rmap.c (v6.18): folio_add_new_anon_rmap() / __folio_set_anon(),
folio_add_file_rmap_pte(), folio_remove_rmap_pte(), folio_move_anon_rmap(),
rmap_walk_anon(), rmap_walk_file(); mm/util.c: folio_anon_vma(); mm/memory.c:
vm_normal_page().  A walk yields candidates from the interval tree, then checks the page
table (page_vma_mapped_walk()) as the kernel's callbacks do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..uapi import PAGE_SHIFT
from .file import AddressSpace
from .folio import HPAGE_PMD_NR, HPAGE_PMD_ORDER, HUGE_ZERO_PFN, ZERO_PFN
from .vma import linear_page_index, vma_address
from .vmflags import VM_MIXEDMAP, VM_PFNMAP, is_cow_mapping

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .anon_vma import AnonVMA
    from .folio import Folio
    from .mm import MM, PTE
    from .vma import VMA

__all__ = ["folio_anon_vma", "folio_add_new_anon_rmap", "folio_add_file_rmap",
           "folio_remove_rmap_pte", "folio_move_anon_rmap", "rmap_walk", "rmap_candidates",
           "page_vma_mapped", "vm_normal_page", "folio_add_anon_rmap_ptes",
           "folio_add_anon_rmap_pmd", "folio_remove_rmap_ptes", "folio_remove_rmap_pmd",
           "rmap_walk_pages"]


def folio_anon_vma(folio: Folio) -> AnonVMA | None:
    """The anon_vma of an anonymous folio, else None.  Model of mm/util.c: folio_anon_vma(). O(1)."""
    return folio.mapping if folio.anon else None


def folio_add_new_anon_rmap(folio: Folio, vma: VMA, addr: int) -> None:
    """Make ``folio`` a new exclusive anon folio of ``vma`` mapped from ``addr`` on.

    Model of mm/rmap.c: folio_add_new_anon_rmap(RMAP_EXCLUSIVE) -> __folio_set_anon():
    ``mapping`` = the VMA's own anon_vma, ``index`` = linear_page_index(vma, addr) (the
    head page's; ``addr`` is the folio's aligned start).  An order-0 or mTHP folio is
    mapped by PTEs: every page gets mapcount 1 and PageAnonExclusive, ``_large_mapcount``
    = nr; a PMD-order folio is mapped by one PMD: ``_entire_mapcount`` 1,
    ``_large_mapcount`` 1, PageAnonExclusive on the head page only.  MM slot 0 = this mm.
    O(nr_pages).
    """
    folio.mapping = vma.anon_vma
    folio.index = linear_page_index(vma, addr)
    folio.anon_exclusive = True
    if not folio.order:
        folio.mapcount = 1
        return
    nr = folio.nr_pages
    if nr == HPAGE_PMD_NR:
        folio.entire_mapcount = folio.mapcount = 1
        folio._excl[0] = True
    else:
        folio.mapcount = folio.nr_pages_mapped = nr
        folio._pmc[:] = [1] * nr
        folio._excl[:] = [True] * nr
    folio.mm_ids[0], folio.mm_counts[0] = vma.vm_mm, folio.mapcount
    st = vma.vm_mm.kernel.thp_stats[folio.order]
    st["nr_anon"] += 1


def _large_add(folio, mm, n):
    """folio_add_return_large_mapcount(): the total and the two MM-ID slots. O(1)."""
    folio.mapcount += n
    ids, cnt = folio.mm_ids, folio.mm_counts
    if ids[0] is mm:
        cnt[0] += n
    elif ids[1] is mm:
        cnt[1] += n
    elif ids[0] is None:
        ids[0], cnt[0] = mm, n
        if folio.mapcount != n:
            folio.maybe_shared = True
    elif ids[1] is None:
        ids[1], cnt[1] = mm, n
        folio.maybe_shared = True
    # else two other mms own both slots: the shared bit is already set


def _large_sub(folio, mm, n):
    """folio_sub_return_large_mapcount(): see include/linux/rmap.h (CONFIG_MM_ID). O(1)."""
    folio.mapcount -= n
    ids, cnt = folio.mm_ids, folio.mm_counts
    for s in (0, 1):
        if ids[s] is mm:
            cnt[s] -= n
            if cnt[s] > 0:
                return
            ids[s], cnt[s] = None, 0
            break
    # This mm's slot just emptied, or it never had one: recompute the bit.
    total = folio.mapcount
    folio.maybe_shared = not (cnt[0] == total or cnt[1] == total)


def folio_add_anon_rmap_ptes(folio: Folio, i: int, nr: int, mm: MM, exclusive: bool) -> None:
    """``nr`` more PTEs map pages ``i..i+nr-1`` of a large anon folio.

    Model of mm/rmap.c: folio_add_anon_rmap_ptes() -> __folio_add_rmap(RMAP_LEVEL_PTE)
    (v6.18): each page's mapcount +1 (pages going 0 -> 1 add to ``_nr_pages_mapped``),
    ``_large_mapcount`` += nr for this mm; with RMAP_EXCLUSIVE each page becomes
    PageAnonExclusive. O(nr).
    """
    pmc, excl = folio._pmc, folio._excl
    for j in range(i, i + nr):
        if pmc[j] == 0:
            folio.nr_pages_mapped += 1
        pmc[j] += 1
        if exclusive:
            excl[j] = True
    _large_add(folio, mm, nr)


def folio_add_anon_rmap_pmd(folio: Folio, mm: MM) -> None:
    """One more PMD maps a PMD-order folio.  Model of __folio_add_rmap(RMAP_LEVEL_PMD). O(1)."""
    folio.entire_mapcount += 1
    _large_add(folio, mm, 1)


def _deferred_split_folio(folio):
    """mm/huge_memory.c: deferred_split_folio(folio, partially_mapped=true): flag the folio
    and count it once (order >= 2 only).  The shrinker that would split it later is not
    modelled: the folio stays large. O(1)."""
    if folio.order < 2 or folio.partially_mapped:
        return
    k = folio.physmem.kernel
    folio.partially_mapped = True
    st = k.thp_stats[folio.order]
    st["split_deferred"] += 1
    st["nr_anon_partially_mapped"] += 1
    if folio.order == HPAGE_PMD_ORDER:
        k.vmstat["thp_deferred_split_page"] += 1


def _maybe_free(kernel, folio):
    if folio.mapcount == 0 and not folio.in_page_cache:
        kernel.physmem.free_folio(folio)


def folio_remove_rmap_ptes(folio: Folio, i: int, nr: int, mm: MM) -> None:
    """``nr`` PTEs mapping pages ``i..i+nr-1`` of ``folio`` go away (one batch).

    Model of mm/rmap.c: folio_remove_rmap_ptes() -> __folio_remove_rmap(RMAP_LEVEL_PTE)
    (v6.18): per-page mapcounts and ``_large_mapcount`` drop; if some page lost its last
    PTE, other pages are still PTE-mapped and no PMD maps the folio, an anon folio is
    "partially mapped" and goes to deferred_split_folio().  The folio is freed with its
    last mapping (each mapping holds one reference).  O(nr).
    """
    kernel = mm.kernel
    if not folio.order:
        folio.mapcount -= nr
        _maybe_free(kernel, folio)
        return
    pmc = folio._pmc
    last = 0
    for j in range(i, i + nr):
        pmc[j] -= 1
        if pmc[j] == 0:
            last += 1
    folio.nr_pages_mapped -= last
    _large_sub(folio, mm, nr)
    if last and folio.nr_pages_mapped and not folio.entire_mapcount and folio.anon:
        _deferred_split_folio(folio)
    _maybe_free(kernel, folio)


def folio_remove_rmap_pmd(folio: Folio, mm: MM) -> None:
    """One PMD mapping of ``folio`` goes away.

    Model of mm/rmap.c: folio_remove_rmap_pmd() -> __folio_remove_rmap(RMAP_LEVEL_PMD):
    when the last PMD goes while only some pages are PTE-mapped, the folio is partially
    mapped (deferred split). O(1).
    """
    kernel = mm.kernel
    folio.entire_mapcount -= 1
    _large_sub(folio, mm, 1)
    if not folio.entire_mapcount and 0 < folio.nr_pages_mapped < folio.nr_pages \
            and folio.anon:
        _deferred_split_folio(folio)
    _maybe_free(kernel, folio)


def folio_add_file_rmap(folio: Folio) -> None:
    """One more PTE maps a page-cache folio.  Model of folio_add_file_rmap_pte(). O(1)."""
    folio.mapcount += 1


def folio_remove_rmap_pte(folio: Folio, vma: VMA) -> None:
    """One PTE of ``vma`` maps an order-0 ``folio`` no more; an anon folio mapped nowhere is
    freed.

    Model of mm/rmap.c: folio_remove_rmap_pte(folio, page, vma) (v6.18) with the final
    folio_put() of the unmap path, for an order-0 folio (``page`` is the folio itself);
    pages of large folios go through folio_remove_rmap_ptes().  O(1).
    """
    folio.mapcount -= 1
    if folio.mapcount == 0 and not folio.in_page_cache:
        vma.vm_mm.kernel.physmem.free_folio(folio)


def folio_move_anon_rmap(folio: Folio, vma: VMA) -> None:
    """Re-home an exclusive anon folio into ``vma``'s own anon_vma (index unchanged).

    Model of mm/rmap.c: folio_move_anon_rmap(). O(1).
    """
    folio.mapping = vma.anon_vma


def vm_normal_page(vma: VMA, addr: int, pte: PTE) -> Folio | None:
    """The folio behind a PTE, or None for the zero page and raw remapped PFNs.

    Model of mm/memory.c: vm_normal_page() as on an architecture *without* pte_special
    (the rule the book explains): in a VM_PFNMAP VMA a PFN equal to
    ``vm_pgoff + ((addr - vm_start) >> PAGE_SHIFT)`` is the original remapped frame;
    any other PFN in a COW mapping is a normal (CoWed anon) page.  On x86-64 the kernel
    tests pte_special() instead; both give the same answer as long as pgoff stays linear
    (split and mremap keep it so) and no RAM page has a device frame's PFN (the model's
    frame allocator never hands those out: PhysMem.reserve()).  O(1).
    """
    if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
        if vma.vm_flags & VM_MIXEDMAP:
            return None if pte.pfn == ZERO_PFN else pte.folio
        off = (addr - vma.vm_start) >> PAGE_SHIFT
        if pte.pfn == vma.vm_pgoff + off:
            return None
        if not is_cow_mapping(vma.vm_flags):
            return None
    if pte.pfn == ZERO_PFN or HUGE_ZERO_PFN <= pte.pfn < HUGE_ZERO_PFN + HPAGE_PMD_NR:
        return None
    return pte.folio


def rmap_candidates(folio: Folio) -> list[tuple[VMA, int]]:
    """``(vma, addr)`` for every VMA the interval tree yields for ``folio->index``.

    Model of rmap_walk_anon() / __rmap_walk_file() before the PTE check: an anon folio
    walks ``folio_anon_vma(folio)->rb_root``, a file folio its mapping's ``i_mmap``.
    O(log n + k).
    """
    m = folio.mapping
    idx, last = folio.index, folio.index + folio.nr_pages - 1
    if folio.anon:
        vmas = (avc.vma for avc in m.rb_root.query(idx, last))
    elif isinstance(m, AddressSpace):
        vmas = m.i_mmap.query(idx, last)
    else:
        return []
    out = []
    for vma in vmas:
        addr = vma_address(vma, idx, folio.nr_pages)
        if addr < 0:
            raise AssertionError(f"rmap_walk: {vma.id} in the tree but vma_address() "
                                 f"is -EFAULT for index {idx:#x}")
        out.append((vma, addr))
    return out


def page_vma_mapped(vma: VMA, addr: int, folio: Folio) -> bool:
    """Does ``vma``'s PTE at ``addr`` map ``folio``?

    Model of mm/page_vma_mapped.c: page_vma_mapped_walk() for an order-0 folio: the check
    every rmap_walk() callback makes on a candidate. O(log P).
    """
    pte = vma.vm_mm.pgtable.get(addr)
    return pte is not None and pte.folio is folio

def rmap_walk_pages(folio: Folio) -> list[tuple[VMA, int, str, int]]:
    """``(vma, addr, level, i)`` for every PTE or PMD mapping any page of ``folio``.

    Model of mm/rmap.c: rmap_walk_anon() / rmap_walk_file() over ``[index, index +
    nr_pages - 1]`` and mm/page_vma_mapped.c: page_vma_mapped_walk(): from
    vma_address() to vma_address_end() (clamped to the VMA), each PMD mapping the folio
    (``level`` "pmd", ``i`` 0, ``addr`` the PMD's start) or each PTE whose PFN is a page
    of the folio (``level`` "pte", ``i`` its page).  O(log n + k + mappings).
    """
    out = []
    nr = folio.nr_pages
    for vma, addr in rmap_candidates(folio):
        pt = vma.vm_mm.pgtable
        end = min(vma.vm_end, addr + (nr << PAGE_SHIFT))
        for a in pt.irange(addr, end - 1):
            pte = pt[a]
            if pte.folio is not folio:
                continue
            i = pte.pfn - folio.pfn
            if pte.pmd is not None:
                if a == pte.pmd.haddr:
                    out.append((vma, a, "pmd", 0))
            else:
                out.append((vma, a, "pte", i))
    return out


def rmap_walk(folio: Folio) -> list[tuple[VMA, int]]:
    """``(vma, addr)`` for every mapping of ``folio`` (each PTE, each PMD).

    Model of mm/rmap.c: rmap_walk() with a page_vma_mapped_walk() check. O(log n + k)
    for an order-0 folio; see rmap_walk_pages() for the level and page of each mapping.
    """
    if folio.order:
        return [(vma, a) for vma, a, _, _ in rmap_walk_pages(folio)]
    return [(vma, addr) for vma, addr in rmap_candidates(folio)
            if page_vma_mapped(vma, addr, folio)]
