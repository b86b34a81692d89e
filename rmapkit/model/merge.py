"""Merging and splitting VMAs: when two VMAs become one, and how one becomes two.

Mirrors mm/vma.c as of v6.18.y (January 2026 stable, with ``vmg->copied_from``):
is_mergeable_vma(), is_mergeable_anon_vma(), can_vma_merge_left/right(),
vma_merge_new_range(), vma_expand(), vma_merge_existing_range(), vma_modify(),
dup_anon_vma(), __split_vma(), split_vma().  Not modelled: mempolicy, userfaultfd
contexts, anon_vma names (all VMAs carry the defaults, which always compare equal), and
``vm_ops->close`` (no modelled driver has one, so can_merge_remove_vma() is always true).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import errno

from ..errors import syscall_error
from ..uapi import PAGE_SHIFT
from .anon_vma import anon_vma_clone, unlink_anon_vmas
from .vma import VMA, vma_set_range
from .vmflags import VM_SOFTDIRTY, VM_SPECIAL

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .mm import MM

__all__ = ["VMG", "VMA_MERGE_START", "VMA_MERGE_NOMERGE", "VMA_MERGE_SUCCESS",
           "vma_merge_new_range", "vma_merge_existing_range", "vma_modify",
           "split_vma", "__split_vma", "vma_is_fork_child", "remove_vma_from_mm",
           "vma_link", "vm_area_dup"]


# mm/vma.h: enum vma_merge_state (VMA_MERGE_ERROR_NOMEM is never reached: the model's
# allocations do not fail).
VMA_MERGE_START = "VMA_MERGE_START"
VMA_MERGE_NOMERGE = "VMA_MERGE_NOMERGE"
VMA_MERGE_SUCCESS = "VMA_MERGE_SUCCESS"


class VMG:
    """struct vma_merge_struct: the proposed range and attributes of a merge, and ``state``,
    the outcome of the last merge attempt (VMA_MERGE_*), as the kernel's VMA tests assert it.

    Every field is one the merge rules read; the kernel's ``vm_ops``-free comparison
    (is_mergeable_vma() compares files, not vm_ops) needs no ``vm_ops`` here.
    """

    __slots__ = ("mm", "start", "end", "pgoff", "flags", "file", "anon_vma", "prev", "next",
                 "middle", "copied_from", "state")

    def __init__(self, mm, start, end, pgoff, flags, file=None, anon_vma=None,
                 prev=None, next=None, middle=None, copied_from=None):
        self.mm, self.start, self.end, self.pgoff = mm, start, end, pgoff
        self.flags, self.file, self.anon_vma = flags, file, anon_vma
        self.prev, self.next, self.middle, self.copied_from = prev, next, middle, copied_from
        self.state = VMA_MERGE_START


def vma_is_fork_child(vma: VMA | None) -> bool:
    """A VMA whose chain has more than one avc: forked from a faulted parent, or
    inheriting such a chain through a split, an mremap copy or dup_anon_vma().

    Model of mm/vma.c: vma_is_fork_child() (6.18.y). O(1).
    """
    return vma is not None and vma.anon_vma is not None and len(vma.anon_vma_chain) != 1


def is_mergeable_vma(vmg: VMG, tgt: VMA) -> bool:
    """Flags (less VM_SOFTDIRTY), file identity, policy, uffd, name.  Model of is_mergeable_vma()."""
    return not ((tgt.vm_flags ^ vmg.flags) & ~VM_SOFTDIRTY) and tgt.vm_file is vmg.file


def is_mergeable_anon_vma(vmg: VMG, tgt: VMA) -> bool:
    """Can the proposed anon_vma and ``tgt``'s coexist in one VMA?

    Model of mm/vma.c: is_mergeable_anon_vma() (6.16+, with 6.18.y's copied_from check):
    an unfaulted side takes the other's anon_vma unless the faulted side is a fork child.
    O(1).
    """
    src_anon, tgt_anon = vmg.anon_vma, tgt.anon_vma
    if tgt_anon is None and src_anon is not None:
        return not vma_is_fork_child(vmg.middle) and not vma_is_fork_child(vmg.copied_from)
    if tgt_anon is not None and src_anon is None:
        return not vma_is_fork_child(tgt)
    return src_anon is tgt_anon


def _can_merge_left(vmg):
    """can_vma_merge_left() + can_vma_merge_after(): prev ends at start, pgoffs contiguous."""
    p = vmg.prev
    return (p is not None and p.vm_end == vmg.start and is_mergeable_vma(vmg, p)
            and is_mergeable_anon_vma(vmg, p) and p.vm_pgoff + p.pages == vmg.pgoff)


def _can_merge_right(vmg, can_left):
    """can_vma_merge_right() + can_vma_merge_before(), and prev/next anon compatibility."""
    n = vmg.next
    if n is None or vmg.end != n.vm_start or not is_mergeable_vma(vmg, n) \
            or not is_mergeable_anon_vma(vmg, n) \
            or n.vm_pgoff != vmg.pgoff + ((vmg.end - vmg.start) >> PAGE_SHIFT):
        return False
    if not can_left:
        return True
    a, b = vmg.prev.anon_vma, n.anon_vma           # are_anon_vmas_compatible(prev, next)
    return a is None or b is None or a is b


def dup_anon_vma(dst: VMA, src: VMA | None) -> None:
    """Give ``dst`` src's anon_vma (and avcs) if it has none.  Model of dup_anon_vma(). O(c log n)."""
    if src is not None and src.anon_vma is not None and dst.anon_vma is None:
        dst.anon_vma = src.anon_vma
        anon_vma_clone(dst, src)


def remove_vma_from_mm(vma: VMA) -> None:
    """Take ``vma`` out of the tree and its rmap trees (vma_complete()'s removal). O(c log n)."""
    mm = vma.vm_mm
    mm._tree_remove(vma)
    mm.map_count -= 1
    if vma.anon_vma is not None or vma.anon_vma_chain:
        unlink_anon_vmas(vma)                     # anon_vma_merge()
    if vma.vm_file is not None and vma in vma.vm_file.f_mapping.i_mmap:
        vma.vm_file.f_mapping.i_mmap.remove(vma)  # __remove_shared_vm_struct()


def vma_link(vma: VMA) -> None:
    """Insert a new VMA in the tree and in i_mmap.  Model of mm/vma.c: vma_link(). O(log n)."""
    mm = vma.vm_mm
    mm._tree_add(vma)
    mm.map_count += 1
    if vma.vm_file is not None:
        vma.vm_file.f_mapping.i_mmap.insert(vma, vma.vm_pgoff, vma.vm_pgoff + vma.pages - 1)


def vm_area_dup(vma: VMA, mm: MM | None = None) -> VMA:
    """A copy of ``vma``'s fields (not linked, no avcs).  Model of vm_area_dup(). O(1)."""
    new = VMA(mm if mm is not None else vma.vm_mm, vma.vm_start, vma.vm_end, vma.vm_pgoff, vma.vm_flags,
              vma.vm_file, vma.vm_ops)
    new.anon_vma = vma.anon_vma
    return new


def vma_merge_new_range(vmg: VMG) -> VMA | None:
    """Expand prev and/or next over a new range ``[start, end)``; the VMA kept, or None.

    Model of mm/vma.c: vma_merge_new_range() + vma_expand() (v6.18.y): callers are mmap,
    mremap's in-place growth and copy_vma().  O(c log n).
    """
    prev, nxt = vmg.prev, vmg.next
    vmg.state = VMA_MERGE_NOMERGE
    if vmg.flags & VM_SPECIAL or (prev is None and nxt is None):
        return None
    left = _can_merge_left(vmg)
    right = _can_merge_right(vmg, left)
    start, end, pgoff = vmg.start, vmg.end, vmg.pgoff
    target = None
    if right:
        end, target, pgoff = nxt.vm_end, nxt, nxt.vm_pgoff - ((vmg.end - vmg.start) >> PAGE_SHIFT)
    if left:
        start, target, pgoff = prev.vm_start, prev, prev.vm_pgoff
    if target is None:
        return None
    # vma_expand(): remove next if the expansion swallows it.
    remove = nxt if (right and target is not nxt) else None
    if remove is not None:
        dup_anon_vma(target, remove)
    dup_anon_vma(target, vmg.copied_from)         # 6.18.y: the moved VMA's anon state
    if remove is not None:
        remove_vma_from_mm(remove)
    vma_set_range(target, start, end, pgoff)
    vmg.state = VMA_MERGE_SUCCESS
    return target


def vma_merge_existing_range(vmg: VMG) -> VMA | None:
    """Merge ``[start, end)`` of ``vmg.middle``, whose attributes change, into prev/next.

    Model of mm/vma.c: vma_merge_existing_range() (v6.18.y): used by mprotect and madvise.
    Returns the VMA now covering the range, or None.  O(c log n).
    """
    mid, prev, start, end = vmg.middle, vmg.prev, vmg.start, vmg.end
    vmg.state = VMA_MERGE_NOMERGE
    left_side, right_side = start == mid.vm_start, end == mid.vm_end
    if vmg.flags & VM_SPECIAL or (not left_side and not right_side):
        return None
    merge_left = left_side and _can_merge_left(vmg)
    nxt = None
    if right_side:
        nxt = vmg.next = vmg.mm.vma_next(mid)
        merge_right = _can_merge_right(vmg, merge_left)
    else:
        merge_right = False
    if not merge_left and not merge_right:
        return None
    delete_mid = left_side and right_side
    vmg.state = VMA_MERGE_SUCCESS
    if merge_left and merge_right:
        dup_anon_vma(prev, nxt if nxt.anon_vma is not None else mid)
        new_end = nxt.vm_end
        remove_vma_from_mm(mid)
        remove_vma_from_mm(nxt)
        vma_set_range(prev, prev.vm_start, new_end, prev.vm_pgoff)
        return prev
    if merge_left:
        dup_anon_vma(prev, mid)
        if delete_mid:
            remove_vma_from_mm(mid)
        else:
            vma_set_range(mid, end, mid.vm_end, mid.vm_pgoff + ((end - mid.vm_start) >> PAGE_SHIFT))
        vma_set_range(prev, prev.vm_start, end, prev.vm_pgoff)
        return prev
    pglen = (end - start) >> PAGE_SHIFT
    dup_anon_vma(nxt, mid)
    if delete_mid:
        remove_vma_from_mm(mid)
    else:
        vma_set_range(mid, mid.vm_start, start, mid.vm_pgoff)
    vma_set_range(nxt, start, nxt.vm_end, nxt.vm_pgoff - pglen)
    return nxt


def __split_vma(vma: VMA, addr: int, new_below: int) -> VMA:
    """Split ``vma`` at ``addr``; the new struct takes the lower part iff ``new_below``.

    Model of mm/vma.c: __split_vma() (v6.18): the upper part's pgoff advances by the pages
    below ``addr``; both parts share the anon_vma and avcs.  Returns the new VMA.  O(c log n).
    """
    new = vm_area_dup(vma)
    if new_below:
        vma_set_range(new, vma.vm_start, addr, vma.vm_pgoff)
    else:
        vma_set_range(new, addr, vma.vm_end, vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT))
    if vma.anon_vma_chain:
        anon_vma_clone(new, vma)
    if new_below:
        vma_set_range(vma, addr, vma.vm_end, vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT))
    else:
        vma_set_range(vma, vma.vm_start, addr, vma.vm_pgoff)
    vma_link(new)
    return new


