"""struct vm_area_struct and the page-offset arithmetic rmap relies on.

Mirrors include/linux/mm_types.h (struct vm_area_struct), include/linux/pagemap.h:
linear_page_index(), mm/internal.h: vma_address(), include/linux/mm.h: vma_set_range(),
vma_is_anonymous(), and mm/vma.c's anon_vma_interval_tree_pre/post_update_vma().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from operator import attrgetter

from ..errors import ValidationError
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .anon_vma import AnonVMA, AnonVMAChain, avc_insert, avc_remove
from .vmflags import flag_names

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .file import File
    from .mm import MM
    from .ops import VMOperations

__all__ = ["VMA", "linear_page_index", "vma_address", "vma_set_range"]

EFAULT = -14


def _tree_key(name):
    """A read-only VMA field: read straight from the slot, assignment refused."""
    def refuse(self, value):
        raise AttributeError(f"{name} is a tree key: change it with mmap()/munmap()/"
                             "mprotect()/mremap(), not by assignment")
    # attrgetter reads the slot without a Python frame: these fields are read on every
    # lookup, merge test and rmap step.
    return property(attrgetter("_" + name), refuse, doc=f"``{name}`` (read-only).")


class VMA:
    """struct vm_area_struct: ``[vm_start, vm_end)``, ``vm_pgoff``, ``vm_flags``, links.

    ``vm_start``, ``vm_end`` and ``vm_pgoff`` are read-only: they are keys of the VMA tree,
    of ``i_mmap`` and of every avc, so they change only through the syscalls.
    """

    __slots__ = ("vm_mm", "_vm_start", "_vm_end", "_vm_pgoff", "vm_flags", "vm_file",
                 "vm_ops", "anon_vma", "anon_vma_chain", "id", "_prev", "_next", "_linked",
                 "__weakref__")

    def __init__(self, mm: MM, start: int, end: int, pgoff: int, flags: int,
                 file: File | None = None, vm_ops: VMOperations | None = None) -> None:
        self.vm_mm = mm
        self._vm_start, self._vm_end, self._vm_pgoff = start, end, pgoff
        self.vm_flags = flags
        self.vm_file = file
        self.vm_ops = vm_ops               # None: anonymous (vma_is_anonymous())
        self.anon_vma: AnonVMA | None = None
        self.anon_vma_chain: list[AnonVMAChain] = []   # newest first (the same_vma list)
        self.id = f"vma{mm.kernel._next_vma}"
        self._prev: VMA | None = None      # address-order neighbours while linked (MM)
        self._next: VMA | None = None
        self._linked = False               # in its mm's VMA tree
        mm.kernel._next_vma += 1

    vm_start = _tree_key("vm_start")
    vm_end = _tree_key("vm_end")
    vm_pgoff = _tree_key("vm_pgoff")

    @property
    def pages(self) -> int:
        """vma_pages(). O(1)."""
        return (self._vm_end - self._vm_start) >> PAGE_SHIFT

    def is_anonymous(self) -> bool:
        """vma_is_anonymous(): no vm_ops (includes private /dev/zero). O(1)."""
        return self.vm_ops is None

    def __repr__(self):
        return (f"<VMA {self.id} [{self._vm_start:#x}, {self._vm_end:#x}) "
                f"pgoff={self._vm_pgoff:#x} {flag_names(self.vm_flags)} "
                f"anon_vma={getattr(self.anon_vma, 'label', None)}>")


def linear_page_index(vma: VMA, addr: int) -> int:
    """The page offset of ``addr`` in ``vma``'s (possibly virtual anon) file.

    Model of include/linux/pagemap.h: linear_page_index() (v6.18); no range check, as in C.
    O(1).

    >>> from rmapkit import Kernel
    >>> from rmapkit.uapi import *
    >>> p = Kernel().spawn()
    >>> a = p.mmap(0x7f0000000000, 3 * 4096, PROT_READ | PROT_WRITE,
    ...            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    >>> vma = p.mm.find_vma(a)
    >>> hex(vma.vm_pgoff), hex(linear_page_index(vma, a + 2 * 4096))
    ('0x7f0000000', '0x7f0000002')
    """
    return ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff


def vma_address(vma: VMA, pgoff: int, nr_pages: int = 1) -> int:
    """The user address of page offset ``pgoff`` in ``vma``, or -EFAULT.

    Model of mm/internal.h: vma_address() (v6.18). O(1).
    """
    start = vma.vm_pgoff
    if pgoff >= start:
        addr = vma.vm_start + ((pgoff - start) << PAGE_SHIFT)
        return addr if vma.vm_start <= addr < vma.vm_end else EFAULT
    if pgoff + nr_pages - 1 >= start:
        return vma.vm_start
    return EFAULT


def vma_set_range(vma: VMA, start: int, end: int, pgoff: int) -> None:
    """Change a VMA's range and pgoff, re-keying the VMA tree, i_mmap and every avc.

    Model of include/linux/mm.h: vma_set_range() wrapped in mm/vma.c's vma_prepare() /
    vma_complete() (anon_vma_interval_tree_pre_update_vma() and _post_update_vma()).
    O(c log n) for c avcs.
    """
    if start >= end or start & (PAGE_SIZE - 1) or end & (PAGE_SIZE - 1):
        raise ValidationError(f"vma_set_range({vma.id}): bad range [{start:#x}, {end:#x})")
    mm = vma.vm_mm
    if mm.pmds:
        # vma_adjust_trans_huge(): a huge PMD a new boundary would cut is split first.
        from .thp import split_huge_pmd_address
        split_huge_pmd_address(mm, start)
        split_huge_pmd_address(mm, end)
    for avc in vma.anon_vma_chain:
        avc_remove(avc)
    mapping = vma.vm_file.f_mapping if vma.vm_file is not None else None
    in_i_mmap = mapping is not None and vma in mapping.i_mmap
    if in_i_mmap:
        mapping.i_mmap.remove(vma)

    if vma._linked:
        mm._tree_move(vma, start, end, pgoff)
    else:
        vma._vm_start, vma._vm_end, vma._vm_pgoff = start, end, pgoff
    if in_i_mmap:
        mapping.i_mmap.insert(vma, pgoff, pgoff + vma.pages - 1)
    for avc in vma.anon_vma_chain:
        avc_insert(avc)
