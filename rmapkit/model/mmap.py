"""mmap, munmap, mprotect and madvise on one mm.

Mirrors mm/mmap.c: do_mmap() (v6.18), mm/vma.c: __mmap_region(), do_vmi_munmap(),
vms_gather_munmap_vmas(); mm/mprotect.c: do_mprotect_pkey(), mprotect_fixup();
mm/madvise.c: madvise_walk_vmas(), madvise_update_vma(); mm/gup.c: populate_vma_page_range().
Errors are checked before anything changes, except where the kernel itself keeps partial
work (mprotect and madvise across a hole, a split made before a later failure), which the
model mirrors.  Not modelled: mseal, pkeys, hugetlb, MAP_GROWSDOWN stacks, mlock limits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import errno

from ..errors import SegmentationFault, syscall_error
from ..uapi import (MADV_COLD, MADV_COLLAPSE, MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP,
                    MADV_DONTFORK, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE,
                    MADV_GUARD_INSTALL, MADV_GUARD_REMOVE, MADV_HUGEPAGE,
                    MADV_KEEPONFORK, MADV_MERGEABLE, MADV_NOHUGEPAGE, MADV_NORMAL, MADV_PAGEOUT,
                    MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_RANDOM, MADV_REMOVE,
                    MADV_SEQUENTIAL, MADV_UNMERGEABLE, MADV_WILLNEED, MADV_WIPEONFORK,
                    MAP_ANONYMOUS, MAP_DENYWRITE, MAP_DROPPABLE, MAP_EXECUTABLE, MAP_FIXED,
                    MAP_FIXED_NOREPLACE, MAP_GROWSDOWN, MAP_HUGETLB, MAP_LOCKED, MAP_NONBLOCK,
                    MAP_NORESERVE, MAP_POPULATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE,
                    MAP_STACK, MAP_SYNC, MAP_TYPE,
                    PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, PROT_EXEC, PROT_GROWSDOWN, PROT_GROWSUP,
                    PROT_READ, PROT_SEM, PROT_WRITE)
from .args import PAGE_ALIGN, ULONG_MAX
from .fault import FAULT_FLAG_WRITE, handle_mm_fault, zap_page_range_single, zap_vma_pages
from .file import FMODE_READ, FMODE_WRITE
from .merge import VMG, remove_vma_from_mm, vma_link, vma_merge_new_range, vma_modify, __split_vma
from .mm import PMD_SHIFT, PMD_SIZE, TASK_SIZE
from .vma import VMA
from .thp import free_pgtables, madvise_collapse
from .vmflags import (VM_ACCOUNT, VM_DONTCOPY, VM_DONTDUMP, VM_EXEC, VM_HUGEPAGE,
                      VM_HUGETLB, VM_NOHUGEPAGE, VM_IO, VM_LOCKED, VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE,
                      VM_MAYWRITE, VM_NORESERVE, VM_PFNMAP, VM_RAND_READ, VM_READ, VM_SEQ_READ,
                      VM_SHARED, VM_SPECIAL, VM_SYNC, VM_WIPEONFORK, VM_WRITE, calc_vm_flag_bits,
                      calc_vm_prot_bits)

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .kernel import Process
    from .mm import MM

__all__ = ["do_mmap", "do_munmap", "do_mprotect", "do_madvise", "populate", "PAGE_ALIGN",
           "do_vmi_align_munmap"]

# PAGE_ALIGN() is rmapkit.model.args.PAGE_ALIGN (it wraps at 2**64, as C's does).
# include/linux/mman.h: the flags MAP_SHARED has always ignored; MAP_SHARED_VALIDATE
# refuses every other bit (EOPNOTSUPP) but MAP_SYNC on a FOP_MMAP_SYNC file (ext4).
MAP_UNINITIALIZED = 0x4000000
LEGACY_MAP_MASK = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE
                   | MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED
                   | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB)
MAX_ERRNO = 4095                                 # include/linux/err.h: IS_ERR_VALUE()


def round_hint_to_min(hint: int, mmap_min_addr: int) -> int:
    """A non-MAP_FIXED hint rounded *down* to its page, and up to mmap_min_addr.

    Model of mm/mmap.c: round_hint_to_min() (v6.18). O(1)."""
    hint &= PAGE_MASK & ULONG_MAX
    if hint and hint < mmap_min_addr:
        return PAGE_ALIGN(mmap_min_addr)
    return hint


def _accounted_pages(mm, start, end):
    """Pages of VM_ACCOUNT VMAs in ``[start, end)`` (vms->nr_accounted). O(log n + k)."""
    return sum((min(end, v.vm_end) - max(start, v.vm_start)) >> PAGE_SHIFT
               for v in mm.vmas_in(start, end) if v.vm_flags & VM_ACCOUNT)


def accountable_mapping(vm_flags: int) -> bool:
    """Private writable memory is charged (VM_ACCOUNT).  Model of mm/vma.h:
    accountable_mapping() (v6.18) without its hugetlbfs case (hugetlb is not modelled). O(1)."""
    return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE


def do_mmap(proc: Process, addr: int, length: int, prot: int, flags: int, fd: int,
            offset: int) -> int:
    """Create a mapping and return its address.

    Model of arch/x86/kernel/sys_x86_64.c: sys_mmap(), mm/mmap.c: ksys_mmap_pgoff(),
    do_mmap() and mm/vma.c: __mmap_region() (v6.18), checks in the kernel's order: offset
    alignment, the fd (EBADF), length 0 (EINVAL), the length rounded past 2**64 (ENOMEM),
    map_count, __get_unmapped_area() (ENOMEM, EINVAL; a MAP_FIXED address in the last
    page of the address space *is* IS_ERR_VALUE() and comes back as errno ``-addr``),
    MAP_FIXED_NOREPLACE (EEXIST), file_mmap_ok() (EOVERFLOW), the map type and file mode
    (EOPNOTSUPP, EACCES, EINVAL), then commit accounting (ENOMEM, vm_enough_memory()).
    Anon private memory gets ``vm_pgoff = addr >> PAGE_SHIFT`` (the virtual anon file),
    MAP_SHARED anon memory is a new shmem object with pgoff 0, MAP_FIXED unmaps what was
    there, and the new range merges with compatible neighbours (vma_merge_new_range()).
    All arguments arrive as C unsigned longs (rmapkit.model.args).  O(log n) plus the
    pages populated.
    """
    mm, k = proc.mm, proc.kernel
    call = "mmap"
    if offset & (PAGE_SIZE - 1):                 # sys_mmap(): off is an unsigned long
        raise syscall_error(errno.EINVAL, call, "offset is not a multiple of the page size")
    pgoff = offset >> PAGE_SHIFT
    anon = bool(flags & MAP_ANONYMOUS)
    file = None
    if not anon:                                 # ksys_mmap_pgoff(): fget(unsigned int fd)
        file = proc.fdget(fd & 0xffffffff, call)
        if flags & MAP_HUGETLB:
            raise syscall_error(errno.EINVAL, call, "MAP_HUGETLB on a file not on hugetlbfs")
    elif flags & MAP_HUGETLB:
        raise NotImplementedError("mmap(MAP_HUGETLB): hugetlb is not modelled")
    if length == 0:
        raise syscall_error(errno.EINVAL, call, "length is 0")
    if flags & MAP_FIXED_NOREPLACE:
        flags |= MAP_FIXED
    fixed = bool(flags & MAP_FIXED)
    if not fixed:
        addr = round_hint_to_min(addr, mm.mmap_min_addr)
    length = PAGE_ALIGN(length)
    if length == 0:
        raise syscall_error(errno.ENOMEM, call, "length rounds up past 2**64")
    if pgoff + (length >> PAGE_SHIFT) > ULONG_MAX:
        raise syscall_error(errno.EOVERFLOW, call, "pgoff + pages wraps")
    if mm.map_count > k.sysctl_max_map_count:
        raise syscall_error(errno.ENOMEM, call, "map_count exceeds vm.max_map_count")
    if flags & MAP_GROWSDOWN:
        raise NotImplementedError("mmap(MAP_GROWSDOWN): stack growth is not modelled")
    maptype = flags & MAP_TYPE
    shared = maptype in (MAP_SHARED, MAP_SHARED_VALIDATE)
    # __get_unmapped_area()
    if length > TASK_SIZE:
        raise syscall_error(errno.ENOMEM, call, "length is larger than the address space")
    if fixed:
        if addr > ULONG_MAX - MAX_ERRNO:
            # The arch allocator hands a MAP_FIXED address back untouched, and this one
            # reads as an error value: user space sees errno == -addr.
            raise syscall_error(ULONG_MAX + 1 - addr, call,
                                f"MAP_FIXED address {addr:#x} is an error value (IS_ERR_VALUE)")
        if addr > TASK_SIZE - length:
            raise syscall_error(errno.ENOMEM, call, "MAP_FIXED range beyond TASK_SIZE")
        if addr & (PAGE_SIZE - 1):
            raise syscall_error(errno.EINVAL, call, "MAP_FIXED address is not page aligned")
        start = addr
    else:
        start = mm.get_unmapped_area(file, addr, length, pgoff, flags, False,
                                     anon_shared=anon and shared)
        if start is None:
            raise syscall_error(errno.ENOMEM, call, "no free address range of that length")
    end = start + length
    if flags & MAP_FIXED_NOREPLACE and not mm.range_is_free(start, length):
        raise syscall_error(errno.EEXIST, call,
                            f"[{start:#x}, {end:#x}) overlaps an existing mapping")
    # do_mmap() turns MAP_LOCKED/MAP_SYNC into vm_flags before it looks at the map type, so
    # MAP_SHARED drops MAP_SYNC from the flags it checks but the VMA still gets VM_SYNC
    # (smaps "sf"; observed on tmpfs with 6.18.44).
    flag_bits = calc_vm_flag_bits(flags)
    # Only now does do_mmap() look at the file's size limit, the map type and file mode.
    if file is not None:
        # file_mmap_ok(): regular files (and memfds) end at MAX_LFS_FILESIZE; character
        # devices (/dev/zero, the PFN device) take any unsigned offset.
        maxsize = ULONG_MAX if file.f_op.unsigned_offset else (1 << 63) - 1
        if length > maxsize or pgoff > (maxsize - length) >> PAGE_SHIFT:
            raise syscall_error(errno.EOVERFLOW, call, "offset + length beyond the file's limit")
        flags_mask = LEGACY_MAP_MASK | (MAP_SYNC if file.f_op.mmap_sync else 0)
        if maptype == MAP_SHARED:
            flags &= LEGACY_MAP_MASK
        if maptype in (MAP_SHARED, MAP_SHARED_VALIDATE) and flags & ~flags_mask:
            raise syscall_error(errno.EOPNOTSUPP, call,
                                f"MAP_SHARED_VALIDATE with flags {flags & ~flags_mask:#x}"
                                " this file does not support")
        if maptype not in (MAP_SHARED, MAP_SHARED_VALIDATE, MAP_PRIVATE):
            raise syscall_error(errno.EINVAL, call, "map type is not MAP_SHARED or MAP_PRIVATE")
    elif maptype not in (MAP_SHARED, MAP_PRIVATE, MAP_DROPPABLE):
        raise syscall_error(errno.EINVAL, call, "map type is not MAP_SHARED or MAP_PRIVATE"
                            + (" (MAP_SHARED_VALIDATE needs a file)"
                               if maptype == MAP_SHARED_VALIDATE else ""))
    if maptype == MAP_DROPPABLE:
        raise NotImplementedError("mmap(MAP_DROPPABLE) is not modelled")
    vm_flags = calc_vm_prot_bits(prot) | flag_bits | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    vm_ops = None
    if file is not None:
        inode = file.inode
        if shared:
            if prot & PROT_WRITE and not file.f_mode & FMODE_WRITE:
                raise syscall_error(errno.EACCES, call,
                                    "MAP_SHARED with PROT_WRITE on a file not open for writing")
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.f_mode & FMODE_WRITE:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        if not file.f_mode & FMODE_READ:
            raise syscall_error(errno.EACCES, call, "file not open for reading")
        if file.f_op.remap_pfn:
            npages = (inode.size + PAGE_SIZE - 1) >> PAGE_SHIFT
            if pgoff + (length >> PAGE_SHIFT) > npages:
                raise syscall_error(errno.EINVAL, call, f"{inode.path} has only {npages} pages")
        vm_ops = file.f_op.vm_ops                # None for /dev/zero: anonymous memory
    elif shared:
        vm_flags |= VM_SHARED | VM_MAYSHARE
        pgoff = 0
    if flags & MAP_NORESERVE:
        vm_flags |= VM_NORESERVE
    if file is None and not shared:
        pgoff = start >> PAGE_SHIFT              # the virtual anon file
    # MAP_FIXED over existing mappings: __mmap_region() unmaps them first.
    old = mm.vmas_in(start, end)
    if old:
        first = old[0]
        if first.vm_start < start and end < first.vm_end and \
                mm.map_count >= k.sysctl_max_map_count:
            raise syscall_error(errno.ENOMEM, call, "split would exceed vm.max_map_count")
    if accountable_mapping(vm_flags):
        # __mmap_setup(): charge what the mapping adds beyond accounted VMAs it replaces.
        charged = (length >> PAGE_SHIFT) - (_accounted_pages(mm, start, end) if old else 0)
        if charged and not k.physmem.vm_enough_memory(charged):
            raise syscall_error(errno.ENOMEM, call, f"cannot commit {charged} pages "
                                f"(RAM is {k.totalram_pages} pages; vm_enough_memory())")
        vm_flags |= VM_ACCOUNT
    shmem_new = shared and (anon or file.f_op.mmap_zero)
    if shmem_new and not vm_flags & VM_NORESERVE and \
            not k.physmem.vm_enough_memory(length >> PAGE_SHIFT):
        raise syscall_error(errno.ENOMEM, call, f"cannot commit {length >> PAGE_SHIFT} pages "
                            "of shmem (shmem_acct_size())")
    pfn_device = file is not None and file.f_op.remap_pfn
    if pfn_device and len(mm.pgtable) + (length >> PAGE_SHIFT) > k.totalram_pages:
        raise syscall_error(errno.ENOMEM, call, "the device's PTEs would outgrow the model's "
                            "page-table bound (totalram_pages)")
    if file is not None and file.f_op.mmap_sync and vm_flags & VM_SYNC:
        # __mmap_region() -> call_mmap_prepare(): ext4_file_mmap_prepare() refuses a
        # synchronous mapping of a file that is not DAX, whatever the map type.
        raise syscall_error(errno.EOPNOTSUPP, call, "MAP_SYNC on a file that is not DAX")
    if old:
        do_vmi_align_munmap(mm, start, end, old)
    if pfn_device:
        _mmap_pfn_device(mm, file, start, end, pgoff, vm_flags)
    elif shmem_new:
        # shmem_zero_setup(): MAP_SHARED anon memory, and drivers/char/mem.c: mmap_zero()
        # for a shared /dev/zero mapping, get a new shmem object "/dev/zero (deleted)".
        shm = k.shmem_zero_setup(length)
        _new_vma(mm, start, end, pgoff, vm_flags, shm, shm.f_op.vm_ops)
    else:
        _mmap_region(mm, start, end, pgoff, vm_flags, file, vm_ops)
    if (flags & (MAP_POPULATE | MAP_NONBLOCK)) == MAP_POPULATE or vm_flags & VM_LOCKED:
        populate(mm, start, end)
    return start


def _prev_next(mm, start, end):
    nxt, prev = mm.find_vma_prev(start)
    return prev, nxt


def _mmap_region(mm, start, end, pgoff, vm_flags, file, vm_ops):
    """mm/vma.c: __mmap_region(): merge with a neighbour or insert a new VMA. O(log n)."""
    prev, nxt = _prev_next(mm, start, end)
    if prev is not None or nxt is not None:
        vmg = VMG(mm, start, end, pgoff, vm_flags, file, None, prev=prev, next=nxt)
        vma = vma_merge_new_range(vmg)
        if vma is not None:
            return vma
    return _new_vma(mm, start, end, pgoff, vm_flags, file, vm_ops)


def _new_vma(mm, start, end, pgoff, vm_flags, file, vm_ops):
    vma = VMA(mm, start, end, pgoff, vm_flags, file, vm_ops)
    vma_link(vma)
    return vma


def _mmap_pfn_device(mm, file, start, end, pgoff, vm_flags):
    """A device whose ->mmap calls remap_pfn_range() over the whole VMA."""
    from .pfnmap import remap_pfn_range
    vma = _new_vma(mm, start, end, pgoff, vm_flags, file, file.f_op.vm_ops)
    remap_pfn_range(vma, start, file.inode.pfn_base + pgoff, end - start)
    return vma


def populate(mm: MM, start: int, end: int) -> None:
    """Fault in every page of ``[start, end)`` as mm_populate() does.

    Model of mm/gup.c: populate_vma_page_range(): a write fault where the mapping is
    private and writable, a read fault otherwise; errors are ignored, as mm_populate()
    does.  O(p log n).
    """
    a = start
    while a < end:
        vma = mm.find_vma(a)
        if vma is None or vma.vm_start >= end:
            return
        a = max(a, vma.vm_start)
        if vma.vm_flags & (VM_IO | VM_PFNMAP) or not vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
            a = vma.vm_end
            continue
        write = (vma.vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE
        flags = FAULT_FLAG_WRITE if write else 0
        stop = min(end, vma.vm_end)
        try:
            while a < stop:
                handle_mm_fault(vma, a, flags)
                a += PAGE_SIZE
        except SegmentationFault:
            # __mm_populate(ignore_errors=1): a page that cannot be faulted in (SIGBUS
            # beyond the end of a file) ends this VMA's population, silently.
            a = stop


def do_vmi_align_munmap(mm: MM, start: int, end: int, vmas: list[VMA] | None = None) -> None:
    """Split at the ends and remove every VMA in ``[start, end)``, with their pages.

    Model of mm/vma.c: do_vmi_align_munmap() (v6.18): the caller has checked the range and
    the map_count.  ``vmas``: ``mm.vmas_in(start, end)`` if the caller already has it.  The
    splits keep the original structs inside the range (the new ones take the parts outside,
    as vms_gather_munmap_vmas() does), so the list stays right after them.  O(k log n) for
    k VMAs, plus their present pages.
    """
    if vmas is None:
        vmas = mm.vmas_in(start, end)
    if not vmas:
        return
    first, last = vmas[0], vmas[-1]
    if first.vm_start < start:
        __split_vma(first, start, 1)             # the new struct keeps the part below
    if last.vm_end > end:
        __split_vma(last, end, 0)
    # free_pgtables() frees between the neighbours that stay (floor and ceiling).
    below, above = vmas[0]._prev, vmas[-1]._next
    for vma in vmas:
        zap_vma_pages(vma)                        # unmap_region() -> unmap_vmas()
        remove_vma_from_mm(vma)
    tables = mm.pte_tables
    if tables and (start >> PMD_SHIFT in tables or (end - 1) >> PMD_SHIFT in tables
                   or end - start > PMD_SIZE):
        free_pgtables(mm, start, end, below.vm_end if below is not None else 0,
                      above.vm_start if above is not None else TASK_SIZE)


def do_munmap(mm: MM, start: int, length: int) -> int:
    """Unmap ``[start, start+length)``; nothing mapped there is not an error.

    Model of mm/vma.c: do_vmi_munmap() / vms_gather_munmap_vmas() (v6.18): the first and
    last VMAs are split, the ones inside removed with their pages, avcs and i_mmap links.
    O(k log n) for k VMAs and their present pages.
    """
    call = "munmap"
    if start & (PAGE_SIZE - 1) or start > TASK_SIZE or length > TASK_SIZE - start:
        raise syscall_error(errno.EINVAL, call, "unaligned or out-of-range address")
    end = start + PAGE_ALIGN(length)
    if end == start:
        raise syscall_error(errno.EINVAL, call, "length is 0")
    vmas = mm.vmas_in(start, end)
    if not vmas:
        return 0
    first = vmas[0]
    if first.vm_start < start and end < first.vm_end and \
            mm.map_count >= mm.kernel.sysctl_max_map_count:
        raise syscall_error(errno.ENOMEM, call, "split would exceed vm.max_map_count")
    do_vmi_align_munmap(mm, start, end, vmas)
    return 0


def do_mprotect(mm: MM, start: int, length: int, prot: int) -> int:
    """Change the protection of ``[start, start+length)``.

    Model of mm/mprotect.c: do_mprotect_pkey() and mprotect_fixup() (v6.18): each VMA
    is merged or split with vma_modify_flags(); a private mapping made writable gains
    VM_ACCOUNT, an *unfaulted* anonymous one made read-only loses it.  As in the kernel,
    VMAs before a hole (ENOMEM) or a forbidden VMA (EACCES) keep their new protection.
    O(k log n).
    """
    call = "mprotect"
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~grows
    if grows == PROT_GROWSDOWN | PROT_GROWSUP:
        raise syscall_error(errno.EINVAL, call, "both PROT_GROWSDOWN and PROT_GROWSUP")
    if start & (PAGE_SIZE - 1):
        raise syscall_error(errno.EINVAL, call, "start is not page aligned")
    if not length:
        return 0
    end = start + PAGE_ALIGN(length)
    if end <= start or end > ULONG_MAX:
        raise syscall_error(errno.ENOMEM, call, "range wraps past 2**64")
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):     # arch_validate_prot()
        raise syscall_error(errno.EINVAL, call, f"unknown prot bits {prot:#x}")
    vma = mm.find_vma(start)
    if vma is None or vma.vm_start >= end:
        raise syscall_error(errno.ENOMEM, call, f"nothing is mapped in [{start:#x}, {end:#x})")
    if grows & PROT_GROWSDOWN:
        # Only a VM_GROWSDOWN stack may take PROT_GROWSDOWN; the model has none
        # (MAP_GROWSDOWN is not modelled), so this is always the kernel's EINVAL.
        raise syscall_error(errno.EINVAL, call, f"{vma.id} is not a VM_GROWSDOWN stack")
    if vma.vm_start > start:
        raise syscall_error(errno.ENOMEM, call, f"{start:#x} is not mapped")
    if grows & PROT_GROWSUP:
        raise syscall_error(errno.EINVAL, call, f"{vma.id} is not VM_GROWSUP (x86 has none)")
    prev = vma if vma.vm_start < start else mm.vma_prev(vma)
    nstart = start
    newbits = calc_vm_prot_bits(prot)
    while True:
        newflags = newbits | (vma.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC))
        if newflags & ~(newflags >> 4) & (VM_READ | VM_WRITE | VM_EXEC):
            raise syscall_error(errno.EACCES, call,
                                f"{vma.id} may not become {prot:#x} (VM_MAY* forbids it)")
        tmp = min(vma.vm_end, end)
        vma = _mprotect_fixup(mm, vma, prev, nstart, tmp, newflags, call)
        prev = vma
        # The iterator now ends where the (possibly merged) VMA ends: vma_iter_end().
        nstart = vma.vm_end
        if nstart >= end:
            return 0
        vma = mm.vma_next(vma)
        if vma is None or vma.vm_start != nstart:
            raise syscall_error(errno.ENOMEM, call, f"hole at {nstart:#x}")


def _mprotect_fixup(mm, vma, prev, start, end, newflags, call):
    """mm/mprotect.c: mprotect_fixup(): accounting, vma_modify_flags(), PTE protections."""
    oldflags = vma.vm_flags
    if newflags == oldflags:
        return vma
    if newflags & VM_WRITE:
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            charged = (end - start) >> PAGE_SHIFT
            if not mm.kernel.physmem.vm_enough_memory(charged):
                raise syscall_error(errno.ENOMEM, call, f"cannot commit {charged} pages "
                                    "to make the range writable (vm_enough_memory())")
            newflags |= VM_ACCOUNT
    elif oldflags & VM_ACCOUNT and vma.is_anonymous() and vma.anon_vma is None:
        newflags &= ~VM_ACCOUNT
    vma = vma_modify(mm, prev, vma, start, end, newflags, call)
    vma.vm_flags = newflags
    if not newflags & VM_WRITE:
        for _, pte in mm.ptes_in(start, end):
            pte.writable = False
    if (oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED and newflags & VM_WRITE:
        # "Private VM_LOCKED VMA becoming writable: trigger COW to avoid major fault".
        populate(mm, start, end)
    return vma


_FLAG_ADVICE = {
    MADV_NORMAL: (0, VM_RAND_READ | VM_SEQ_READ), MADV_RANDOM: (VM_RAND_READ, VM_SEQ_READ),
    MADV_SEQUENTIAL: (VM_SEQ_READ, VM_RAND_READ), MADV_DONTFORK: (VM_DONTCOPY, 0),
    MADV_DOFORK: (0, VM_DONTCOPY), MADV_WIPEONFORK: (VM_WIPEONFORK, 0),
    MADV_KEEPONFORK: (0, VM_WIPEONFORK), MADV_DONTDUMP: (VM_DONTDUMP, 0),
    MADV_DODUMP: (0, VM_DONTDUMP),
    # mm/khugepaged.c: hugepage_madvise(): only the flags; no mapping is touched.
    MADV_HUGEPAGE: (VM_HUGEPAGE, VM_NOHUGEPAGE), MADV_NOHUGEPAGE: (VM_NOHUGEPAGE, VM_HUGEPAGE),
}


# mm/madvise.c: madvise_behavior_valid() (v6.18, with CONFIG_KSM, CONFIG_TRANSPARENT_HUGEPAGE
# and CONFIG_MEMORY_FAILURE as on the reference kernel): any other value is EINVAL.
_MADV_VALID = frozenset({
    MADV_DOFORK, MADV_DONTFORK, MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_REMOVE,
    MADV_WILLNEED, MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_COLD, MADV_PAGEOUT,
    MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_GUARD_INSTALL, MADV_GUARD_REMOVE,
    MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_COLLAPSE,
    MADV_DONTDUMP, MADV_DODUMP, MADV_WIPEONFORK, MADV_KEEPONFORK,
})
# MADV_HWPOISON and MADV_SOFT_OFFLINE are valid only with CONFIG_MEMORY_FAILURE, which the
# reference kernel lacks: madvise(addr, 0, 100) is EINVAL there (checked on 6.18.44).


def _madvise_check(vma, advice, call):
    """Per-VMA refusals of mm/madvise.c: madvise_vma_behavior() (v6.18)."""
    f = vma.vm_flags
    if advice in (MADV_DONTNEED, MADV_FREE) and f & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB):
        raise syscall_error(errno.EINVAL, call, f"{vma.id} is locked, PFN-mapped or hugetlb")
    if advice == MADV_FREE and not vma.is_anonymous():
        raise syscall_error(errno.EINVAL, call, "MADV_FREE needs anonymous memory")
    if advice in (MADV_DONTFORK, MADV_DOFORK) and f & VM_IO:
        raise syscall_error(errno.EINVAL, call, f"{vma.id} is VM_IO")
    if advice == MADV_WIPEONFORK and (vma.vm_file is not None or f & VM_SHARED):
        raise syscall_error(errno.EINVAL, call, "MADV_WIPEONFORK needs private anonymous memory")
    if advice == MADV_DODUMP and f & VM_SPECIAL:
        raise syscall_error(errno.EINVAL, call, f"{vma.id} is a special mapping")


_MODELLED_ADVICE = frozenset(_FLAG_ADVICE) | {MADV_DONTNEED, MADV_FREE, MADV_WILLNEED,
                                             MADV_COLLAPSE}


def do_madvise(mm: MM, start: int, length: int, advice: int) -> int:
    """Give advice about ``[start, start+length)``.

    Model of mm/madvise.c: do_madvise() / madvise_walk_vmas() (v6.18).  Flag advice
    (DONTFORK, DOFORK, WIPEONFORK, KEEPONFORK, DONTDUMP, DODUMP, NORMAL, RANDOM,
    SEQUENTIAL) goes through vma_modify (merge or split); MADV_DONTNEED zaps the pages;
    MADV_FREE and MADV_WILLNEED change nothing visible in the model (lazy freeing happens
    only under reclaim, which is not modelled; MADV_FREE on part of a large folio would
    split it, which raises NotImplementedError).  MADV_HUGEPAGE / MADV_NOHUGEPAGE set and
    clear VM_HUGEPAGE / VM_NOHUGEPAGE; MADV_COLLAPSE is mm/khugepaged.c:
    madvise_collapse() (rmapkit.model.thp).  As in the kernel, VMAs are advised in
    address order and an error stops the walk where it happens: VMAs before a refused one
    (EINVAL) keep their new advice, and holes give ENOMEM after the rest was advised.
    O(k log n).
    """
    call = "madvise"
    # madvise_should_skip(): the advice, then the range, before anything else.
    if advice not in _MADV_VALID:
        raise syscall_error(errno.EINVAL, call, f"unknown advice {advice}")
    if start & (PAGE_SIZE - 1):
        raise syscall_error(errno.EINVAL, call, "start is not page aligned")
    plen = PAGE_ALIGN(length)
    if length and not plen:
        raise syscall_error(errno.EINVAL, call, "length rounds up past 2**64")
    end = start + plen
    if end > ULONG_MAX:
        raise syscall_error(errno.EINVAL, call, "range wraps past 2**64")
    if end == start:
        return 0
    if advice not in _MODELLED_ADVICE:
        raise NotImplementedError(f"madvise advice {advice} is not modelled")
    vmas = mm.vmas_in(start, end)
    if not vmas:
        raise syscall_error(errno.ENOMEM, call, f"nothing is mapped in [{start:#x}, {end:#x})")
    hole = vmas[0].vm_start > start or vmas[-1].vm_end < end or any(
        a.vm_end != b.vm_start for a, b in zip(vmas, vmas[1:]))
    a = start
    while a < end:
        vma = mm.find_vma(a)
        if vma is None or vma.vm_start >= end:
            break
        s, e = max(a, vma.vm_start), min(end, vma.vm_end)
        _madvise_check(vma, advice, call)
        if advice == MADV_DONTNEED:
            zap_page_range_single(vma, s, e - s, reclaim_pt=True)  # madvise_dontneed_single_vma()
        elif advice == MADV_FREE:
            _madvise_free_check(mm, s, e)
        elif advice == MADV_COLLAPSE:
            # madvise_walk_vmas(): a VMA's error ends the walk and is the result.
            r = madvise_collapse(mm, vma, s, e)
            if r:
                raise syscall_error(r, call, f"MADV_COLLAPSE of [{s:#x}, {e:#x}) in "
                                    f"{vma.id} failed")
        elif advice in _FLAG_ADVICE:
            add, clear = _FLAG_ADVICE[advice]
            newflags = (vma.vm_flags | add) & ~clear
            if newflags != vma.vm_flags:
                prev = vma if vma.vm_start < s else mm.vma_prev(vma)
                vma = vma_modify(mm, prev, vma, s, e, newflags, call)
                vma.vm_flags = newflags
        a = e
    if hole:
        raise syscall_error(errno.ENOMEM, call, f"part of [{start:#x}, {end:#x}) is not mapped")
    return 0


def _madvise_free_check(mm, start, end):
    """MADV_FREE of part of a large folio splits it at once (madvise_free_pte_range() ->
    split_folio()); the model does not split folios."""
    for a, pte in (mm.ptes_in(start, start + 1) + mm.ptes_in(end - PAGE_SIZE, end)):
        f = pte.folio
        if f is None or not f.order or f.is_zero_page:
            continue
        first = a - ((pte.pfn - f.pfn) << PAGE_SHIFT)
        if first < start or first + (f.nr_pages << PAGE_SHIFT) > end:
            raise NotImplementedError("MADV_FREE of part of a large folio splits the folio "
                                      "(split_folio()), which is not modelled")
