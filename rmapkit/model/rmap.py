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
from .folio import ZERO_PFN
from .vma import linear_page_index, vma_address
from .vmflags import VM_MIXEDMAP, VM_PFNMAP, is_cow_mapping

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .anon_vma import AnonVMA
    from .folio import Folio
    from .mm import PTE
    from .vma import VMA

__all__ = ["folio_anon_vma", "folio_add_new_anon_rmap", "folio_add_file_rmap",
           "folio_remove_rmap_pte", "folio_move_anon_rmap", "rmap_walk", "rmap_candidates",
           "page_vma_mapped", "vm_normal_page"]


def folio_anon_vma(folio: Folio) -> AnonVMA | None:
    """The anon_vma of an anonymous folio, else None.  Model of mm/util.c: folio_anon_vma(). O(1)."""
    return folio.mapping if folio.anon else None


def folio_add_new_anon_rmap(folio: Folio, vma: VMA, addr: int) -> None:
    """Make ``folio`` a new exclusive anon folio of ``vma`` at ``addr``.

    Model of mm/rmap.c: folio_add_new_anon_rmap(RMAP_EXCLUSIVE) -> __folio_set_anon():
    ``mapping`` = the VMA's own anon_vma, ``index`` = linear_page_index(vma, addr). O(1).
    """
    folio.mapping = vma.anon_vma
    folio.index = linear_page_index(vma, addr)
    folio.mapcount = 1
    folio.anon_exclusive = True


def folio_add_file_rmap(folio: Folio) -> None:
    """One more PTE maps a page-cache folio.  Model of folio_add_file_rmap_pte(). O(1)."""
    folio.mapcount += 1


def folio_remove_rmap_pte(folio: Folio, vma: VMA) -> None:
    """One PTE of ``vma`` maps ``folio`` no more; an anon folio mapped nowhere is freed.

    Model of mm/rmap.c: folio_remove_rmap_pte(folio, page, vma) (v6.18) with the final
    folio_put() of the unmap path: every folio here is one page, so ``page`` is the folio
    itself and is not passed.  O(1).
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
    if pte.pfn == ZERO_PFN:
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


def rmap_walk(folio: Folio) -> list[tuple[VMA, int]]:
    """``(vma, addr)`` for every mapping of ``folio`` (candidates whose PTE maps it).

    Model of mm/rmap.c: rmap_walk() with a page_vma_mapped_walk() check. O(log n + k).
    """
    return [(vma, addr) for vma, addr in rmap_candidates(folio)
            if page_vma_mapped(vma, addr, folio)]
