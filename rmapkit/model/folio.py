"""Folios, physical frames and the shared zero page.

Mirrors include/linux/mm_types.h: struct folio (``index``, ``mapping``, ``_mapcount``),
include/linux/page-flags.h (PG_anon_exclusive, FOLIO_MAPPING_ANON) and mm/util.c:
folio_anon_vma().  Every folio here is order 0 (one page): this kernel's THP setting is
``madvise`` and no mTHP size is enabled, so plain anonymous faults allocate single pages.
Not modelled: large folios, swap, the LRU, KSM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .anon_vma import AnonVMA

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .file import AddressSpace
    from .kernel import Kernel

__all__ = ["Folio", "PhysMem", "ZERO_PFN"]

ZERO_PFN = 0x10            # the model's pfn of the shared zero page (my_zero_pfn())
_FIRST_RAM_PFN = 0x2000


class Folio:
    """struct folio of one page: ``pfn``, ``index``, ``mapping`` and map counts."""

    __slots__ = ("pfn", "index", "mapping", "mapcount", "anon_exclusive", "label",
                 "in_page_cache", "uptodate", "dirty", "physmem", "__weakref__")
    nr_pages = 1

    def __init__(self, pfn: int, label: str, physmem: PhysMem | None = None) -> None:
        self.pfn = pfn
        self.label = label
        self.physmem = physmem           # the allocator (and through it the Kernel)
        self.index = 0
        self.mapping: AnonVMA | AddressSpace | None = None   # anon folio / page cache
        self.mapcount = 0            # number of PTEs mapping it (folio_mapcount())
        self.anon_exclusive = False  # PageAnonExclusive of its (only) page
        self.in_page_cache = False
        self.uptodate = True         # PG_uptodate: false only for a fallocated shmem folio
        self.dirty = False           # PG_dirty: written (write(2), a shared write fault)

    @property
    def is_zero_page(self) -> bool:
        """is_zero_folio(). O(1)."""
        return self.pfn == ZERO_PFN

    @property
    def anon(self) -> bool:
        """folio_test_anon(): ``mapping`` has FOLIO_MAPPING_ANON set: the one anon test
        (mm/util.c: folio_anon_vma() uses it too). O(1)."""
        return isinstance(self.mapping, AnonVMA)

    def __repr__(self):
        m = getattr(self.mapping, "label", None)
        return f"<Folio {self.label} pfn={self.pfn:#x} index={self.index:#x} mapping={m}>"


class PhysMem:
    """The frame allocator.  Hands out PFNs in increasing order (deterministic). O(1)."""

    def __init__(self, kernel: Kernel | None = None) -> None:
        self.kernel = kernel
        self.next_pfn = _FIRST_RAM_PFN
        self.serial = 0
        self.zero_folio = Folio(ZERO_PFN, "zero", self)
        self.reserved = []                   # device frame ranges [lo, hi)
        self.nr_allocated = 0

    def reserve(self, pfn: int, npages: int) -> None:
        """Set ``[pfn, pfn + npages)`` aside as device frames (no struct page behind them).

        RAM never hands those PFNs out, and a range that RAM or the zero page already uses
        is refused: on real hardware device memory and RAM never share a frame, which is
        what lets vm_normal_page()'s ``pfn == vm_pgoff + off`` rule tell them apart.
        O(d) for d devices.
        """
        end = pfn + npages
        if pfn <= ZERO_PFN < end:
            raise ValueError(f"device frames [{pfn:#x}, {end:#x}) include the zero page "
                             f"({ZERO_PFN:#x})")
        if pfn < self.next_pfn and end > _FIRST_RAM_PFN:
            raise ValueError(f"device frames [{pfn:#x}, {end:#x}) overlap RAM already in "
                             f"use (below {self.next_pfn:#x})")
        for lo, hi in self.reserved:
            if pfn < hi and lo < end:
                raise ValueError(f"device frames [{pfn:#x}, {end:#x}) overlap another "
                                 f"device's [{lo:#x}, {hi:#x})")
        self.reserved.append((pfn, end))

    def alloc_folio(self) -> Folio:
        """folio_alloc(): a fresh order-0 folio. O(d) for d device ranges."""
        moved = True
        while moved:                          # step over device frames
            moved = False
            for lo, hi in self.reserved:
                if lo <= self.next_pfn < hi:
                    self.next_pfn, moved = hi, True
        f = Folio(self.next_pfn, f"folio{self.serial}", self)
        self.next_pfn += 1
        self.serial += 1
        self.nr_allocated += 1
        return f

    def free_folio(self, folio: Folio) -> None:
        """folio_put() of the last reference. O(1)."""
        self.nr_allocated -= 1
        folio.mapping = None
