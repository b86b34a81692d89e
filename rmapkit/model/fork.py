"""fork and exit: duplicating an mm, and tearing one down.

Mirrors mm/mmap.c: dup_mmap() (v6.16+; earlier kernel/fork.c), mm/memory.c:
copy_page_range() / vma_needs_copy() / copy_present_ptes() and mm/mmap.c: exit_mmap().
Not modelled: DMA-pinned pages (which get an immediate copy), uffd-wp, guard markers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .anon_vma import anon_vma_fork
from .fault import zap_vma_pages
from .merge import remove_vma_from_mm, vm_area_dup, vma_link
from .mm import PTE
from .mm import PMD_SHIFT
from .rmap import folio_add_anon_rmap_ptes, vm_normal_page
from .thp import copy_huge_pmd
from .vmflags import (VM_DONTCOPY, VM_LOCKED_MASK, VM_MIXEDMAP, VM_PFNMAP, VM_WIPEONFORK,
                      is_cow_mapping)

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .kernel import Process
    from .mm import MM

__all__ = ["dup_mmap", "exit_mmap"]


def _vma_needs_copy(src):
    """mm/memory.c: vma_needs_copy(): PFN maps and VMAs with anon pages copy their PTEs."""
    return bool(src.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)) or src.anon_vma is not None


def _copy_page_range(dst, src):
    """Copy src's present PTEs into dst, write-protecting CoW pages in both.

    Model of copy_page_range() -> copy_pmd_range() / copy_present_ptes(): an anon page
    becomes shared and loses PageAnonExclusive (folio_try_dup_anon_rmap_ptes(); a large
    folio's pages also count the child's mm); a huge PMD is copied whole
    (copy_huge_pmd()); the child gets a PTE table wherever the parent has one in the
    VMA. O(k log P).
    """
    smm, dmm = src.vm_mm, dst.vm_mm
    cow = is_cow_mapping(src.vm_flags)
    if smm.pte_tables:
        for b in range(src.vm_start >> PMD_SHIFT, ((src.vm_end - 1) >> PMD_SHIFT) + 1):
            if b in smm.pte_tables:
                dmm.pte_tables.add(b)
    for a, pte in smm.ptes_in(src.vm_start, src.vm_end):
        if pte.pmd is not None:
            if a == pte.pmd.haddr:
                copy_huge_pmd(dmm, smm, pte.pmd, cow)
            continue
        folio = vm_normal_page(src, a, pte)
        if folio is not None:
            if folio.order:
                i = pte.pfn - folio.pfn
                folio._excl[i] = False
                folio_add_anon_rmap_ptes(folio, i, 1, dmm, False)
            else:
                folio.mapcount += 1
                if folio.anon:
                    folio.anon_exclusive = False
        if cow and pte.writable:
            pte.writable = False
        dmm.pgtable[a] = PTE(pte.folio, pte.pfn, pte.writable, pte.special)


def dup_mmap(child: Process, parent: Process) -> None:
    """Copy every VMA of ``parent`` into ``child``'s empty mm.

    Model of dup_mmap() (v6.18): VM_DONTCOPY VMAs are skipped; VM_WIPEONFORK ones are
    copied without anon_vma or pages; the rest go through anon_vma_fork() and, where
    needed, copy_page_range(); VM_LOCKED is not inherited.  O(n c log n + pages).
    """
    for vma in parent.mm.vmas:
        if vma.vm_flags & VM_DONTCOPY:
            continue
        new = vm_area_dup(vma, mm=child.mm)
        new.vm_flags &= ~VM_LOCKED_MASK
        if vma.vm_flags & VM_WIPEONFORK:
            new.anon_vma = None
        else:
            anon_vma_fork(new, vma)
        vma_link(new)
        if not vma.vm_flags & VM_WIPEONFORK and _vma_needs_copy(vma):
            _copy_page_range(new, vma)


def exit_mmap(mm: MM) -> None:
    """Unmap everything and free the VMAs.  Model of mm/mmap.c: exit_mmap() (v6.18): every
    VMA's pages first (unmap_vmas()), then the VMAs (free_pgtables(), remove_vma()).
    O(n c log n + pages)."""
    vmas = mm.vmas
    for vma in vmas:
        zap_vma_pages(vma)
    for vma in vmas:
        remove_vma_from_mm(vma)
    mm.pte_tables.clear()
