"""Page faults, copy-on-write and zapping: how pages get in and out of page tables.

Mirrors mm/memory.c (v6.18): handle_mm_fault() -> handle_pte_fault(),
do_anonymous_page(), do_read_fault(), do_cow_fault(), do_shared_fault(), do_wp_page()
(wp_page_reuse(), wp_can_reuse_anon_folio(), wp_page_copy(), wp_page_shared()),
zap_page_range_single() / zap_vma_pages() -> zap_pmd_range() / zap_pte_range(); and
arch/x86/mm/fault.c: access_error().  As in the kernel, the helpers take the VMA (its
``vm_mm`` is the mm).  Anonymous faults may allocate large folios (alloc_anon_folio() for
mTHP, rmapkit.model.thp for PMD THPs); file and CoW faults allocate order 0.
Not modelled: swap, userfaultfd, NUMA hinting, mlock accounting, file/shmem THP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BusError, OutOfMemory, SegmentationFault
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .anon_vma import anon_vma_prepare
from .filemap import filemap_add_folio
from .folio import HPAGE_PMD_ORDER
from .mm import PMD_SHIFT, PMD_SIZE, PTE
from .rmap import (folio_add_file_rmap, folio_add_new_anon_rmap, folio_move_anon_rmap,
                   folio_remove_rmap_pte, folio_remove_rmap_ptes, vm_normal_page)
from .thp import (TVA_PAGEFAULT, _remove_batches, do_huge_pmd_anonymous_page,
                  do_huge_pmd_wp_page, split_huge_pmds_partly_in, thp_vma_allowable_orders,
                  thp_vma_suitable_order, zap_huge_pmd)
from .vma import linear_page_index
from .vmflags import VM_EXEC, VM_HUGEPAGE, VM_READ, VM_SHARED, VM_WRITE

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .file import AddressSpace
    from .folio import Folio
    from .kernel import Kernel
    from .mm import MM
    from .vma import VMA

__all__ = ["handle_mm_fault", "zap_page_range_single", "zap_vma_pages", "touch",
           "page_cache_folio", "FAULT_FLAG_WRITE"]

FAULT_FLAG_WRITE = 1 << 0        # include/linux/mm_types.h: enum fault_flag


def page_cache_folio(kernel: Kernel, mapping: AddressSpace, index: int) -> Folio:
    """The page-cache folio at ``index`` for a fault, read in (or allocated) if absent.

    Model of mm/shmem.c: shmem_fault() -> shmem_get_folio_gfp(SGP_CACHE) (v6.18), which
    allocates a page for a hole and zeroes and marks uptodate a page fallocate() left
    !uptodate, and of mm/filemap.c: filemap_fault() on a disk file system, which reads the
    one page in (what a VM_RAND_READ mapping gets: readahead is not modelled). O(log c).
    """
    folio = mapping.pages.get(index)
    if folio is None:
        folio = filemap_add_folio(kernel, mapping, index)
    folio.uptodate = True
    return folio


def _new_anon_page(vma, addr):
    """Allocate an exclusive anon folio for ``addr`` in ``vma`` (after anon_vma_prepare)."""
    anon_vma_prepare(vma)
    folio = vma.vm_mm.kernel.physmem.alloc_folio()
    folio_add_new_anon_rmap(folio, vma, addr)
    return folio


_MTHP_MASK = (1 << HPAGE_PMD_ORDER) - 1     # BIT(PMD_ORDER) - 1: alloc_anon_folio()'s orders
_PMD_MASK = 1 << HPAGE_PMD_ORDER


def alloc_anon_folio(mm: MM, vma: VMA, addr: int) -> tuple[int, int]:
    """The order of the folio a write fault at ``addr`` gets: the highest allowed mTHP order
    whose naturally aligned block lies inside the VMA and has no PTE at all, else 0.

    Model of mm/memory.c: alloc_anon_folio() (v6.18): orders =
    thp_vma_allowable_orders(TVA_PAGEFAULT, BIT(PMD_ORDER) - 1) (so never the PMD order)
    filtered by thp_vma_suitable_orders(); from the highest, the first whose block is
    pte_range_none(); allocation is then tried downwards from it (each failure counts
    ``anon_fault_fallback``), order 0 last.  Returns ``(order, block start)``.
    O(orders log P).
    """
    k = mm.kernel
    thp = k.thp
    quick = thp.orders_hinted if vma.vm_flags & VM_HUGEPAGE else thp.orders_unhinted
    if not quick & _MTHP_MASK:
        return 0, addr
    orders = thp_vma_allowable_orders(vma, vma.vm_flags, TVA_PAGEFAULT, _MTHP_MASK)
    pt = mm.pgtable
    start = None
    for o in range(HPAGE_PMD_ORDER - 1, 1, -1):
        if not orders >> o & 1 or not thp_vma_suitable_order(vma, addr, o):
            continue
        size = PAGE_SIZE << o
        base = addr & ~(size - 1)
        if start is None and next(pt.irange(base, base + size - 1), None) is not None:
            continue                                     # pte_range_none() fails
        if start is None:
            start = o
        if o in k.thp_fail_orders:
            k.thp_stats[o]["anon_fault_fallback"] += 1
            continue
        return o, base
    return 0, addr


def do_anonymous_page(vma: VMA, addr: int, write: bool) -> None:
    """First touch of private anon memory: the zero page on read, a new folio on write.

    Model of mm/memory.c: do_anonymous_page() (v6.18): pte_alloc() first (the 2 MiB
    block now has a PTE table); a read maps the shared zero page at ``addr`` only; a
    write maps a new folio of the order alloc_anon_folio() picks, every page at once
    (set_ptes()), writable iff VM_WRITE.  O(log n + nr_pages log P).
    """
    mm = vma.vm_mm
    if vma.vm_flags & VM_SHARED:
        raise BusError(addr, "shared VMA without vm_ops")
    mm.pte_tables.add(addr >> PMD_SHIFT)
    if not write:
        z = mm.kernel.physmem.zero_folio
        mm.pgtable[addr] = PTE(z, z.pfn, False, special=True)
        return
    thp = mm.kernel.thp                       # the common case decides without a call
    if (thp.orders_hinted if vma.vm_flags & VM_HUGEPAGE else thp.orders_unhinted) \
            & _MTHP_MASK:
        order, base = alloc_anon_folio(mm, vma, addr)
    else:
        order = 0
    if not order:
        folio = _new_anon_page(vma, addr)
        mm.pgtable[addr] = PTE(folio, folio.pfn, bool(vma.vm_flags & VM_WRITE))
        return
    anon_vma_prepare(vma)
    k = mm.kernel
    folio = k.physmem.alloc_folio(order)
    folio_add_new_anon_rmap(folio, vma, base)
    k.thp_stats[order]["anon_fault_alloc"] += 1
    w = bool(vma.vm_flags & VM_WRITE)
    pt = mm.pgtable
    for i, a in enumerate(range(base, base + (folio.nr_pages << PAGE_SHIFT), PAGE_SIZE)):
        pt[a] = PTE(folio, folio.pfn + i, w)


def do_fault(vma: VMA, addr: int, write: bool) -> None:
    """First touch of a file, shmem or private-file page.

    Model of mm/memory.c: do_read_fault() / do_cow_fault() / do_shared_fault() (v6.18):
    beyond i_size is SIGBUS; a private write copies the page-cache page into a new anon
    folio whose index is the file offset.  O(log n).
    """
    mm = vma.vm_mm
    inode = vma.vm_file.inode
    if inode.kind == "shmem" and mm.kernel.thp.shmem_any:
        raise NotImplementedError("shmem THP (shmem_enabled other than never) is not "
                                  "modelled")
    mm.pte_tables.add(addr >> PMD_SHIFT)
    pgoff = linear_page_index(vma, addr)
    if write and not vma.vm_flags & VM_SHARED:
        # do_cow_fault() calls vmf_anon_prepare() before __do_fault() sees i_size: even a
        # write fault that ends in SIGBUS leaves the VMA an anon_vma.
        anon_vma_prepare(vma)
    kernel = mm.kernel
    # do_read_fault() tries fault-around before __do_fault() sees i_size, so the cached
    # neighbours get mapped even when this page ends in SIGBUS.
    if not write and do_fault_around(vma, addr, pgoff):
        return                                               # the page was in the cache
    if pgoff >= (inode.size + PAGE_SIZE - 1) >> PAGE_SHIFT:
        raise BusError(addr, f"page offset {pgoff:#x} is beyond the end of {inode.path}")
    cache = page_cache_folio(kernel, inode.mapping, pgoff)
    if write and not vma.vm_flags & VM_SHARED:
        folio = _new_anon_page(vma, addr)                   # do_cow_fault()
        mm.pgtable[addr] = PTE(folio, folio.pfn, bool(vma.vm_flags & VM_WRITE))
        return
    folio_add_file_rmap(cache)
    if write:
        cache.dirty = True                                   # fault_dirty_shared_page()
    mm.pgtable[addr] = PTE(cache, cache.pfn, bool(write))


FAULT_AROUND_PAGES = 16          # mm/memory.c: fault_around_pages (64 KiB by default)
PTRS_PER_PTE = 512


def do_fault_around(vma: VMA, addr: int, pgoff: int) -> bool:
    """Map the page-cache pages already cached around a read fault; True if ``addr`` got one.

    Model of mm/memory.c: do_fault_around() -> filemap_map_pages() (v6.18): a window of
    fault_around_pages PTEs, aligned, clamped to the VMA, the page table and the file's
    end; only pages present in the page cache *and uptodate* (next_uptodate_folio(): a
    tmpfs page that fallocate() made is skipped) and only empty PTEs.  Readahead, which
    fills a disk file's cache around a miss, is not modelled.  O(16 log P).
    """
    mm = vma.vm_mm
    mapping = vma.vm_file.f_mapping
    nr = FAULT_AROUND_PAGES
    pte_off = (addr >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)
    vma_off = pgoff - vma.vm_pgoff
    from_pte = max(pte_off & ~(nr - 1), pte_off - min(pte_off, vma_off))
    to_pte = min(from_pte + nr, PTRS_PER_PTE, pte_off + vma.pages - vma_off) - 1
    last = min(pgoff + to_pte - pte_off,
               ((vma.vm_file.inode.size + PAGE_SIZE - 1) >> PAGE_SHIFT) - 1)
    hit = False
    for idx in range(pgoff + from_pte - pte_off, last + 1):
        folio = mapping.pages.get(idx)
        if folio is None or not folio.uptodate:
            continue
        a = addr + ((idx - pgoff) << PAGE_SHIFT)
        if a in mm.pgtable:
            continue
        folio_add_file_rmap(folio)
        mm.pgtable[a] = PTE(folio, folio.pfn, False)
        hit = hit or a == addr
    return hit


def do_wp_page(vma: VMA, addr: int, pte: PTE) -> None:
    """Write to a present read-only PTE: reuse the page or copy it.

    Model of mm/memory.c: do_wp_page() (v6.18): shared mappings just become writable; an
    anon page that is PageAnonExclusive, or whose folio has no other reference
    (wp_can_reuse_anon_folio() tests the refcount; with no swap cache, GUP pins or KSM in
    the model that is a mapcount of 1), is reused
    (folio_move_anon_rmap() re-homes a non-exclusive one into this VMA's anon_vma);
    anything else is copied into a new folio of this VMA's own anon_vma. O(log n).
    """
    folio = vm_normal_page(vma, addr, pte)
    if vma.vm_flags & VM_SHARED:
        pte.writable = True                                  # wp_page_shared / wp_pfn_shared
        if folio is not None:
            folio.dirty = True                               # fault_dirty_shared_page()
        return
    if folio is not None and folio.order:
        i = pte.pfn - folio.pfn
        if folio.anon and (folio._excl[i] or _wp_can_reuse_large_anon_folio(folio)):
            folio._excl[i] = True                            # wp_page_reuse()
            pte.writable = True
            return
        new = _new_anon_page(vma, addr)                      # wp_page_copy(): order 0
        vma.vm_mm.pgtable[addr] = PTE(new, new.pfn, True)
        folio_remove_rmap_ptes(folio, i, 1, vma.vm_mm)
        return
    if folio is not None and folio.anon and (folio.anon_exclusive or folio.mapcount == 1):
        if not folio.anon_exclusive:
            folio_move_anon_rmap(folio, vma)                 # wp_can_reuse_anon_folio()
            folio.anon_exclusive = True
        pte.writable = True
        return
    new = _new_anon_page(vma, addr)                          # wp_page_copy()
    if folio is not None:
        folio_remove_rmap_pte(folio, vma)
    vma.vm_mm.pgtable[addr] = PTE(new, new.pfn, True)


def _wp_can_reuse_large_anon_folio(folio: Folio) -> bool:
    """mm/memory.c: __wp_can_reuse_large_anon_folio() (6.15+, CONFIG_MM_ID): not when at
    most one mapping is left (better to free the large folio), not when maybe mapped
    shared, and only if every reference is a mapping (always, without GUP pins)."""
    return folio.mapcount > 1 and not folio.maybe_shared


def handle_mm_fault(vma: VMA, addr: int, flags: int) -> None:
    """Resolve a fault at page ``addr`` of ``vma``; ``flags`` are FAULT_FLAG_* bits.

    Model of mm/memory.c: __handle_mm_fault() (v6.18): where the 2 MiB block has neither a
    huge PMD nor a PTE table (pmd_none()) and the VMA may have the PMD order, try
    do_huge_pmd_anonymous_page() first; a write to a read-only huge PMD goes to
    do_huge_pmd_wp_page(); everything else to handle_pte_fault().  Raises BusError (SIGBUS)
    where no page can be given.  O(log n).

    :raises OutOfMemory: no page of RAM left for a new folio (VM_FAULT_OOM), or the
        process already has ``totalram_pages`` present PTEs.  The second bound is the
        model's, not the kernel's (whose page tables cost one page per 512 PTEs): it
        keeps every loop over pages, such as reading a huge mapping of the zero page,
        within what the simulated machine could hold.
    """
    write = bool(flags & FAULT_FLAG_WRITE)
    mm = vma.vm_mm
    pte = mm.pgtable.get(addr)
    try:
        if pte is None:
            if len(mm.pgtable) >= mm.kernel.totalram_pages:
                raise OutOfMemory(addr, f"{len(mm.pgtable)} present PTEs: the page tables "
                                        "would outgrow RAM")
            if vma.is_anonymous():
                thp = mm.kernel.thp
                quick = thp.orders_hinted if vma.vm_flags & VM_HUGEPAGE else \
                    thp.orders_unhinted
                if quick & _PMD_MASK and not vma.vm_flags & VM_SHARED and \
                        addr >> PMD_SHIFT not in mm.pte_tables and _pmd_order_allowed(vma):
                    if do_huge_pmd_anonymous_page(mm, vma, addr, write):
                        return
                do_anonymous_page(vma, addr, write)
            elif not vma.vm_ops.fault:
                # do_fault(): no ->fault (a remap_pfn_range() driver): VM_FAULT_SIGBUS.
                raise BusError(addr, "no PFN installed here")
            else:
                do_fault(vma, addr, write)
        elif write and not pte.writable:
            if pte.pmd is not None:
                if do_huge_pmd_wp_page(mm, vma, addr, pte):
                    return
                pte = mm.pgtable[addr]
                if pte.writable:
                    return
            do_wp_page(vma, addr, pte)
    except OutOfMemory as e:
        if e.addr is None:                  # the allocator does not know the address
            raise OutOfMemory(addr, e.reason) from None
        raise


def _pmd_order_allowed(vma: VMA) -> bool:
    return bool(thp_vma_allowable_orders(vma, vma.vm_flags, TVA_PAGEFAULT,
                                         1 << HPAGE_PMD_ORDER))


def access_error(vma: VMA, write: bool) -> bool:
    """Does the VMA forbid this access?  Model of arch/x86/mm/fault.c: access_error(). O(1)."""
    if write:
        return not vma.vm_flags & VM_WRITE
    return not vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)


def touch(mm: MM, addr: int, length: int, write: bool) -> None:
    """Read or write one byte of every page in ``[addr, addr+length)``, faulting as needed.

    A user access, as from the process itself: SIGSEGV where no VMA maps the page or its
    protection forbids the access.  Pages before the faulting one stay touched, as in a
    real process.  O(p log n) for p pages.
    """
    start = addr & ~(PAGE_SIZE - 1)
    end = (addr + max(length, 1) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    a = start
    while a < end:
        vma = mm.vma_lookup(a)
        if vma is None:
            raise SegmentationFault(a, "no VMA maps this address")
        if access_error(vma, write):
            raise SegmentationFault(a, f"{'write' if write else 'read'} not allowed by "
                                       f"{vma.id}'s protection")
        stop = min(end, vma.vm_end)
        flags = FAULT_FLAG_WRITE if write else 0
        while a < stop:
            handle_mm_fault(vma, a, flags)
            a += PAGE_SIZE


def zap_page_range_single(vma: VMA, address: int, size: int,
                          reclaim_pt: bool = False) -> None:
    """Drop every PTE and huge PMD in ``[address, address + size)`` of ``vma``, releasing
    their folios.

    Model of mm/memory.c: zap_page_range_single() -> zap_pmd_range() / zap_pte_range()
    (v6.18): a huge PMD covered only in part is split first, a whole one goes with
    zap_huge_pmd(); PTEs mapping consecutive pages of one large folio are removed as one
    batch (folio_remove_rmap_ptes()).  With ``reclaim_pt`` (MADV_DONTNEED's zap_details;
    CONFIG_PT_RECLAIM=y) the PTE table of a 2 MiB block this call zaps whole is freed too.
    O(k log P) for k present PTEs.
    """
    mm = vma.vm_mm
    start, end = address, address + size
    if mm.pmds:
        split_huge_pmds_partly_in(mm, start, end)
        for haddr in [h for h in mm.pmds if start <= h < end]:
            zap_huge_pmd(mm, mm.pmds[haddr])
    ptes = mm.ptes_in(start, end)
    if ptes:
        _remove_batches(mm, vma, ptes)
        pt = mm.pgtable
        for a, _ in ptes:
            del pt[a]
    if reclaim_pt and mm.pte_tables and size >= PMD_SIZE:
        for b in range((start + PMD_SIZE - 1) >> PMD_SHIFT, end >> PMD_SHIFT):
            mm.pte_tables.discard(b)


def zap_vma_pages(vma: VMA) -> None:
    """Drop every PTE of ``vma``.  Model of include/linux/mm.h: zap_vma_pages() (v6.18).
    O(k log P) for k present PTEs."""
    zap_page_range_single(vma, vma.vm_start, vma.vm_end - vma.vm_start)
