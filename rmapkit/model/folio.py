"""Folios, physical frames and the shared zero page.

Mirrors include/linux/mm_types.h: struct folio (``index``, ``mapping``, ``_mapcount``),
include/linux/page-flags.h (PG_anon_exclusive, FOLIO_MAPPING_ANON) and mm/util.c:
folio_anon_vma().  A folio is ``1 << order`` pages at naturally aligned PFNs: order 0 for
most memory, 2..8 for multi-size THP (mTHP) and 9 (2 MiB) for a PMD THP.  Per page, the
model keeps what struct page keeps for a large folio in 6.18 (CONFIG_PAGE_MAPCOUNT=y):
``_mapcount`` (PTE mappings of that page) and PG_anon_exclusive; per folio
``_large_mapcount``, ``_entire_mapcount`` (PMD mappings), ``_nr_pages_mapped``, the two
MM-ID slots with the "maybe mapped shared" bit (include/linux/mm_types.h, CONFIG_MM_ID=y)
and PG_partially_mapped.  Not modelled: swap, the LRU, KSM, folio refcounts beyond one
reference per mapping (no GUP pins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .anon_vma import AnonVMA

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .file import AddressSpace
    from .kernel import Kernel

from ..errors import OutOfMemory

__all__ = ["Folio", "Page", "PhysMem", "ZERO_PFN", "HUGE_ZERO_PFN", "HPAGE_PMD_ORDER",
           "HPAGE_PMD_NR", "DEFAULT_TOTALRAM_PAGES",
           "OVERCOMMIT_GUESS", "OVERCOMMIT_ALWAYS", "MAX_PFN"]

ZERO_PFN = 0x10            # the model's pfn of the shared zero page (my_zero_pfn())
HPAGE_PMD_ORDER = 9            # x86-64: PMD_SHIFT - PAGE_SHIFT
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
HUGE_ZERO_PFN = 0x400      # the model's huge zero folio: 512 naturally aligned frames
_FIRST_RAM_PFN = 0x2000
DEFAULT_TOTALRAM_PAGES = 1 << 16    # MemTotal: 262144 kB, a small fixed machine (no swap)
OVERCOMMIT_GUESS = 0               # include/uapi/linux/mman.h: vm.overcommit_memory
OVERCOMMIT_ALWAYS = 1
MAX_PFN = 1 << 40                  # x86-64: MAX_PHYSMEM_BITS 52 -> 2**40 page frames


class Folio:
    """struct folio: ``pfn`` and ``index`` of its head page, ``mapping``, ``order``, map counts.

    ``mapcount`` is folio_mapcount(): for an order-0 folio the page's mapcount, for a large
    one ``_large_mapcount`` (every PTE and every PMD mapping counts one).  Large folios
    also keep per page ``_mapcount`` (PTE mappings only) and PG_anon_exclusive; read them
    through ``page(i)`` or Process.page_at().
    """

    __slots__ = ("pfn", "index", "mapping", "mapcount", "anon_exclusive", "label",
                 "in_page_cache", "uptodate", "dirty", "physmem", "order", "entire_mapcount",
                 "_pmc", "_excl", "nr_pages_mapped", "mm_ids", "mm_counts", "maybe_shared",
                 "partially_mapped", "__weakref__")

    def __init__(self, pfn: int, label: str, physmem: PhysMem | None = None,
                 order: int = 0) -> None:
        self.pfn = pfn
        self.label = label
        self.physmem = physmem           # the allocator (and through it the Kernel)
        self.index = 0
        self.mapping: AnonVMA | AddressSpace | None = None   # anon folio / page cache
        self.mapcount = 0            # folio_mapcount(): PTEs (+ PMDs for a large folio)
        self.anon_exclusive = False  # PageAnonExclusive of an order-0 folio's page
        self.in_page_cache = False
        self.uptodate = True         # PG_uptodate: false only for a fallocated shmem folio
        self.dirty = False           # PG_dirty: written (write(2), a shared write fault)
        self.order = order
        self.entire_mapcount = 0     # _entire_mapcount: PMD mappings
        self.nr_pages_mapped = 0     # _nr_pages_mapped without ENTIRELY_MAPPED
        self.maybe_shared = False    # FOLIO_MM_IDS_SHARED
        self.partially_mapped = False  # PG_partially_mapped (on the deferred split list)
        if order:
            n = 1 << order
            self._pmc = [0] * n      # page->_mapcount + 1 of every page: PTE mappings
            self._excl = [False] * n  # PG_anon_exclusive of every page
            self.mm_ids = [None, None]   # _mm_id[2]: the two MM slots (None = MM_ID_DUMMY)
            self.mm_counts = [0, 0]      # _mm_id_mapcount[2]
        else:                        # an order-0 folio has none of these (not large)
            self._pmc = self._excl = self.mm_ids = self.mm_counts = None

    @property
    def nr_pages(self) -> int:
        """folio_nr_pages(). O(1)."""
        return 1 << self.order

    @property
    def large_mapcount(self) -> int:
        """folio_large_mapcount() (= folio_mapcount() for an order-0 folio). O(1)."""
        return self.mapcount

    @property
    def is_large(self) -> bool:
        """folio_test_large(). O(1)."""
        return self.order > 0

    @property
    def is_zero_page(self) -> bool:
        """is_zero_folio() or is_huge_zero_folio(). O(1)."""
        return self.pfn == ZERO_PFN or self.pfn == HUGE_ZERO_PFN

    @property
    def is_huge_zero(self) -> bool:
        """is_huge_zero_folio(). O(1)."""
        return self.pfn == HUGE_ZERO_PFN

    def page(self, i: int) -> Page:
        """The ``i``-th page of the folio (folio_page()). O(1)."""
        if not 0 <= i < self.nr_pages:
            raise IndexError(f"{self.label} has {self.nr_pages} pages, not page {i}")
        return Page(self, i)

    @property
    def pages(self) -> list[Page]:
        """Every page of the folio, head first. O(nr_pages)."""
        return [Page(self, i) for i in range(self.nr_pages)]

    def page_mapcount(self, i: int) -> int:
        """PTE mappings of page ``i`` (page_mapcount() without the entire mapcount). O(1)."""
        return self._pmc[i] if self.order else self.mapcount

    def page_anon_exclusive(self, i: int) -> bool:
        """PageAnonExclusive of page ``i``. O(1)."""
        return self._excl[i] if self.order else self.anon_exclusive

    @property
    def anon(self) -> bool:
        """folio_test_anon(): ``mapping`` has FOLIO_MAPPING_ANON set: the one anon test
        (mm/util.c: folio_anon_vma() uses it too). O(1)."""
        return isinstance(self.mapping, AnonVMA)

    def __repr__(self):
        m = getattr(self.mapping, "label", None)
        o = f" order={self.order}" if self.order else ""
        return f"<Folio {self.label} pfn={self.pfn:#x} index={self.index:#x}{o} mapping={m}>"


class Page:
    """struct page ``i`` of a folio: ``pfn``, ``index`` (page_pgoff()), ``mapcount`` (PTE
    mappings of this page only, like ``page->_mapcount + 1``), ``anon_exclusive``.

    A view: it reads the folio, so it stays current.  ``precise_mapcount`` is what
    /proc/kpagecount shows (fs/proc/internal.h: folio_precise_page_mapcount(): the page's
    PTE mappings plus the folio's PMD mappings).
    """

    __slots__ = ("folio", "i")

    def __init__(self, folio, i):
        self.folio = folio
        self.i = i

    pfn = property(lambda self: self.folio.pfn + self.i)
    index = property(lambda self: self.folio.index + self.i)
    mapcount = property(lambda self: self.folio.page_mapcount(self.i))
    anon_exclusive = property(lambda self: self.folio.page_anon_exclusive(self.i))

    @property
    def precise_mapcount(self):
        """folio_precise_page_mapcount(): PTE mappings of the page + PMD mappings. O(1)."""
        return 0 if self.folio.is_zero_page else self.mapcount + self.folio.entire_mapcount

    def __eq__(self, other):
        return isinstance(other, Page) and other.folio is self.folio and other.i == self.i

    def __hash__(self):
        return hash((id(self.folio), self.i))

    def __repr__(self):
        return (f"<Page {self.folio.label}[{self.i}] pfn={self.pfn:#x} index={self.index:#x}"
                f" mapcount={self.mapcount} anon_exclusive={self.anon_exclusive}>")


class PhysMem:
    """The frame allocator.  Hands out PFNs in increasing order (deterministic). O(1)."""

    def __init__(self, kernel: Kernel | None = None) -> None:
        self.kernel = kernel
        self.next_pfn = _FIRST_RAM_PFN
        self.serial = 0
        self.zero_folio = Folio(ZERO_PFN, "zero", self)
        self.huge_zero_folio = Folio(HUGE_ZERO_PFN, "huge_zero", self, HPAGE_PMD_ORDER)
        self.reserved = []                   # device frame ranges [lo, hi)
        self.nr_allocated = 0                # folios
        self.nr_pages_allocated = 0          # pages (a large folio counts 1 << order)

    @property
    def totalram_pages(self) -> int:
        """totalram_pages(): the machine's RAM in pages (Kernel(totalram_pages=...)). O(1)."""
        return self.kernel.totalram_pages if self.kernel is not None else \
            DEFAULT_TOTALRAM_PAGES

    def vm_enough_memory(self, pages: int) -> bool:
        """May ``pages`` more pages be committed?  False means the syscall fails ENOMEM.

        Model of mm/util.c: __vm_enough_memory() (v6.18) for OVERCOMMIT_ALWAYS (always)
        and OVERCOMMIT_GUESS (the default: one request may not exceed RAM + swap; the
        model has no swap).  Callers charge only what accountable_mapping() charges
        (private writable memory without MAP_NORESERVE) and shmem objects without
        VM_NORESERVE (shmem_acct_size()).  O(1).
        """
        if self.kernel is not None and self.kernel.sysctl_overcommit_memory == OVERCOMMIT_ALWAYS:
            return True
        return pages <= self.totalram_pages

    def reserve(self, pfn: int, npages: int) -> None:
        """Set ``[pfn, pfn + npages)`` aside as device frames (no struct page behind them).

        RAM never hands those PFNs out, and a range that RAM or the zero page already uses
        is refused: on real hardware device memory and RAM never share a frame, which is
        what lets vm_normal_page()'s ``pfn == vm_pgoff + off`` rule tell them apart.
        O(d) for d devices.
        """
        end = pfn + npages
        if end > MAX_PFN:
            raise ValueError(f"device frames [{pfn:#x}, {end:#x}) pass the highest physical "
                             f"frame x86-64 can address ({MAX_PFN:#x})")
        if pfn <= ZERO_PFN < end or (pfn < HUGE_ZERO_PFN + HPAGE_PMD_NR
                                     and HUGE_ZERO_PFN < end):
            raise ValueError(f"device frames [{pfn:#x}, {end:#x}) include the zero page "
                             f"({ZERO_PFN:#x}) or the huge zero folio ({HUGE_ZERO_PFN:#x})")
        if pfn < self.next_pfn and end > _FIRST_RAM_PFN:
            raise ValueError(f"device frames [{pfn:#x}, {end:#x}) overlap RAM already in "
                             f"use (below {self.next_pfn:#x})")
        for lo, hi in self.reserved:
            if pfn < hi and lo < end:
                raise ValueError(f"device frames [{pfn:#x}, {end:#x}) overlap another "
                                 f"device's [{lo:#x}, {hi:#x})")
        self.reserved.append((pfn, end))

    def alloc_folio(self, order: int = 0) -> Folio:
        """folio_alloc(): a fresh folio of ``1 << order`` pages at a naturally aligned PFN
        (the buddy allocator's guarantee). O(d) for d device ranges.

        :raises OutOfMemory: when the pages would pass the machine's RAM
            (``totalram_pages``); the caller's fault then fails as VM_FAULT_OOM does.
        """
        n = 1 << order
        if self.nr_pages_allocated + n > self.totalram_pages:
            raise OutOfMemory(None, f"all {self.totalram_pages} pages of RAM are in use")
        self.nr_pages_allocated += n
        if order:
            self.next_pfn = (self.next_pfn + n - 1) & ~(n - 1)
        moved = bool(self.reserved)
        while moved:                          # step over device frames
            moved = False
            self.next_pfn = (self.next_pfn + n - 1) & ~(n - 1)
            for lo, hi in self.reserved:
                if lo < self.next_pfn + n and self.next_pfn < hi:
                    self.next_pfn, moved = hi, True
        f = Folio(self.next_pfn, f"folio{self.serial}", self, order)
        self.next_pfn += n
        self.serial += 1
        self.nr_allocated += 1
        return f

    def free_folio(self, folio: Folio) -> None:
        """folio_put() of the last reference. O(1)."""
        self.nr_allocated -= 1
        self.nr_pages_allocated -= 1 << folio.order
        folio.mapping = None
        if folio.order and self.kernel is not None:
            st = self.kernel.thp_stats[folio.order]
            st["nr_anon"] -= 1
            if folio.partially_mapped:
                st["nr_anon_partially_mapped"] -= 1
