"""Files through their descriptors: pread, pwrite, fallocate, fsync, ftruncate, and the
page cache they fill or empty.

Mirrors, as of v6.18: fs/read_write.c: ksys_pread64(), ksys_pwrite64(), vfs_read(),
vfs_write(), rw_verify_area(); mm/filemap.c: filemap_read(), generic_write_checks(),
generic_write_check_limits(), filemap_add_folio(); mm/shmem.c: shmem_file_read_iter(),
shmem_write_begin()/shmem_write_end(), shmem_fallocate(), shmem_setattr(),
shmem_get_folio_gfp(); fs/open.c: vfs_fallocate(), do_ftruncate(); fs/sync.c: do_fsync();
mm/truncate.c: truncate_pagecache(), truncate_pagecache_range(),
truncate_inode_pages_range(); mm/memory.c: unmap_mapping_range().

The data in a file is not modelled, only which pages the page cache holds (``folio.index``
= file offset >> PAGE_SHIFT), whether they are uptodate (a tmpfs page fallocate() made is
not, until a fault or write fills it) and dirty.  Not modelled: readahead (a disk file
system reads exactly the pages asked for, as the kernel does for a file opened with
POSIX_FADV_RANDOM or mapped with MADV_RANDOM), large page-cache folios (ext4 makes one from
a multi-page write), file seals, O_APPEND, RLIMIT_FSIZE, ZERO/COLLAPSE/INSERT/UNSHARE ranges
on ext4, pipes (ESPIPE).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from ..errors import OutOfMemory, syscall_error
from ..uapi import (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_KEEP_SIZE,
                    FALLOC_FL_PUNCH_HOLE, FALLOC_FL_UNSHARE_RANGE, FALLOC_FL_WRITE_ZEROES,
                    FALLOC_FL_ZERO_RANGE, PAGE_SHIFT, PAGE_SIZE)
from .file import FMODE_READ, FMODE_WRITE, MAX_LFS_FILESIZE
from .mm import TASK_SIZE

if TYPE_CHECKING:
    from .file import AddressSpace, Inode
    from .folio import Folio
    from .kernel import Kernel, Process
from .rmap import folio_remove_rmap_pte, vm_normal_page

__all__ = ["filemap_add_folio", "unmap_mapping_range", "truncate_inode_pages_range",
           "truncate_pagecache", "truncate_pagecache_range", "do_pread", "do_pwrite",
           "do_fallocate", "do_fsync", "do_ftruncate", "MAX_RW_COUNT"]

MAX_RW_COUNT = 0x7fffffff & ~(PAGE_SIZE - 1)     # include/linux/fs.h: INT_MAX & PAGE_MASK
FALLOC_FL_MODE_MASK = (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE
                       | FALLOC_FL_INSERT_RANGE | FALLOC_FL_UNSHARE_RANGE
                       | FALLOC_FL_WRITE_ZEROES)
_NO_KEEP_SIZE = (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_WRITE_ZEROES)


def _pages(pos, count):
    """The page indices that bytes ``[pos, pos + count)`` touch (count > 0)."""
    return range(pos >> PAGE_SHIFT, ((pos + count - 1) >> PAGE_SHIFT) + 1)


# -- the page cache ------------------------------------------------------------------------
def filemap_add_folio(kernel: Kernel, mapping: AddressSpace, index: int,
                      uptodate: bool = True) -> Folio:
    """A new order-0 folio in ``mapping`` at ``index``.  Model of mm/filemap.c:
    filemap_add_folio() (v6.18).  O(log c) for c cached pages."""
    folio = kernel.physmem.alloc_folio()
    folio.mapping = mapping
    folio.index = index
    folio.in_page_cache = True
    folio.uptodate = uptodate
    mapping.pages[index] = folio
    return folio


def _delete_from_page_cache(kernel, mapping, index):
    """filemap_remove_folio(): the folio leaves the cache; freed when no PTE maps it."""
    folio = mapping.pages.pop(index)
    folio.in_page_cache = False
    if folio.mapcount == 0:
        kernel.physmem.free_folio(folio)


def unmap_mapping_range(mapping: AddressSpace, first: int, last: int, even_cows: bool) -> None:
    """Zap the PTEs of page offsets ``[first, last]`` of ``mapping`` in every VMA mapping them.

    Model of mm/memory.c: unmap_mapping_range() / unmap_mapping_pages() (v6.18): the VMAs
    come from the ``i_mmap`` interval tree; with ``even_cows`` false, zap_pte_range()'s
    should_zap_folio() keeps anonymous (CoW) pages of private mappings.  The anon_vmas
    stay.  O(log n + k log P) for k VMAs and their present PTEs in the range.
    """
    if last < first:
        return
    for vma in list(mapping.i_mmap.query(first, last)):
        lo = max(first, vma.vm_pgoff)
        hi = min(last, vma.vm_pgoff + vma.pages - 1)
        start = vma.vm_start + ((lo - vma.vm_pgoff) << PAGE_SHIFT)
        end = vma.vm_start + ((hi - vma.vm_pgoff + 1) << PAGE_SHIFT)
        mm = vma.vm_mm
        for a, pte in mm.ptes_in(start, end):
            folio = vm_normal_page(vma, a, pte)
            if folio is not None and folio.anon and not even_cows:
                continue
            if folio is not None:
                folio_remove_rmap_pte(folio, vma)
            del mm.pgtable[a]


def truncate_inode_pages_range(kernel: Kernel, mapping: AddressSpace, lstart: int,
                               lend: int) -> None:
    """Drop the cached pages wholly inside bytes ``[lstart, lend]``; a page the range only
    partly covers stays (the kernel zeroes that part: data is not modelled).

    Model of mm/truncate.c: truncate_inode_pages_range() and mm/shmem.c:
    shmem_undo_range() (v6.18).  O(log c + k) for k pages dropped.
    """
    first = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT
    last = ((lend + 1) >> PAGE_SHIFT) - 1
    if last < first:
        return
    for index in list(mapping.pages.irange(first, last)):
        _delete_from_page_cache(kernel, mapping, index)


def truncate_pagecache(inode: Inode, newsize: int) -> None:
    """Unmap and drop every page past ``newsize`` (CoW copies in private mappings too).

    Model of mm/truncate.c: truncate_pagecache() (shmem_setattr() does the same):
    unmap_mapping_range(holebegin, 0, even_cows=1), then truncate_inode_pages(); the page
    holding ``newsize`` stays when newsize is not page aligned.  O(k log P + pages dropped).
    """
    first = (newsize + PAGE_SIZE - 1) >> PAGE_SHIFT
    unmap_mapping_range(inode.mapping, first, 1 << 62, even_cows=True)
    truncate_inode_pages_range(inode.kernel, inode.mapping, newsize, MAX_LFS_FILESIZE)


def truncate_pagecache_range(inode: Inode, lstart: int, lend: int) -> None:
    """Unmap and drop the pages wholly inside bytes ``[lstart, lend]`` (a punched hole):
    page-cache pages leave every mapping, private CoW copies survive.

    Model of mm/truncate.c: truncate_pagecache_range() (v6.18), which shmem_fallocate()
    mirrors for FALLOC_FL_PUNCH_HOLE: unmap_mapping_range(even_cows=0) of the whole pages,
    then truncate_inode_pages_range().  O(k log P + pages dropped).
    """
    unmap_start = (lstart + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    unmap_end = ((lend + 1) & ~(PAGE_SIZE - 1)) - 1
    if unmap_end > unmap_start:
        unmap_mapping_range(inode.mapping, unmap_start >> PAGE_SHIFT, unmap_end >> PAGE_SHIFT,
                            even_cows=False)
    truncate_inode_pages_range(inode.kernel, inode.mapping, lstart, lend)


# -- the syscalls --------------------------------------------------------------------------
def _rw_checks(proc, fd, offset, length, call, fmode):
    """ksys_pread64()/ksys_pwrite64(), vfs_read()/vfs_write() and rw_verify_area() up to
    the file system: the struct file and the count clamped to MAX_RW_COUNT."""
    if not isinstance(offset, int) or not isinstance(length, int):
        raise TypeError(f"{call}: offset and length are integers (bytes)")
    if offset < 0:                       # checked before fdget()
        raise syscall_error(errno.EINVAL, call, "negative offset")
    f = proc.fdget(fd, call)
    if not f.f_mode & fmode:
        raise syscall_error(errno.EBADF, call, f"fd {fd} is not open for "
                                              f"{'reading' if fmode == FMODE_READ else 'writing'}")
    if not f.f_op.can_read_write:        # the device has no ->read/->write: !FMODE_CAN_*
        raise syscall_error(errno.EINVAL, call, f"{f.inode.path} has no "
                                                f"{'read' if fmode == FMODE_READ else 'write'}")
    if length < 0 or length > TASK_SIZE:
        # count is a size_t (a negative one is huge): access_ok() fails for any buffer
        # that long before rw_verify_area() looks at it (observed: EFAULT).
        raise syscall_error(errno.EFAULT, call, f"no user buffer of {length} bytes can exist")
    if offset + length > MAX_LFS_FILESIZE:
        raise syscall_error(errno.EINVAL, call, "offset + length overflows loff_t")
    return f, min(length, MAX_RW_COUNT)


def _short(index, offset, call):
    """Bytes done before page ``index`` could not be allocated; ENOMEM if none were."""
    done = (index << PAGE_SHIFT) - offset
    if done <= 0:
        raise syscall_error(errno.ENOMEM, call, "no page of RAM left for the page cache")
    return done


def do_pread(proc: Process, fd: int, offset: int, length: int) -> int:
    """pread(2): read ``length`` bytes at ``offset``; return the bytes read (0 at EOF).

    Model of fs/read_write.c: ksys_pread64() -> vfs_read() (v6.18), then
    mm/shmem.c: shmem_file_read_iter() on tmpfs/memfd, which serves holes without
    allocating (nor does it make a fallocated page uptodate), or mm/filemap.c:
    filemap_read() on a disk file system, which reads the missing pages into the page cache
    (exactly those pages: readahead is not modelled).  /dev/zero reads zeros.
    :raises OSError: EINVAL (negative offset, offset + length past 2^63 - 1, a device
        without read), EBADF (bad fd, not open for reading), EFAULT (a length no user
        buffer can have: negative, or past TASK_SIZE).
    O(p log c) for p pages read.
    """
    f, count = _rw_checks(proc, fd, offset, length, "pread", FMODE_READ)
    inode = f.inode
    if f.f_op.null_io:                   # read_iter_zero()
        return count
    if count == 0 or offset >= inode.size:
        return 0
    n = min(count, inode.size - offset)
    if not inode.fs.shmem:
        mapping = inode.mapping
        for index in _pages(offset, n):
            if index not in mapping.pages:
                try:
                    filemap_add_folio(proc.kernel, mapping, index)
                except OutOfMemory:      # RAM is full: a short read, as filemap_read()
                    return _short(index, offset, "pread")
    return n


def do_pwrite(proc: Process, fd: int, offset: int, length: int) -> int:
    """pwrite(2): write ``length`` bytes at ``offset``; return the bytes written.

    Model of fs/read_write.c: ksys_pwrite64() -> vfs_write() and mm/filemap.c:
    generic_write_checks() / generic_perform_write() (v6.18): every page the bytes touch is
    in the page cache afterwards (new ones allocated), uptodate and dirty, and ``i_size``
    grows to ``offset + written``.  A mapping of the file sees the write at once: its PTEs
    map those very folios (a private mapping's CoW copies do not change).  The count is cut
    at s_maxbytes; /dev/zero swallows everything.
    :raises OSError: EINVAL (negative offset, offset + length past 2^63 - 1, a device
        without write), EBADF (bad fd, not open for writing), EFAULT (a length no user
        buffer can have), EFBIG (offset at or past the file system's s_maxbytes).
    O(p log c) for p pages written.
    """
    f, count = _rw_checks(proc, fd, offset, length, "pwrite", FMODE_WRITE)
    inode = f.inode
    if f.f_op.null_io or count == 0:     # write_iter_null()
        return count
    maxbytes = inode.fs.s_maxbytes
    if offset >= maxbytes:
        raise syscall_error(errno.EFBIG, "pwrite", f"offset {offset:#x} is at or past the "
                                                   f"{inode.fs.name} limit {maxbytes:#x}")
    count = min(count, maxbytes - offset)
    mapping = inode.mapping
    for index in _pages(offset, count):
        folio = mapping.pages.get(index)
        if folio is None:
            try:
                folio = filemap_add_folio(proc.kernel, mapping, index)
            except OutOfMemory:          # RAM is full: a short write, as generic_perform_write()
                count = _short(index, offset, "pwrite")
                break
        folio.uptodate = True            # shmem_write_end() on a fallocated folio
        folio.dirty = True
    inode.size = max(inode.size, offset + count)
    return count


def do_fallocate(proc: Process, fd: int, mode: int, offset: int, length: int) -> int:
    """fallocate(2): allocate (mode 0, FALLOC_FL_KEEP_SIZE) or punch a hole
    (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) in ``[offset, offset + length)``; return 0.

    Model of fs/open.c: vfs_fallocate() (v6.18) and its file systems' ->fallocate:
    mm/shmem.c: shmem_fallocate() allocates page-cache folios that are *not uptodate*
    (fault-around skips them until a fault, a write or a second fallocate() fills them);
    ext4 allocates disk blocks only.  Without KEEP_SIZE, ``i_size`` grows to the end of
    the range.  Punching unmaps the whole pages from every mapping and drops them from the
    page cache (truncate_pagecache_range()); private CoW copies and partly punched pages
    stay.  Check order as vfs_fallocate(): EBADF (bad fd), EINVAL (offset < 0, length <= 0),
    EOPNOTSUPP (unknown mode, PUNCH_HOLE without KEEP_SIZE), EBADF (not open for writing),
    ENODEV (not a regular file), EFBIG (past s_maxbytes), EOPNOTSUPP (a mode tmpfs does
    not support).  O(log n + p log c) for p pages.
    """
    call = "fallocate"
    f = proc.fdget(fd, call)
    if offset < 0 or length <= 0:
        raise syscall_error(errno.EINVAL, call, "offset < 0 or length <= 0")
    if mode & ~(FALLOC_FL_MODE_MASK | FALLOC_FL_KEEP_SIZE):
        raise syscall_error(errno.EOPNOTSUPP, call, f"unknown mode bits {mode:#x}")
    op = mode & FALLOC_FL_MODE_MASK
    if op == FALLOC_FL_PUNCH_HOLE and not mode & FALLOC_FL_KEEP_SIZE:
        raise syscall_error(errno.EOPNOTSUPP, call, "FALLOC_FL_PUNCH_HOLE needs "
                                                    "FALLOC_FL_KEEP_SIZE")
    if op in _NO_KEEP_SIZE and mode & FALLOC_FL_KEEP_SIZE:
        raise syscall_error(errno.EOPNOTSUPP, call, "this mode takes no FALLOC_FL_KEEP_SIZE")
    if op not in (0, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE, FALLOC_FL_UNSHARE_RANGE) \
            and op not in _NO_KEEP_SIZE:
        raise syscall_error(errno.EOPNOTSUPP, call, f"modes {op:#x} do not combine")
    if not f.f_mode & FMODE_WRITE:
        raise syscall_error(errno.EBADF, call, f"fd {fd} is not open for writing")
    inode = f.inode
    if not inode.f_op.regular:
        raise syscall_error(errno.ENODEV, call, f"{inode.path} is not a regular file")
    end = offset + length
    if end > inode.fs.s_maxbytes:
        raise syscall_error(errno.EFBIG, call, f"offset + length is past the "
                                               f"{inode.fs.name} limit")
    if op == FALLOC_FL_PUNCH_HOLE:
        truncate_pagecache_range(inode, offset, end - 1)
        return 0
    if op:
        if inode.fs.shmem:               # shmem_fallocate() knows KEEP_SIZE and PUNCH_HOLE
            raise syscall_error(errno.EOPNOTSUPP, call, f"tmpfs does not support mode "
                                                        f"{mode:#x}")
        raise NotImplementedError(f"fallocate mode {mode:#x} on {inode.fs.name} is not "
                                  "modelled")
    if inode.fs.shmem:
        mapping = inode.mapping
        added = []
        for index in _pages(offset, length):
            folio = mapping.pages.get(index)
            if folio is None:
                try:
                    filemap_add_folio(proc.kernel, mapping, index, uptodate=False)
                except OutOfMemory:
                    # shmem_fallocate(): on failure shmem_undo_range() drops what this
                    # call allocated (the model's RAM is full; the kernel says ENOSPC or
                    # ENOMEM).
                    for i in added:
                        _delete_from_page_cache(proc.kernel, mapping, i)
                    raise syscall_error(errno.ENOMEM, call, "RAM is full") from None
                added.append(index)
            else:
                # shmem_get_folio_gfp(SGP_FALLOC) on a folio an earlier fallocate() left
                # !uptodate: "must initialize it now" (zeroed, marked uptodate).
                folio.uptodate = True
    if not mode & FALLOC_FL_KEEP_SIZE and end > inode.size:
        inode.size = end
    return 0


def do_fsync(proc: Process, fd: int) -> int:
    """fsync(2): return 0 for a file; a disk file's dirty pages are written back (clean).

    Model of fs/sync.c: do_fsync() -> vfs_fsync_range() (v6.18): tmpfs and memfd use
    noop_fsync(); a device without ->fsync (/dev/zero) gives EINVAL.  No mapping changes.
    :raises OSError: EBADF (bad fd), EINVAL (no ->fsync).  O(c) for c cached pages.
    """
    f = proc.fdget(fd, "fsync")
    inode = f.inode
    if not inode.f_op.regular:
        raise syscall_error(errno.EINVAL, "fsync", f"{inode.path} has no fsync")
    if not inode.fs.shmem:
        for folio in inode.mapping.pages.values():
            folio.dirty = False          # writeback, modelled as done at once
    return 0


def do_ftruncate(proc: Process, fd: int, size: int) -> int:
    """ftruncate(2): set ``i_size``; pages past it leave every mapping, CoW copies included.

    Model of fs/open.c: do_ftruncate() and mm/truncate.c: truncate_pagecache() (v6.18)
    (shmem_setattr() on tmpfs): a later access past the new EOF is SIGBUS; the anon_vmas
    stay; the page that holds a non-aligned new size stays.  Growing changes no page.
    :raises OSError: EINVAL (negative size, not a regular file open for writing), EBADF,
        EFBIG (past s_maxbytes).  O(log n + k log P + pages dropped).
    """
    call = "ftruncate"
    if size < 0:                         # do_sys_ftruncate() checks before fdget()
        raise syscall_error(errno.EINVAL, call, "negative size")
    f = proc.fdget(fd, call)
    inode = f.inode
    if not inode.f_op.regular or not f.f_mode & FMODE_WRITE:
        raise syscall_error(errno.EINVAL, call, f"{inode.path} is not a regular file open "
                                                "for writing")
    if size > inode.fs.s_maxbytes:       # inode_newsize_ok()
        raise syscall_error(errno.EFBIG, call, f"size past the {inode.fs.name} limit")
    if size < inode.size:
        truncate_pagecache(inode, size)
    inode.size = size
    return 0
