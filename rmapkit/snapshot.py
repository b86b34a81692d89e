"""Plain data views of an address space, shared by the model, the live kernel and renderers.

A ``Snapshot`` is what can be said about some processes at one instant: their VMAs, every
page in them, and (from the model only) the anon_vmas, folios and address_spaces behind
them.  The model (``Kernel.snapshot()``) and the live oracle (``rmapkit.live``) produce the
same shape, so the comparison and the renderers never need to know which one they read.

Conventions
-----------
* Fields a source cannot observe are ``None`` (the live kernel cannot see ``anon_vma`` or
  ``folio->index``; ``Snapshot.unknown`` says why).
* Objects are named by stable labels, never by memory addresses: processes ``"P0"``, VMAs
  ``"vma3"`` (model serial numbers, kept across operations so before/after views can match
  structs), anon_vmas ``"av1"``, struct files ``"file2"``, folios ``"folio5"``.
* Physical frames are compared through ``PageView.frame``: ``"zero"`` for the shared zero
  page, otherwise ``"f0"``, ``"f1"``… numbered in order of first appearance (processes in
  order, pages in address order), so two processes sharing a frame show the same label in
  the model and in the kernel even though the PFNs differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rmapkit.uapi import PAGE_SHIFT

__all__ = [
    "VMAView", "PageView", "ProcessView", "AVCView", "AnonVMAView", "FolioView",
    "AddressSpaceView", "Snapshot", "number_frames", "WINDOW_BASE",
]

# Where the book's and the scenarios' window starts (page 0): 32 TiB, 2 MiB aligned, far
# below mmap_base.  Defined here, the bottom layer, so that renderers can number pages from
# it without importing rmapkit.scenarios (which re-exports it as BASE).
WINDOW_BASE = 0x200000000000


@dataclass(frozen=True)
class VMAView:
    """One vm_area_struct as /proc/PID/maps and smaps show it, plus model-only links."""

    vm_start: int
    vm_end: int
    perms: str                      # "rw-p", as the maps permission column
    offset: int                     # the maps offset column, in bytes (0 for anon memory)
    name: str                       # the maps pathname column ("" for anon memory)
    vm_flags: tuple[str, ...]       # smaps VmFlags mnemonics, kernel order
    vm_pgoff: int | None = None     # model only: anon pgoff is not shown by maps
    id: str | None = None           # model only: "vma3", stable while the struct lives
    anon_vma: str | None = None     # model only: label of vma->anon_vma, None if unset
    anon_vma_chain: tuple[str, ...] = ()  # model only: anon_vma labels of the avcs, newest first
    file: str | None = None         # model only: label of vm_file, the struct file ("file2")
    mapping: str | None = None      # model only: label of vm_file->f_mapping ("as102"); two
                                    # open()s of one path are two files with one mapping
    anon_huge_pages: int | None = None  # smaps AnonHugePages in kB: 2048 per PMD-mapped THP

    @property
    def pages(self) -> int:
        return (self.vm_end - self.vm_start) >> PAGE_SHIFT


@dataclass(frozen=True)
class PageView:
    """One virtual page: what pagemap/kpageflags/kpagecount say, or what the model knows."""

    addr: int
    present: bool | None
    frame: str | None = None        # normalised frame identity, see module doc
    pfn: int | None = None          # raw PFN (model PFNs are not real ones; not compared)
    anon: bool | None = None        # kpageflags KPF_ANON
    zero_page: bool | None = None   # kpageflags KPF_ZERO_PAGE
    exclusive: bool | None = None   # pagemap bit 56: the page is mapped exactly once
    mapcount: int | None = None     # /proc/kpagecount (0 for the zero page)
    pfnmap: bool | None = None      # a raw PFN installed by remap_pfn_range (no struct page)
    index: int | None = None        # model only: page_pgoff(folio, page)
    mapping: str | None = None      # model only: "av1" or "as102" (folio->mapping)
    folio: str | None = None        # model only: "folio5"
    anon_exclusive: bool | None = None  # model only: PageAnonExclusive
    thp: bool | None = None         # kpageflags KPF_THP: a page of a large folio (any size)
    compound: str | None = None     # kpageflags: "head" (KPF_COMPOUND_HEAD), "tail" or ""
    order: int | None = None        # order of the folio holding the page (head + its tails)
    pmd: bool | None = None         # mapped by a huge PMD (PAGEMAP_SCAN PAGE_IS_HUGE)


@dataclass(frozen=True)
class ProcessView:
    """One process: its VMAs in address order and every page inside them."""

    name: str
    vmas: tuple[VMAView, ...]
    pages: tuple[PageView, ...]


@dataclass(frozen=True)
class AVCView:
    """One anon_vma_chain: links ``vma`` (of ``process``) into ``anon_vma``'s interval tree."""

    process: str
    vma: str
    anon_vma: str
    start_pgoff: int                # avc_start_pgoff(): vma->vm_pgoff
    last_pgoff: int                 # avc_last_pgoff(): vm_pgoff + pages - 1


