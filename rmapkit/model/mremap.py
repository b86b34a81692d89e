"""mremap: growing, shrinking and moving mappings, and why a moved page keeps its index.

Mirrors mm/mremap.c (v6.17/6.18 ``struct vma_remap_struct`` structure):
check_mremap_params(), check_prep_vma(), remap_move() (multi-VMA moves, 6.17+),
mremap_to(), expand_vma_in_place(), move_vma(), dontunmap_complete(); and mm/vma.c:
copy_vma() with 6.18.y's vma_merge_copied_range() (``vmg->copied_from``).
A faulted anonymous VMA keeps its ``vm_pgoff`` when moved (its folios' ``index`` must stay
valid), so it merges at the destination only where pgoffs happen to line up; an unfaulted
one takes ``new_addr >> PAGE_SHIFT``.  ``old_len == 0`` on a shared mapping duplicates it
(the DOS-emu special case).  Lengths and addresses are C unsigned longs
(rmapkit.model.args): PAGE_ALIGN() and range ends wrap at 2**64 as in C.  Not modelled:
uffd, hugetlb, mlock population, KSM unmerging, page-table move failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import errno

from ..errors import syscall_error
from ..uapi import MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE, PAGE_SHIFT, PAGE_SIZE
from .anon_vma import anon_vma_clone, unlink_anon_vmas
from .merge import VMG, vm_area_dup, vma_link, vma_merge_new_range
from .args import ULONG_MAX
from .mm import PMD_SHIFT, PMD_SIZE, TASK_SIZE
from .mmap import PAGE_ALIGN, do_munmap, do_vmi_align_munmap, populate
from .thp import move_huge_pmd, split_huge_pmd
from .vma import vma_set_range
from .vmflags import (VM_ACCOUNT, VM_DONTEXPAND, VM_LOCKED, VM_LOCKED_MASK, VM_MAYSHARE, VM_PFNMAP,
                      VM_SHARED)

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .mm import MM
    from .vma import VMA

__all__ = ["do_mremap", "copy_vma"]

CALL = "mremap"


def _err(e, why):
    return syscall_error(e, CALL, why)


def copy_vma(vma: VMA, addr: int, length: int, pgoff: int) -> VMA:
    """Create (or merge into) the destination VMA of a move; returns it.

    Model of mm/vma.c: copy_vma() (6.18.y): an unfaulted anonymous VMA's pgoff becomes
    ``addr >> PAGE_SHIFT``; the destination merges with compatible neighbours with the
    source as ``copied_from``; otherwise a copy sharing the source's anon_vma and avcs
    is linked.  O(c log n).
    """
    mm = vma.vm_mm
    if vma.is_anonymous() and vma.anon_vma is None:
        pgoff = addr >> PAGE_SHIFT
    nxt, prev = mm.find_vma_prev(addr)
    vmg = VMG(mm, addr, addr + length, pgoff, vma.vm_flags, vma.vm_file, vma.anon_vma,
              prev=prev, next=nxt, copied_from=vma)
    new = vma_merge_new_range(vmg)
    if new is not None:
        return new
    new = vm_area_dup(vma)
    vma_set_range(new, addr, addr + length, pgoff)
    if vma.anon_vma_chain:
        anon_vma_clone(new, vma)
    vma_link(new)
    return new


def _calc_charge(vma, nbytes):
    """mm/mremap.c: vrm_calc_charge(): an accounted VMA that grows commits the new pages."""
    pages = nbytes >> PAGE_SHIFT
    if vma.vm_flags & VM_ACCOUNT and pages > 0 and \
            not vma.vm_mm.kernel.physmem.vm_enough_memory(pages):
        raise _err(errno.ENOMEM, f"cannot commit {pages} more pages (vm_enough_memory())")


def _move_vma(vma, old_addr, old_len, new_len, new_addr, flags):
    """mm/mremap.c: move_vma(): copy_vma(), move the PTEs, unmap (or keep) the source."""
    mm = vma.vm_mm
    if mm.map_count >= mm.kernel.sysctl_max_map_count - 3:
        raise _err(errno.ENOMEM, "moving would exceed vm.max_map_count")
    _calc_charge(vma, (new_len if flags & MREMAP_DONTUNMAP else new_len - old_len))
    pgoff = vma.vm_pgoff + ((old_addr - vma.vm_start) >> PAGE_SHIFT)
    vma_start = vma.vm_start
    new_vma = copy_vma(vma, new_addr, new_len, pgoff)
    merged_into_self = new_vma.vm_start <= vma_start < new_vma.vm_end
    # move_page_tables(): the PTEs (and so the folios, index untouched) change address.
    _move_page_tables(mm, old_addr, old_len, new_addr)
    if not old_len:
        # old_len 0 duplicates a shared mapping: unmap_source_vma() calls
        # do_vmi_munmap(len 0), which fails with EINVAL and is ignored; the source stays.
        pass
    elif flags & MREMAP_DONTUNMAP:
        src = mm.vma_lookup(old_addr)                        # dontunmap_complete()
        if src is not None:
            src.vm_flags &= ~VM_LOCKED_MASK
            if src is not new_vma and not merged_into_self and src.vm_start == old_addr \
                    and src.vm_end == old_addr + old_len:
                unlink_anon_vmas(src)
    else:
        do_vmi_align_munmap(mm, old_addr, old_addr + old_len)
    return new_addr


def _move_page_tables(mm, old_addr, old_len, new_addr):
    """Move the page-table entries of ``[old_addr, old_addr + old_len)`` to ``new_addr``.

    Model of mm/mremap.c: move_page_tables() (v6.18): a huge PMD whose whole block is in
    the range moves whole when the destination is equally aligned (move_huge_pmd()),
    otherwise it is split first and its PTEs move one by one; moved PTEs keep their
    folio, ``index``, mapcounts and PageAnonExclusive.  A destination block that gets
    PTEs gets a PTE table.  Not modelled: try_realign_addr().  O(k log P).
    """
    end = old_addr + old_len
    delta = new_addr - old_addr
    if mm.pmds:
        for haddr in sorted(h for h in mm.pmds if h < end and h + PMD_SIZE > old_addr):
            pmd = mm.pmds[haddr]
            if old_addr <= haddr and haddr + PMD_SIZE <= end and not delta % PMD_SIZE:
                move_huge_pmd(mm, pmd, haddr + delta)
            else:
                split_huge_pmd(mm, pmd)
    # Every source block with a PTE table gives its extent's destination blocks one.
    tables = mm.pte_tables
    b0, b1 = old_addr >> PMD_SHIFT, (end - 1) >> PMD_SHIFT
    if b0 == b1:                                  # the usual case: one source block
        if b0 in tables:
            tables.add((old_addr + delta) >> PMD_SHIFT)
            tables.add((end - 1 + delta) >> PMD_SHIFT)
    elif tables:
        for b in range(b0, b1 + 1):
            if b in tables:
                lo = max(old_addr, b << PMD_SHIFT) + delta
                hi = min(end, (b + 1) << PMD_SHIFT) + delta - 1
                tables.add(lo >> PMD_SHIFT)
                if hi >> PMD_SHIFT != lo >> PMD_SHIFT:
                    tables.add(hi >> PMD_SHIFT)
    pt = mm.pgtable
    moved = [(a, pt[a]) for a in pt.irange(old_addr, end - 1)]
    for a, _ in moved:
        del pt[a]
    for a, pte in moved:
        pt[a + delta] = pte


def _check_prep_vma(vma, addr, old_len, new_len, flags, moving):
    """mm/mremap.c: check_prep_vma() for a VMA that will expand or move."""
    if not (new_len > old_len or moving):
        return
    if not old_len and not vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        raise _err(errno.EINVAL, "old_len 0 duplicates only shared mappings")
    if flags & MREMAP_DONTUNMAP and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise _err(errno.EINVAL, "MREMAP_DONTUNMAP of a VM_DONTEXPAND/VM_PFNMAP mapping")
    # remap_is_valid(): a shrink may cross VMA boundaries in the part it unmaps.
    checked = new_len if old_len > new_len else old_len
    if checked > vma.vm_end - addr:
        raise _err(errno.EFAULT, f"[{addr:#x}, +{checked:#x}) runs past the end of {vma.id}")
    if new_len <= old_len:
        return
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise _err(errno.EFAULT, f"{vma.id} is VM_DONTEXPAND/VM_PFNMAP and cannot grow")


def _mremap_to(mm, vma, addr, old_len, new_len, flags, new_addr):
    """mm/mremap.c: mremap_to(): MREMAP_FIXED / MREMAP_DONTUNMAP moves."""
    if flags & MREMAP_FIXED:
        if mm.map_count + 4 > mm.kernel.sysctl_max_map_count:
            raise _err(errno.ENOMEM, "not enough map_count headroom")
        do_munmap(mm, new_addr, new_len)
    if old_len > new_len:
        do_munmap(mm, addr + new_len, old_len - new_len)
        old_len = new_len
    # The unmaps may have split or freed the struct we were given: look it up again,
    # as mremap_to() does after vrm_set_new_addr()/munmap (vmi_needs_invalidate).
    if not (vma._linked and vma.vm_start <= addr < vma.vm_end):
        vma = mm.vma_lookup(addr)              # (VMAs never overlap: a linked one still
        if vma is None:                        # holding addr is what the lookup gives)
            raise _err(errno.EFAULT, f"{addr:#x} is not mapped")
    if not flags & MREMAP_FIXED:
        dest = mm.get_unmapped_area(vma.vm_file, new_addr, new_len, 0, 0, False)
        if dest is None:
            raise _err(errno.ENOMEM, "no free range for the destination")
        new_addr = dest
    return _move_vma(vma, addr, old_len, new_len, new_addr, flags)


def _vma_multi_allowed(vma):
    """mm/mremap.c: vma_multi_allowed(): anon, shmem and plain files may move in batches;
    a file whose f_op has its own get_unmapped_area (/dev/zero, devices) may not."""
    return vma.vm_file is None or not vma.vm_file.f_op.own_get_unmapped_area


def _remap_move(mm, addr, length, new_addr, flags):
    """A same-size MREMAP_FIXED move of every VMA in ``[addr, addr+length)``.

    Model of mm/mremap.c: remap_move() (6.17+): no gap may open the range, gaps between
    (and after) VMAs are kept at the destination; each piece is checked and moved in
    turn, so a failure on a later piece leaves the earlier ones moved, as in the kernel.
    O(k c log n).
    """
    end = addr + length
    pos, seen, res, last_end, target = addr, False, None, 0, new_addr
    while not (seen and pos >= end):           # nothing is left of a range moved away
        vma = mm.find_vma(pos)
        if vma is None or vma.vm_start >= end:
            break
        if not seen and addr < vma.vm_start:
            raise _err(errno.EFAULT, f"{addr:#x} is not mapped")
        s, e = max(vma.vm_start, pos), min(end, vma.vm_end)
        if s >= e:          # the last piece merged with a VMA reaching past ``end``
            break
        offset = vma.vm_start - last_end if seen else 0
        last_end = vma.vm_end
        if not _vma_multi_allowed(vma) and (seen or vma.vm_end < end):
            raise _err(errno.EFAULT, f"{vma.id} cannot be moved together with other VMAs")
        _check_prep_vma(vma, s, e - s, e - s, flags, True)
        r = _mremap_to(mm, vma, s, e - s, e - s, flags, target + offset)
        if not seen:
            res = r
        seen, target, pos = True, r + (e - s), e
    if not seen:
        raise _err(errno.EFAULT, f"{addr:#x} is not mapped")
    return res


def do_mremap(mm: MM, addr: int, old_len: int, new_len: int, flags: int,
              new_addr: int) -> int:
    """Resize and/or move a mapping; returns its (new) address.

    Model of mm/mremap.c: do_mremap() (v6.18); a VM_LOCKED mapping that grew has its new
    pages populated (``vrm->populate_expand`` -> mm_populate()).  O(c log n) plus the
    PTEs moved.
    """
    old_size, new_size = PAGE_ALIGN(old_len), PAGE_ALIGN(new_len)
    vma = mm.vma_lookup(addr) if new_size > old_size else None
    locked = vma is not None and vma.vm_flags & VM_LOCKED
    res = _do_mremap(mm, addr, old_len, new_len, flags, new_addr)
    if locked:
        populate(mm, res + old_size, res + new_size)
    return res


def _do_mremap(mm, addr, old_len, new_len, flags, new_addr):
    if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        raise _err(errno.EINVAL, f"unknown flags {flags:#x}")
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        raise _err(errno.EINVAL, "MREMAP_FIXED needs MREMAP_MAYMOVE")
    if flags & MREMAP_DONTUNMAP and not flags & MREMAP_MAYMOVE:
        raise _err(errno.EINVAL, "MREMAP_DONTUNMAP needs MREMAP_MAYMOVE")
    if addr & (PAGE_SIZE - 1):
        raise _err(errno.EINVAL, "old_address is not page aligned")
    old_len, new_len = PAGE_ALIGN(old_len), PAGE_ALIGN(new_len)
    if not new_len:
        raise _err(errno.EINVAL, "new_size is 0")
    if new_len > TASK_SIZE:
        raise _err(errno.EINVAL, "new_size too large")
    implies_new = bool(flags & (MREMAP_FIXED | MREMAP_DONTUNMAP))
    if implies_new:
        if new_addr > TASK_SIZE - new_len or new_addr & (PAGE_SIZE - 1):
            raise _err(errno.EINVAL, "bad new_address")
        if flags & MREMAP_DONTUNMAP and old_len != new_len:
            raise _err(errno.EINVAL, "MREMAP_DONTUNMAP cannot resize")
        # vrm_overlaps() compares C unsigned longs: an end past 2**64 wraps.
        if (addr + old_len) & ULONG_MAX > new_addr and new_addr + new_len > addr:
            raise _err(errno.EINVAL, "old and new ranges overlap")
    if flags & MREMAP_FIXED and old_len == new_len:
        return _remap_move(mm, addr, old_len, new_addr, flags)
    vma = mm.vma_lookup(addr)
    if vma is None:
        raise _err(errno.EFAULT, f"{addr:#x} is not mapped")
    _check_prep_vma(vma, addr, old_len, new_len, flags, implies_new)
    if implies_new:
        return _mremap_to(mm, vma, addr, old_len, new_len, flags, new_addr)
    if old_len == new_len:
        return addr
    if old_len > new_len:
        do_munmap(mm, addr + new_len, old_len - new_len)
        return addr
    delta = new_len - old_len
    if addr + old_len == vma.vm_end and mm.range_is_free(vma.vm_end, delta) and \
            vma.vm_end + delta <= TASK_SIZE:
        # expand_vma_in_place(): vrm_calc_charge(), then vma_merge_extend() with
        # prev = the VMA itself.
        _calc_charge(vma, delta)
        vmg = VMG(mm, vma.vm_end, vma.vm_end + delta, vma.vm_pgoff + vma.pages,
                  vma.vm_flags, vma.vm_file, vma.anon_vma, prev=vma,
                  next=mm.vma_next(vma))
        if vma_merge_new_range(vmg) is None:
            raise _err(errno.ENOMEM, f"{vma.id} cannot be extended in place")
        return addr
    if not flags & MREMAP_MAYMOVE:
        raise _err(errno.ENOMEM, "no room to grow in place and MREMAP_MAYMOVE not given")
    dest = mm.get_unmapped_area(vma.vm_file, 0, new_len, 0, 0, False)
    if dest is None:
        raise _err(errno.ENOMEM, "no free range for the destination")
    return _move_vma(vma, addr, old_len, new_len, dest, flags)