def split_vma(vma: VMA, addr: int, new_below: int, call: str) -> VMA:
    """__split_vma() refused with ENOMEM at the map_count limit.  Model of split_vma()."""
    mm = vma.vm_mm
    if mm.map_count >= mm.kernel.sysctl_max_map_count:
        raise syscall_error(errno.ENOMEM, call, "split would exceed vm.max_map_count")
    return __split_vma(vma, addr, new_below)


def vma_modify(mm: MM, prev: VMA | None, vma: VMA, start: int, end: int, new_flags: int,
               call: str) -> VMA:
    """Merge the changed range into a neighbour, or split so one VMA covers exactly it.

    Model of mm/vma.c: vma_modify() / vma_modify_flags() (v6.18.y).  Returns the VMA
    covering ``[start, end)``; the caller then sets its flags.  On a split failure the
    kernel keeps a split already made; so does the model.  O(c log n).
    """
    # A range touching neither end of the VMA cannot merge (vma_merge_existing_range()'s
    # first test): go straight to the splits.
    if start == vma.vm_start or end == vma.vm_end:
        vmg = VMG(mm, start, end, vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT),
                  new_flags, vma.vm_file, vma.anon_vma, prev=prev, middle=vma)
        merged = vma_merge_existing_range(vmg)
        if merged is not None:
            return merged
    if vma.vm_start < start:
        split_vma(vma, start, 1, call)
    if vma.vm_end > end:
        split_vma(vma, end, 0, call)
    return vma
