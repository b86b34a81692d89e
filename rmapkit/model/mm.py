"""struct mm_struct: the VMA tree, the page tables and address-space placement.

Mirrors include/linux/mm_types.h (mm_struct: mm_mt, map_count, mmap_base), mm/mmap.c:
find_vma(), find_vma_prev(), vma_lookup(), __get_unmapped_area(),
arch/x86/kernel/sys_x86_64.c: arch_get_unmapped_area_topdown() and mm/huge_memory.c:
__thp_get_unmapped_area().  The maple tree is a ``SortedKeyList`` keyed on ``vm_start``
(VMAs never overlap, so that order is also the ``vm_end`` order); page tables are one
``SortedDict`` from page address to PTE, so range walks touch only present entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bisect import bisect_left, bisect_right, insort
from operator import attrgetter

from sortedcontainers import SortedDict, SortedKeyList, SortedList

from ..uapi import MAP_SHARED, PAGE_SHIFT, PAGE_SIZE

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .file import File
    from .folio import Folio
    from .kernel import Kernel, Process
    from .vma import VMA

__all__ = ["MM", "PTE", "PMD", "TASK_SIZE", "PMD_SIZE", "PMD_SHIFT", "DEFAULT_MMAP_BASE"]

TASK_SIZE = (1 << 47) - PAGE_SIZE          # x86-64, 4-level paging: TASK_SIZE_MAX
PMD_SHIFT = 21
PMD_SIZE = 1 << PMD_SHIFT
DEFAULT_MMAP_BASE = 0x7ffff7fff000          # a fixed mmap_base: the model does no ASLR
_GAP_LIST_MAX = 1024                        # see MM._gaps


class PTE:
    """A present page-table entry: the folio (or raw ``pfn``), writability, special bit.

    A PMD mapping of a 2 MiB folio is kept as 512 entries that all point at one ``PMD``
    (``pmd``): range walks then see every page, and the PMD says how it is mapped.
    """

    __slots__ = ("folio", "pfn", "writable", "special", "pmd")

    def __init__(self, folio: Folio | None, pfn: int, writable: bool,
                 special: bool = False, pmd: PMD | None = None) -> None:
        self.folio = folio               # None for a raw PFN installed by remap_pfn_range()
        self.pfn = pfn
        self.writable = writable
        self.special = special           # pte_special(): zero page and remapped PFNs
        self.pmd = pmd                   # the PMD this page is mapped through, or None


class PMD:
    """A huge PMD entry mapping the 2 MiB block at ``haddr`` (pmd_trans_huge()): a PMD THP
    or the huge zero folio.  Its writability is that of its 512 entries."""

    __slots__ = ("folio", "haddr")

    def __init__(self, folio, haddr):
        self.folio = folio
        self.haddr = haddr

    def __repr__(self):
        return f"<PMD {self.haddr:#x} -> {self.folio.label}>"


class _VMATree(SortedKeyList):
    """The maple tree's stand-in: VMAs sorted by ``vm_start``, plus the two queries the
    model asks most, written against SortedKeyList's sublists (``_lists``, ``_keys``,
    ``_maxes``, stable since sortedcontainers 2.0; pinned <3 in pyproject.toml) because the
    generic ``irange_key()`` builds an iterator chain for every answer."""

    def __init__(self):
        super().__init__(key=attrgetter("_vm_start"))

    def floor(self, key):
        """The VMA with the highest vm_start <= ``key``, or None.  O(log n)."""
        maxes = self._maxes
        if not maxes:
            return None
        pos = bisect_right(maxes, key)
        if pos == len(maxes):
            return self._lists[-1][-1]
        idx = bisect_right(self._keys[pos], key)
        if idx:
            return self._lists[pos][idx - 1]
        return self._lists[pos - 1][-1] if pos else None

    def rekey(self, vma, old, new):
        """Record that ``vma``'s vm_start changed from ``old`` to ``new`` where the order
        does not change (it stays between the same neighbours).  O(log n), no re-sort."""
        maxes, keys = self._maxes, self._keys
        pos = bisect_left(maxes, old)
        sub = keys[pos]
        idx = bisect_left(sub, old)
        if self._lists[pos][idx] is not vma:
            raise AssertionError(f"VMA tree: {vma!r} is not at key {old:#x}")
        sub[idx] = new
        if idx == len(sub) - 1:
            maxes[pos] = new


class MM:
    """struct mm_struct of one process."""

    def __init__(self, kernel: Kernel, owner: Process) -> None:
        self.kernel = kernel
        self.owner = owner
        self._tree = _VMATree()
        self._first = None                   # the lowest VMA (head of the _next links)
        # The free gaps between VMAs, by size class (floor(log2(size))): class -> sorted
        # (end, start).  The maple tree keeps the largest gap of every subtree for
        # unmapped_area_topdown(); this index answers the same question without a walk.
        # Tree changes only note gaps that appear (+1) and vanish (-1) in _gap_pending;
        # sync_gaps() applies the net change once per syscall, so a gap removed and
        # re-added within one call (a split, a merge, a VMA whose far edge stays put)
        # never touches the sorted lists.
        # A size class is a plain sorted list (one C-level insort per change) until it
        # holds more than _GAP_LIST_MAX gaps, then a SortedList (O(log n) at any size).
        self._gaps = {TASK_SIZE.bit_length() - 1: [(TASK_SIZE, 0)]}
        self._gap_pending = {}
        self.pgtable = SortedDict()          # page address -> PTE
        # Huge PMDs by their 2 MiB-aligned address, and the 2 MiB blocks (addr >> 21) that
        # own a PTE table: a fault tries a PMD only where there is neither (pmd_none()).
        self.pmds = {}
        self.pte_tables = set()
        self.map_count = 0
        self.mmap_base = kernel.mmap_base
        self.mmap_min_addr = kernel.mmap_min_addr

    def __repr__(self):
        return f"<MM of {self.owner.name} map_count={self.map_count}>"

    # -- the VMA tree (maple tree) ------------------------------------------------
    # Each linked VMA also carries _prev/_next links in address order (the maple tree's
    # neighbours), so the neighbour of a VMA never needs a tree search.  Each change
    # notes the free gaps it ends (-1) and makes (+1) in _gap_pending; empty gaps are not
    # gaps.  A gap that would be negative means VMAs overlap: a bug, never an errno.
    def _tree_add(self, vma):
        start, end = vma._vm_start, vma._vm_end
        below = self._tree.floor(start)
        above = below._next if below is not None else self._first
        lo = below._vm_end if below is not None else 0
        hi = above._vm_start if above is not None else TASK_SIZE
        if start < lo or hi < end:
            raise AssertionError(f"{vma!r} overlaps a linked VMA in [{lo:#x}, {hi:#x})")
        pending = self._gap_pending
        if hi > lo:                                   # [lo, hi) -> [lo, start) + [end, hi)
            pending[lo, hi] = pending.get((lo, hi), 0) - 1
        if start > lo:
            pending[lo, start] = pending.get((lo, start), 0) + 1
        if hi > end:
            pending[end, hi] = pending.get((end, hi), 0) + 1
        self._tree.add(vma)
        vma._linked = True
        vma._prev, vma._next = below, above
        if below is not None:
            below._next = vma
        else:
            self._first = vma
        if above is not None:
            above._prev = vma

    def _tree_remove(self, vma):
        self._tree.remove(vma)
        vma._linked = False
        below, above = vma._prev, vma._next
        if below is not None:
            below._next = above
            lo = below._vm_end
        else:
            self._first = above
            lo = 0
        if above is not None:
            above._prev = below
            hi = above._vm_start
        else:
            hi = TASK_SIZE
        vma._prev = vma._next = None
        start, end = vma._vm_start, vma._vm_end
        pending = self._gap_pending
        if start > lo:                                # [lo, start) + [end, hi) -> [lo, hi)
            pending[lo, start] = pending.get((lo, start), 0) - 1
        if hi > end:
            pending[end, hi] = pending.get((end, hi), 0) - 1
        if hi > lo:
            pending[lo, hi] = pending.get((lo, hi), 0) + 1

    def _tree_move(self, vma, start, end, pgoff):
        """Set a linked VMA's range and pgoff (for vma_set_range()); it must stay between
        the same neighbours (vma_set_range() only shrinks a VMA or grows it into free
        space), so its place in the tree does not change.  O(log n)."""
        below, above = vma._prev, vma._next
        lo = below._vm_end if below is not None else 0
        hi = above._vm_start if above is not None else TASK_SIZE
        old_start, old_end = vma._vm_start, vma._vm_end
        vma._vm_start, vma._vm_end, vma._vm_pgoff = start, end, pgoff
        if start < lo or hi < end:
            raise AssertionError(f"{vma!r} grew over a neighbour in [{lo:#x}, {hi:#x})")
        pending = self._gap_pending
        if start != old_start:                        # [lo, old_start) -> [lo, start)
            self._tree.rekey(vma, old_start, start)
            if old_start > lo:
                pending[lo, old_start] = pending.get((lo, old_start), 0) - 1
            if start > lo:
                pending[lo, start] = pending.get((lo, start), 0) + 1
        if end != old_end:                            # [old_end, hi) -> [end, hi)
            if hi > old_end:
                pending[old_end, hi] = pending.get((old_end, hi), 0) - 1
            if hi > end:
                pending[end, hi] = pending.get((end, hi), 0) + 1

    # -- the free gaps ------------------------------------------------------------
    def sync_gaps(self) -> None:
        """Apply the gap changes noted since the last call to the free-gap index.

        Called at the end of every syscall (Process) and before a placement search.
        O(g log n) for the g gaps that really changed.
        """
        pending = self._gap_pending
        if not pending:
            return
        gaps = self._gaps
        for (start, end), n in pending.items():
            if not n:
                continue
            c = (end - start).bit_length() - 1
            gap = (end, start)
            sizeclass = gaps.get(c)
            if n == 1:
                if sizeclass is None:
                    gaps[c] = [gap]
                elif sizeclass.__class__ is list:
                    insort(sizeclass, gap)
                    if len(sizeclass) > _GAP_LIST_MAX:
                        gaps[c] = SortedList(sizeclass)
                else:
                    sizeclass.add(gap)
            elif n == -1:
                if sizeclass.__class__ is list:
                    i = bisect_left(sizeclass, gap)
                    if sizeclass[i] != gap:
                        raise AssertionError(f"gap [{start:#x}, {end:#x}) is not indexed")
                    del sizeclass[i]
                else:
                    sizeclass.remove(gap)
                    if len(sizeclass) < _GAP_LIST_MAX // 4:
                        gaps[c] = list(sizeclass)
                if not sizeclass:
                    del gaps[c]
            else:
                raise AssertionError(f"gap [{start:#x}, {end:#x}) added {n:+d} times net")
        pending.clear()

    @property
    def vmas(self) -> list[VMA]:
        """The VMAs in address order (a copy).  O(n)."""
        return list(self._tree)

    def _at_or_below(self, addr):
        """The VMA with the highest vm_start <= addr, or None. O(log n)."""
        return self._tree.floor(addr)

    def _above(self, addr):
        """The VMA with the lowest vm_start > addr, or None. O(log n)."""
        v = self._tree.floor(addr)
        return v._next if v is not None else self._first

    def find_vma(self, addr: int) -> VMA | None:
        """The first VMA with ``vm_end > addr``, or None.  Model of mm/mmap.c: find_vma(). O(log n)."""
        v = self._at_or_below(addr)
        if v is not None and v.vm_end > addr:
            return v
        return v._next if v is not None else self._first

    def vma_lookup(self, addr: int) -> VMA | None:
        """The VMA containing ``addr``, or None.  Model of include/linux/mm.h: vma_lookup(). O(log n)."""
        v = self._at_or_below(addr)
        return v if v is not None and v.vm_end > addr else None

    def find_vma_prev(self, addr: int) -> tuple[VMA | None, VMA | None]:
        """``(find_vma(addr), the VMA before it)``.  Model of mm/mmap.c: find_vma_prev(). O(log n)."""
        v = self._at_or_below(addr)
        if v is not None and v.vm_end > addr:
            return v, v._prev
        return (v._next if v is not None else self._first), v

    def vma_prev(self, vma: VMA) -> VMA | None:
        """The VMA before ``vma``.  Model of vma_prev(). O(1) for a linked VMA."""
        if vma._linked and vma.vm_mm is self:
            return vma._prev
        return self._tree.floor(vma.vm_start - 1)

    def vma_next(self, vma: VMA) -> VMA | None:
        """The VMA after ``vma``.  Model of vma_next(). O(1) for a linked VMA."""
        if vma._linked and vma.vm_mm is self:
            return vma._next
        return self._above(vma.vm_start)

    def vmas_in(self, start: int, end: int) -> list[VMA]:
        """The VMAs overlapping ``[start, end)``, in order (a list).  O(log n + k)."""
        v = self.find_vma(start)
        out = []
        while v is not None and v.vm_start < end:
            out.append(v)
            v = v._next
        return out

    # -- page tables ------------------------------------------------------------
    def ptes_in(self, start: int, end: int) -> list[tuple[int, PTE]]:
        """``[(addr, PTE)]`` for present PTEs in ``[start, end)``.  O(log P + k)."""
        pt = self.pgtable
        return [(a, pt[a]) for a in pt.irange(start, end - 1)]

    # -- placement --------------------------------------------------------------
    def range_is_free(self, addr: int, length: int) -> bool:
        """No VMA intersects ``[addr, addr+length)``.  O(log n)."""
        v = self.find_vma(addr)
        return v is None or v.vm_start >= addr + length

    def unmapped_area_topdown(self, length: int) -> int | None:
        """Highest free ``length`` bytes below mmap_base, or None.

        Model of mm/vma.c: unmapped_area_topdown() without stack guard gaps (MAP_GROWSDOWN
        is not modelled).  The kernel finds the gap through the maple tree's per-subtree
        largest gap; the model keeps the gaps by size class: in every class whose gaps
        all fit, the highest gap below mmap_base is one lookup.  Cost: O(log n) per size
        class (at most 47), plus the too-small gaps of the request's own class that lie
        above the answer.
        """
        high, low = self.mmap_base, max(PAGE_SIZE, self.mmap_min_addr)
        if high - low < length:
            return None
        self.sync_gaps()                          # mid-syscall (mremap after its unmaps)
        # The gap that holds mmap_base itself is usable up to mmap_base: the best answer.
        below = self._at_or_below(high - 1)
        gs = below.vm_end if below is not None else 0
        if gs < high:
            above = self._above(high - 1)
            ge = above.vm_start if above is not None else TASK_SIZE
            if ge > high and high - max(gs, low) >= length:
                return high - length
        best = None
        for c, gaps in self._gaps.items():
            if (2 << c) - 1 < length:
                continue                          # every gap of this class is too small
            if gaps.__class__ is list:
                i = bisect_right(gaps, (high, TASK_SIZE))
                descending = (gaps[j] for j in range(i - 1, -1, -1))
            else:
                descending = gaps.irange(maximum=(high, TASK_SIZE), reverse=True)
            for end, start in descending:
                if best is not None and end - length <= best:
                    break                         # cannot beat what another class found
                if end - max(start, low) >= length:
                    best = end - length
                    break
                if end < low + length:
                    break                         # every lower gap is clipped by low
        return best

    def _generic_area(self, addr, length):
        """mm_get_unmapped_area(): a free hint, else the highest gap below mmap_base."""
        if addr:
            addr = (addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            if TASK_SIZE - length >= addr >= self.mmap_min_addr and \
                    self.range_is_free(addr, length):
                return addr
        return self.unmapped_area_topdown(length)

    def _thp_area(self, addr, length, off):
        """Model of mm/huge_memory.c: __thp_get_unmapped_area() (v6.18): when the range
        holds a whole PMD-aligned block of the file, search ``length + PMD_SIZE`` and place
        the mapping so that address and file offset agree modulo 2 MiB; None if not."""
        off_end, off_align = off + length, -(-off // PMD_SIZE) * PMD_SIZE
        if off_end <= off_align or off_end - off_align < PMD_SIZE:
            return None
        ret = self._generic_area(addr, length + PMD_SIZE)
        if ret is None:
            return None
        if addr and ret == ((addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)):
            return ret                          # the hint was free: keep it
        off_sub = (off - ret) & (PMD_SIZE - 1)
        return ret + PMD_SIZE if not off_sub else ret + off_sub

    def get_unmapped_area(self, file: File | None, addr: int, length: int, pgoff: int,
                          flags: int, fixed: bool, anon_shared: bool = False) -> int | None:
        """Choose where a new mapping goes (an address or None for ENOMEM).

        Model of mm/mmap.c: __get_unmapped_area() (v6.18) with x86-64's top-down
        allocator: MAP_FIXED takes ``addr`` as is; a free hint is honoured; otherwise the
        highest gap below mmap_base.  THP alignment (__thp_get_unmapped_area()): private
        anonymous lengths that are a multiple of 2 MiB when there is no hint, regular
        files on a disk file system (ext4/xfs use thp_get_unmapped_area()) and private
        /dev/zero.  tmpfs files and shmem objects are not aligned
        (shmem_get_unmapped_area(): shmem huge pages are "never" here).  O(log n) for fixed and
        hinted requests.
        """
        if length > TASK_SIZE:
            return None
        if fixed:
            return addr if addr <= TASK_SIZE - length else None
        f_op = file.f_op if file is not None else None
        # get_unmapped_area_zero() and __get_unmapped_area() test the MAP_SHARED bit
        # (MAP_SHARED_VALIDATE has it too).
        shared = flags & MAP_SHARED
        ret = None
        if f_op is not None and f_op.thp_get_unmapped_area and not (f_op.mmap_zero and shared):
            ret = self._thp_area(addr, length, pgoff << PAGE_SHIFT)
        elif file is None and not anon_shared and not addr and length % PMD_SIZE == 0:
            ret = self._thp_area(0, length, 0)
        return ret if ret is not None else self._generic_area(addr, length)