@dataclass(frozen=True)
class AnonVMAView:
    """One struct anon_vma with its interval tree of avcs (in key order)."""

    label: str
    root: str
    parent: str
    num_children: int
    num_active_vmas: int
    refcount: int
    avcs: tuple[AVCView, ...]


@dataclass(frozen=True)
class FolioView:
    """One folio: where it lives and how rmap finds it."""

    label: str
    pfn: int
    nr_pages: int
    index: int
    mapping: str | None             # "av1" / "as102" / None (zero page)
    anon: bool
    mapcount: int                   # folio_mapcount(): _large_mapcount of a large folio
    anon_exclusive: tuple[bool, ...]
    order: int = 0
    entire_mapcount: int = 0        # PMD mappings
    page_mapcounts: tuple[int, ...] = ()  # PTE mappings of each page (large folios)
    partially_mapped: bool = False  # PG_partially_mapped (deferred split)
    maybe_shared: bool = False      # folio_maybe_mapped_shared()


@dataclass(frozen=True)
class AddressSpaceView:
    """One struct address_space: its i_mmap interval tree and page cache."""

    label: str                      # the address_space's label ("as102"), = VMAView.mapping
    name: str                       # path, "memfd:x", "/dev/zero (deleted)"
    i_mmap: tuple[tuple[str, str, int, int], ...]  # (process, vma id, first pgoff, last pgoff)
    pages: tuple[tuple[int, str], ...]             # (index, folio label), by index


@dataclass(frozen=True)
class Snapshot:
    """Everything observed at one instant; ``source`` is ``"model"`` or ``"live"``."""

    source: str
    processes: tuple[ProcessView, ...]
    window: tuple[int, int] | None = None   # only VMAs/pages inside it were recorded
    anon_vmas: tuple[AnonVMAView, ...] = ()
    folios: tuple[FolioView, ...] = ()
    address_spaces: tuple[AddressSpaceView, ...] = ()
    unknown: dict = field(default_factory=dict)  # field name -> why it is not observable
    # THP event counters since the run began ("hugepages-64kB/anon_fault_alloc": 1, ...;
    # see rmapkit.live.thp.COUNTERS); empty when not recorded.
    counters: dict = field(default_factory=dict)

    def process(self, name: str) -> ProcessView:
        for p in self.processes:
            if p.name == name:
                return p
        raise KeyError(name)


def number_frames(keys: Iterable[int | str | None]) -> list[str | None]:
    """Map raw frame keys (PFNs, or ``"zero"``) to labels ``f0, f1, …`` by first appearance.

    ``keys`` is an iterable in snapshot order; ``None`` (not present) and ``"zero"`` are kept.
    """
    labels = {}
    out = []
    for k in keys:
        if k is None or k == "zero":
            out.append(k)
            continue
        if k not in labels:
            labels[k] = f"f{len(labels)}"
        out.append(labels[k])
    return out
