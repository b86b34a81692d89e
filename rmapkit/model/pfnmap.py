"""remap_pfn_range(): raw PFNs in a VMA, and why COW mappings store the PFN in vm_pgoff.

Mirrors mm/memory.c: remap_pfn_range() / remap_pfn_range_internal() (v6.18).  On a COW
mapping (private, may become writable) the call must cover the whole VMA and sets
``vm_pgoff = pfn``, so that vm_normal_page() can tell an original remapped frame
(``pfn == vm_pgoff + page offset``) from a page CoWed into it.  PAT tracking is not
modelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import errno

from ..errors import syscall_error
from .mm import PTE
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .vma import vma_set_range
from .vmflags import (VM_DONTDUMP, VM_DONTEXPAND, VM_IO, VM_PFNMAP, VM_SHARED, VM_WRITE,
                      is_cow_mapping)

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .vma import VMA

__all__ = ["remap_pfn_range"]


def remap_pfn_range(vma: VMA, addr: int, pfn: int, size: int) -> None:
    """Map ``size`` bytes of frames from ``pfn`` at ``addr`` as special PTEs.

    Model of mm/memory.c: remap_pfn_range_internal() (v6.18). O(p log P) for p pages.
    """
    end = addr + ((size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
    if addr & (PAGE_SIZE - 1):
        raise syscall_error(errno.EINVAL, "remap_pfn_range", "address not page aligned")
    if is_cow_mapping(vma.vm_flags):
        if addr != vma.vm_start or end != vma.vm_end:
            raise syscall_error(errno.EINVAL, "remap_pfn_range",
                                "a COW mapping must be remapped as a whole")
        # The kernel just sets vma->vm_pgoff = pfn: its ->mmap hook runs before the VMA is
        # linked anywhere.  The model links the VMA first, so it goes through
        # vma_set_range(), which re-keys i_mmap on the new pgoff.
        vma_set_range(vma, vma.vm_start, vma.vm_end, pfn)
    vma.vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP
    writable = (vma.vm_flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED)
    mm = vma.vm_mm
    for i in range((end - addr) >> PAGE_SHIFT):
        a = addr + (i << PAGE_SHIFT)
        if a in mm.pgtable:
            raise AssertionError(f"remap_pfn_range: PTE at {a:#x} already present (BUG)")
        mm.pgtable[a] = PTE(None, pfn + i, writable, special=True)
