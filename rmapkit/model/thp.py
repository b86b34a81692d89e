"""Transparent huge pages: the sysfs settings, which orders a VMA may get, and huge PMDs.

Mirrors mm/huge_memory.c (v6.18): the sysfs files under /sys/kernel/mm/transparent_hugepage/
(enabled_store(), defrag_store(), anon_enabled_store(), use_zero_page_store()),
__thp_vma_allowable_orders(), do_huge_pmd_anonymous_page(), map_anon_folio_pmd(),
set_huge_zero_folio(), do_huge_pmd_wp_page(), do_huge_zero_wp_pmd(), copy_huge_pmd(),
zap_huge_pmd(), move_huge_pmd(), __split_huge_pmd_locked(), vma_adjust_trans_huge();
include/linux/huge_mm.h: thp_vma_allowable_orders(), thp_vma_suitable_order(); and
mm/khugepaged.c: hugepage_madvise(), madvise_collapse().

Not modelled (NotImplementedError where a call would need them): splitting a folio
(split_folio(): the deferred-split shrinker, MADV_FREE/COLD/PAGEOUT on part of a large
folio, reclaim), khugepaged, shmem/file THP (``shmem_enabled`` other than ``never``),
swap, GUP pins, userfaultfd, prctl(PR_SET_THP_DISABLE).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import syscall_error
from ..uapi import (THP_FILE_ORDERS, THP_ANON_ORDERS, THP_DEFAULTS, check_thp_value,
                         thp_size_key)
from .folio import HPAGE_PMD_NR, HPAGE_PMD_ORDER
from .mm import PMD, PMD_SHIFT, PMD_SIZE, PTE
from .rmap import (folio_add_anon_rmap_pmd, folio_add_anon_rmap_ptes,
                   folio_add_new_anon_rmap, folio_move_anon_rmap, folio_remove_rmap_pmd,
                   folio_remove_rmap_pte, folio_remove_rmap_ptes, vm_normal_page)
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .vmflags import VM_HUGEPAGE, VM_NOHUGEPAGE, VM_SPECIAL, VM_HUGETLB, VM_WRITE

if TYPE_CHECKING:                        # names for annotations only
    from .mm import MM

__all__ = ["ThpSettings", "THP_DEFAULTS", "THP_ANON_ORDERS", "thp_size_key",
           "thp_vma_allowable_orders", "thp_vma_suitable_order", "TVA_PAGEFAULT",
           "TVA_SMAPS", "TVA_KHUGEPAGED", "TVA_FORCED_COLLAPSE", "new_thp_stats",
           "new_vmstat", "do_huge_pmd_anonymous_page", "do_huge_pmd_wp_page",
           "split_huge_pmd", "split_huge_pmd_address", "copy_huge_pmd", "zap_huge_pmd",
           "move_huge_pmd", "madvise_collapse", "free_pgtables", "MTHP_STATS"]

class ThpSettings:
    """/sys/kernel/mm/transparent_hugepage/ as a mapping: ``k.thp["enabled"] = "always"``.

    Keys are the file names under that directory (``"enabled"``, ``"defrag"``,
    ``"use_zero_page"``, ``"shmem_enabled"``, ``"hugepages-64kB/enabled"`` for every anon
    size 16kB..2048kB, ``"khugepaged/max_ptes_none"``...); values are the strings sysfs
    reads and writes.  A value sysfs would refuse raises OSError(EINVAL) and changes
    nothing; an unknown key raises KeyError (there is no such file).  Model of
    mm/huge_memory.c: enabled_store(), anon_enabled_store(), single_hugepage_flag_store().
    O(1) per access.

    >>> from rmapkit import Kernel
    >>> k = Kernel(thp={"hugepages-64kB/enabled": "madvise"})
    >>> k.thp["hugepages-64kB/enabled"], k.thp["enabled"]
    ('madvise', 'madvise')
    >>> k.thp["enabled"] = "sometimes"
    Traceback (most recent call last):
    ...
    OSError: [Errno 22] thp: EINVAL (Invalid argument): enabled: 'sometimes' is not one of always, madvise, never
    """

    def __init__(self, values=None):
        self._v = dict(THP_DEFAULTS)
        self._masks()
        for key, value in (values or {}).items():
            self[key] = value

    def __getitem__(self, key):
        return self._v[key]

    def __setitem__(self, key, value):
        if key not in self._v:
            raise KeyError(f"/sys/kernel/mm/transparent_hugepage/{key} does not exist on this "
                           "kernel")
        v, why = check_thp_value(key, value)
        if why:
            raise syscall_error(errno.EINVAL, "thp", why)
        self._v[key] = v
        self._masks()

    def __contains__(self, key):
        return key in self._v

    def __iter__(self):
        return iter(self._v)

    def __len__(self):
        return len(self._v)

    def keys(self):
        return self._v.keys()

    def items(self):
        return self._v.items()

    def changed(self):
        """The settings that differ from THP_DEFAULTS. O(keys)."""
        return {k: v for k, v in self._v.items() if THP_DEFAULTS[k] != v}

    def _masks(self):
        """huge_anon_orders_always/_madvise/_inherit as bit masks of orders."""
        m = {"always": 0, "madvise": 0, "inherit": 0, "never": 0}
        for o in THP_ANON_ORDERS:
            m[self._v[thp_size_key(o)]] |= 1 << o
        self.orders_always, self.orders_madvise = m["always"], m["madvise"]
        self.orders_inherit = m["inherit"]
        self.global_mode = self._v["enabled"]
        # The sysfs part of thp_vma_allowable_orders(), precomputed for the two cases a
        # fault needs: a VMA with VM_HUGEPAGE and one without.
        inherit_hinted = self.orders_inherit if self.global_mode != "never" else 0
        inherit_always = self.orders_inherit if self.global_mode == "always" else 0
        self.orders_hinted = self.orders_always | self.orders_madvise | inherit_hinted
        self.orders_unhinted = self.orders_always | inherit_always
        self.use_zero_page = self._v["use_zero_page"] == "1"
        self.shmem_any = self._v["shmem_enabled"] not in ("never", "deny") or any(
            self._v[thp_size_key(o, "shmem_enabled")] not in ("never", "inherit")
            for o in THP_FILE_ORDERS)

    def __repr__(self):
        return f"<ThpSettings {self.changed() or 'defaults'}>"


MTHP_STATS = ("anon_fault_alloc", "anon_fault_fallback", "anon_fault_fallback_charge",
              "split", "split_failed", "split_deferred", "nr_anon",
              "nr_anon_partially_mapped")


def new_thp_stats():
    """hugepages-<size>/stats/ for every anon order: {order: {name: 0}}."""
    return {o: dict.fromkeys(MTHP_STATS, 0) for o in THP_ANON_ORDERS}


def new_vmstat():
    """The THP lines of /proc/vmstat the model counts."""
    return dict.fromkeys(("thp_fault_alloc", "thp_fault_fallback", "thp_split_pmd",
                          "thp_deferred_split_page", "thp_collapse_alloc",
                          "thp_split_page"), 0)


_ANON_MASK = sum(1 << o for o in THP_ANON_ORDERS)

# enum tva_type (include/linux/huge_mm.h, 6.18)
TVA_SMAPS, TVA_PAGEFAULT, TVA_KHUGEPAGED, TVA_FORCED_COLLAPSE = range(4)


def thp_vma_suitable_order(vma, addr, order):
    """The aligned block of ``1 << order`` pages around ``addr`` lies inside ``vma`` (and, for
    a file VMA, its pgoff is aligned too).  Model of include/linux/huge_mm.h:
    thp_vma_suitable_order(). O(1)."""
    n = 1 << order
    if not vma.is_anonymous() and ((vma.vm_start >> PAGE_SHIFT) - vma.vm_pgoff) % n:
        return False
    size = PAGE_SIZE << order
    haddr = addr & ~(size - 1)
    return vma.vm_start <= haddr and haddr + size <= vma.vm_end


def thp_vma_allowable_orders(vma, vm_flags, tva, orders):
    """The orders of ``orders`` (a bit mask) this anonymous VMA may get, as a bit mask.

    Model of include/linux/huge_mm.h: thp_vma_allowable_orders() and mm/huge_memory.c:
    __thp_vma_allowable_orders() (v6.18) for anonymous VMAs: the sysfs masks (``always``,
    ``madvise`` with VM_HUGEPAGE, ``inherit`` following the global mode; skipped for a
    forced collapse), VM_NOHUGEPAGE, VM_SPECIAL/VM_HUGETLB (not for faults), the size fit
    (not for faults: the highest order with a whole aligned block in the VMA, and all
    lower), and an anon_vma (only faults and smaps may do without).  File and shmem VMAs
    get no order (READ_ONLY_THP_FOR_FS is off, shmem THP is not modelled).  O(orders).
    """
    if not vma.is_anonymous():
        return 0
    thp = vma.vm_mm.kernel.thp
    if tva != TVA_FORCED_COLLAPSE:
        mask = thp.orders_always
        if vm_flags & VM_HUGEPAGE:
            mask |= thp.orders_madvise
        if thp.global_mode == "always" or (vm_flags & VM_HUGEPAGE and
                                           thp.global_mode != "never"):
            mask |= thp.orders_inherit
        orders &= mask
    orders &= _ANON_MASK
    if not orders or vm_flags & VM_NOHUGEPAGE:
        return 0
    if tva != TVA_PAGEFAULT:
        if tva != TVA_SMAPS and vm_flags & (VM_SPECIAL | VM_HUGETLB):
            return 0
        for o in sorted((o for o in THP_ANON_ORDERS if orders >> o & 1), reverse=True):
            if thp_vma_suitable_order(vma, vma.vm_end - (PAGE_SIZE << o), o):
                break
            orders &= ~(1 << o)
    if vma.anon_vma is None and tva not in (TVA_PAGEFAULT, TVA_SMAPS):
        return 0
    return orders


def _block(addr):
    return addr >> PMD_SHIFT


def _pa(base, i):
    """The address of page ``i`` from ``base``."""
    return base + (i << PAGE_SHIFT)


def _alloc(mm, order):
    """vma_alloc_folio() of a THP order, or None when failure injection refuses it."""
    k = mm.kernel
    if order in k.thp_fail_orders:
        k.thp_stats[order]["anon_fault_fallback"] += 1
        if order == HPAGE_PMD_ORDER:
            k.vmstat["thp_fault_fallback"] += 1
        return None
    return k.physmem.alloc_folio(order)


def _map_pmd(mm, vma, haddr, folio, writable, special=False):
    """Install a huge PMD over ``haddr`` (its 512 entries). O(512 log P)."""
    pmd = PMD(folio, haddr)
    mm.pmds[haddr] = pmd
    pt = mm.pgtable
    for i in range(HPAGE_PMD_NR):
        pt[_pa(haddr, i)] = PTE(folio, folio.pfn + i, writable, special, pmd)
    return pmd


def _map_anon_folio_pmd(mm, vma, haddr):
    """vma_alloc_anon_folio_pmd() + map_anon_folio_pmd(): a new PMD THP; False on failure."""
    from .anon_vma import anon_vma_prepare
    anon_vma_prepare(vma)
    folio = _alloc(mm, HPAGE_PMD_ORDER)
    if folio is None:
        return False
    folio_add_new_anon_rmap(folio, vma, haddr)
    _map_pmd(mm, vma, haddr, folio, bool(vma.vm_flags & VM_WRITE))
    k = mm.kernel
    k.thp_stats[HPAGE_PMD_ORDER]["anon_fault_alloc"] += 1
    k.vmstat["thp_fault_alloc"] += 1
    return True


def do_huge_pmd_anonymous_page(mm, vma, addr, write):
    """First touch of an empty 2 MiB block (no PMD, no PTE table) in an eligible VMA.

    Model of mm/huge_memory.c: do_huge_pmd_anonymous_page() (v6.18): the block must lie
    inside the VMA, else fallback; vmf_anon_prepare() gives the VMA an anon_vma even on a
    read fault; a read fault with ``use_zero_page`` = 1 maps the huge zero folio
    read-only (no rmap, no mapcount); otherwise a new PMD-order folio is mapped by one
    PMD (map_anon_folio_pmd()).  Returns False for VM_FAULT_FALLBACK.  O(512 log P).
    """
    from .anon_vma import anon_vma_prepare
    haddr = addr & ~(PMD_SIZE - 1)
    if not thp_vma_suitable_order(vma, haddr, HPAGE_PMD_ORDER):
        return False
    if not write and mm.kernel.thp.use_zero_page:
        anon_vma_prepare(vma)
        _map_pmd(mm, vma, haddr, mm.kernel.physmem.huge_zero_folio, False, special=True)
        return True
    return _map_anon_folio_pmd(mm, vma, haddr)


def split_huge_pmd(mm, pmd):
    """Replace a huge PMD by 512 PTEs; the folio stays large.

    Model of mm/huge_memory.c: __split_huge_pmd_locked() (v6.18): every page is now
    mapped by its own PTE with the PMD's write bit; folio_add_anon_rmap_ptes(512,
    RMAP_EXCLUSIVE iff the head was PageAnonExclusive) then folio_remove_rmap_pmd(), so
    each page's mapcount +1, ``_entire_mapcount`` -1, ``_large_mapcount`` +511.  A huge
    zero PMD becomes 512 PTEs of the small zero page.  The deposited PTE table is now
    the block's table.  vmstat ``thp_split_pmd`` +1.  O(512 log P).
    """
    k = mm.kernel
    folio, haddr = pmd.folio, pmd.haddr
    del mm.pmds[haddr]
    mm.pte_tables.add(_block(haddr))
    k.vmstat["thp_split_pmd"] += 1
    pt = mm.pgtable
    if folio.is_huge_zero:
        z = k.physmem.zero_folio
        for i in range(HPAGE_PMD_NR):
            pt[_pa(haddr, i)] = PTE(z, z.pfn, False, special=True)
        return
    writable = pt[haddr].writable
    for i in range(HPAGE_PMD_NR):
        pt[_pa(haddr, i)] = PTE(folio, folio.pfn + i, writable)
    folio_add_anon_rmap_ptes(folio, 0, HPAGE_PMD_NR, mm, folio._excl[0])
    folio_remove_rmap_pmd(folio, mm)


def split_huge_pmd_address(mm, addr):
    """Split the huge PMD mapping ``addr``, if there is one and ``addr`` is not its start.

    Model of mm/huge_memory.c: split_huge_pmd_if_needed(), called by
    vma_adjust_trans_huge() whenever a VMA boundary moves to ``addr`` (VMA split, merge,
    partial munmap/mprotect/madvise/mremap). O(1) without a PMD there.
    """
    if addr & (PMD_SIZE - 1) and mm.pmds:
        pmd = mm.pmds.get(addr & ~(PMD_SIZE - 1))
        if pmd is not None:
            split_huge_pmd(mm, pmd)


def split_huge_pmds_partly_in(mm, start, end):
    """Split the PMDs that ``[start, end)`` covers only in part (zap_pmd_range(),
    change_pmd_range(): ``next - addr != HPAGE_PMD_SIZE``). O(1)."""
    if mm.pmds:
        split_huge_pmd_address(mm, start)
        split_huge_pmd_address(mm, end)


def do_huge_pmd_wp_page(mm, vma, addr, pte):
    """Write to a read-only huge PMD.  Returns False when the PMD was split and the fault
    must be handled at PTE level (VM_FAULT_FALLBACK).

    Model of mm/huge_memory.c: do_huge_pmd_wp_page() (v6.18): the huge zero folio is
    replaced by a new PMD THP (do_huge_zero_wp_pmd(); if that allocation fails the zero
    PMD is split and the fault redone on PTEs); a head page that is PageAnonExclusive is
    reused; a folio with no other reference (refcount 1: only this PMD) is re-homed into
    this VMA's anon_vma (folio_move_anon_rmap()) and reused; anything else splits this
    PMD and falls back.  O(512 log P).
    """
    pmd = pte.pmd
    folio, haddr = pmd.folio, pmd.haddr
    pt = mm.pgtable
    if folio.is_huge_zero:
        del mm.pmds[haddr]
        for i in range(HPAGE_PMD_NR):
            del pt[_pa(haddr, i)]
        if _map_anon_folio_pmd(mm, vma, haddr):
            return True
        _map_pmd(mm, vma, haddr, folio, False, special=True)
        split_huge_pmd(mm, mm.pmds[haddr])
        return False
    if not folio._excl[0]:
        if folio.mapcount != 1:
            split_huge_pmd(mm, pmd)
            return False
        folio_move_anon_rmap(folio, vma)
        folio._excl[0] = True
    for i in range(HPAGE_PMD_NR):
        pt[_pa(haddr, i)].writable = True
    return True


def copy_huge_pmd(dst_mm, src_mm, pmd, cow):
    """fork(): the child gets the same huge PMD; both become read-only.

    Model of mm/huge_memory.c: copy_huge_pmd() (v6.18): a huge zero PMD is copied as
    such; otherwise folio_try_dup_anon_rmap_pmd() clears the head's PageAnonExclusive and
    adds one PMD mapping for the child's mm (``_entire_mapcount`` +1, ``_large_mapcount``
    +1, the shared bit set).  Not modelled: pinned folios (which split the PMD).
    O(512 log P).
    """
    folio, haddr = pmd.folio, pmd.haddr
    spt = src_mm.pgtable
    if not folio.is_huge_zero:
        folio._excl[0] = False
        folio_add_anon_rmap_pmd(folio, dst_mm)
        if cow:
            for i in range(HPAGE_PMD_NR):
                spt[_pa(haddr, i)].writable = False
    writable = spt[haddr].writable
    _map_pmd(dst_mm, None, haddr, folio, writable, special=folio.is_huge_zero)


def zap_huge_pmd(mm, pmd):
    """Remove a whole huge PMD (its folio loses one PMD mapping).

    Model of mm/huge_memory.c: zap_huge_pmd() (v6.18): folio_remove_rmap_pmd(); the
    deposited table goes with it.  O(512 log P).
    """
    folio, haddr = pmd.folio, pmd.haddr
    del mm.pmds[haddr]
    pt = mm.pgtable
    for i in range(HPAGE_PMD_NR):
        del pt[_pa(haddr, i)]
    if not folio.is_huge_zero:
        folio_remove_rmap_pmd(folio, mm)


def move_huge_pmd(mm, pmd, new_haddr):
    """mremap(): move a whole huge PMD to another 2 MiB-aligned address.

    Model of mm/huge_memory.c: move_huge_pmd() (v6.18): same folio, same counts, same
    ``index``; no rmap change. O(512 log P).
    """
    old = pmd.haddr
    pt = mm.pgtable
    entries = [pt.pop(old + (i << PAGE_SHIFT)) for i in range(HPAGE_PMD_NR)]
    del mm.pmds[old]
    pmd.haddr = new_haddr
    mm.pmds[new_haddr] = pmd
    for i, e in enumerate(entries):
        pt[_pa(new_haddr, i)] = e


def free_pgtables(mm: MM, start: int, end: int, floor: int, ceiling: int) -> None:
    """Free the PTE tables of the 2 MiB blocks around ``[start, end)`` that no VMA covers
    any more: those wholly inside ``[floor, ceiling)``, the gap between the neighbouring
    VMAs that stay.  Model of mm/memory.c: free_pgtables() -> free_pgd_range(). O(blocks).
    """
    tables = mm.pte_tables
    for b in range(_block(start), _block(end - 1) + 1):
        if b in tables and floor <= b << PMD_SHIFT and (b + 1) << PMD_SHIFT <= ceiling:
            tables.discard(b)


def madvise_collapse(mm, vma, start, end):
    """MADV_COLLAPSE of ``[start, end)`` inside ``vma``: make every whole 2 MiB block in it
    one PMD-mapped THP.  Returns 0 or the errno of the last failure (the caller raises).

    Model of mm/khugepaged.c: madvise_collapse() (v6.18) for anonymous memory: the VMA
    must pass thp_vma_allowable_order(TVA_FORCED_COLLAPSE) (sysfs masks ignored; no
    VM_NOHUGEPAGE, an anon_vma, a whole aligned block) else EINVAL; units are the blocks
    wholly inside the range, tried in order; a PMD-mapped block succeeds as is, a block
    with no page table ends the walk with EINVAL (SCAN_PMD_NONE), a block holding a
    non-anonymous page fails with EINVAL; otherwise collapse_huge_page(): a new PMD
    folio (this VMA's anon_vma, ``index`` = linear_page_index(haddr)) replaces the old
    PTEs (each old folio loses those mappings) and the PTE table.  vmstat
    ``thp_collapse_alloc`` +1.  O(units * 512 log P).
    """
    from .vma import linear_page_index
    if not thp_vma_allowable_orders(vma, vma.vm_flags, TVA_FORCED_COLLAPSE,
                                    1 << HPAGE_PMD_ORDER):
        return errno.EINVAL
    hstart = (start + PMD_SIZE - 1) & ~(PMD_SIZE - 1)
    hend = end & ~(PMD_SIZE - 1)
    if hstart > hend:
        return errno.EINVAL          # the kernel's unsigned count of units goes negative
    k = mm.kernel
    pt = mm.pgtable
    last_fail = 0
    for haddr in range(hstart, hend, PMD_SIZE):
        if haddr in mm.pmds:
            continue
        if _block(haddr) not in mm.pte_tables:
            last_fail = errno.EINVAL
            break                                        # SCAN_PMD_NONE ends the loop
        ptes = mm.ptes_in(haddr, haddr + PMD_SIZE)
        bad = False
        for a, pte in ptes:
            f = vm_normal_page(vma, a, pte)
            if pte.folio is not None and pte.folio.is_zero_page:
                continue
            if f is None or not f.anon:
                bad = True
                break
        if bad:
            last_fail = errno.EINVAL
            continue
        if HPAGE_PMD_ORDER in k.thp_fail_orders:
            last_fail = errno.ENOMEM
            continue
        new = k.physmem.alloc_folio(HPAGE_PMD_ORDER)
        # __collapse_huge_page_copy_succeeded(): old PTEs go, batched per large folio.
        _remove_batches(mm, vma, ptes)
        for a, _ in ptes:
            del pt[a]
        mm.pte_tables.discard(_block(haddr))
        new.mapping = vma.anon_vma
        folio_add_new_anon_rmap(new, vma, haddr)
        new.index = linear_page_index(vma, haddr)
        _map_pmd(mm, vma, haddr, new, bool(vma.vm_flags & VM_WRITE))
        k.vmstat["thp_collapse_alloc"] += 1
    return last_fail


def _remove_batches(mm, vma, ptes):
    """folio_remove_rmap_ptes() over runs of consecutive pages of one folio (the
    folio_pte_batch() of zap_present_ptes() and of collapse). O(k)."""
    run_folio, run_i, run_n, run_next = None, 0, 0, None
    for a, pte in ptes:
        f = vm_normal_page(vma, a, pte)
        if f is None:
            continue
        if not f.order and run_folio is None:
            folio_remove_rmap_pte(f, vma)
            continue
        if f.order:
            i = pte.pfn - f.pfn
            if f is run_folio and a == run_next and i == run_i + run_n \
                    and _block(a) == _block(run_next - PAGE_SIZE):
                run_n += 1
                run_next += PAGE_SIZE
                continue
            if run_folio is not None:
                folio_remove_rmap_ptes(run_folio, run_i, run_n, mm)
            run_folio, run_i, run_n, run_next = f, i, 1, a + PAGE_SIZE
            continue
        if run_folio is not None:
            folio_remove_rmap_ptes(run_folio, run_i, run_n, mm)
            run_folio = None
        if f is not None:
            folio_remove_rmap_pte(f, vma)
    if run_folio is not None:
        folio_remove_rmap_ptes(run_folio, run_i, run_n, mm)
