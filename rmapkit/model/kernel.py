"""The Kernel (physical memory, files, processes) and a Process's syscall interface.

The entry point of the model: ``Kernel().spawn()`` gives a Process whose methods are the
syscalls (mmap, munmap, mprotect, mremap, madvise, fork, exit, open, close, memfd_create,
ftruncate, pread, pwrite, fallocate, fsync) plus ``read``/``write`` to touch memory as the
process would (they take an address; file I/O is ``pread``/``pwrite``, which take an fd).  Each mirrors
the kernel function named in its docstring; see the modules of ``rmapkit.model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import errno

from ..errors import syscall_error
from ..uapi import (O_ACCMODE, O_CREAT, O_RDONLY, O_RDWR, O_WRONLY, PAGE_SHIFT,
                    PAGE_SIZE)
from .fault import touch
from .file import FILESYSTEMS, FMODE_READ, FMODE_WRITE, TMPFS, File, Inode
from .filemap import (do_fallocate, do_fsync, do_ftruncate, do_pread, do_pwrite,
                      filemap_add_folio)
from .folio import PhysMem
from .fork import dup_mmap, exit_mmap
from .mm import DEFAULT_MMAP_BASE, MM
from .mmap import do_madvise, do_mmap, do_mprotect, do_munmap
from .mremap import do_mremap
from .thp import ThpSettings, new_thp_stats, new_vmstat
from .vmflags import perms_string

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from collections.abc import Iterable

    from ..snapshot import Snapshot
    from .anon_vma import AnonVMA
    from .folio import Folio, Page

__all__ = ["Kernel", "Process"]


class Kernel:
    """Physical memory, the page cache, files and processes of one simulated machine.

    ``max_map_count`` mirrors ``vm.max_map_count`` (65530 by default); ``mmap_base`` is
    fixed (the model does no address-space randomisation).  ``thp`` sets files of
    /sys/kernel/mm/transparent_hugepage/ (``{"hugepages-64kB/enabled": "madvise"}``; see
    ThpSettings; ``rmapkit.live.thp.read_settings()`` reads the running kernel's);
    ``k.thp[...]`` reads and writes them later.  ``thp_stats[order]`` are the
    hugepages-<size>kB/stats/ counters, ``vmstat`` the THP lines of /proc/vmstat, and
    ``thp_fail_orders`` a failure-injection switch: THP allocations of those orders fail.
    """

    def __init__(self, max_map_count: int = 65530, mmap_base: int = DEFAULT_MMAP_BASE,
                 mmap_min_addr: int = PAGE_SIZE, thp: dict | None = None) -> None:
        self.thp = ThpSettings(thp)
        self.thp_stats = new_thp_stats()
        self.vmstat = new_vmstat()
        self.thp_fail_orders: set[int] = set()
        self.sysctl_max_map_count = max_map_count
        self.mmap_base = mmap_base
        self.mmap_min_addr = mmap_min_addr
        self.physmem = PhysMem(self)
        self.anon_vmas: dict[str, AnonVMA] = {}   # label -> AnonVMA, in allocation order
        self.processes: dict[str, Process] = {}   # name -> Process, in spawn order
        self.inodes: dict[str, Inode] = {}        # path -> Inode
        self._next_av = self._next_file = self._next_vma = self._next_pid = 0
        self._next_ino = 100
        self._anon_shmem = 0
        # /dev/zero as maps shows it on the reference machine: devtmpfs (00:06), inode 4.
        zero = self._new_inode("/dev/zero", 0, "zero", (0, 6))
        zero.ino = 4
        self.inodes["/dev/zero"] = zero

    def _new_inode(self, path, size, kind, dev, pfn_base=None, fs=None):
        self._next_ino += 1
        return Inode(self, path, size, kind, self._next_ino, dev, pfn_base, fs)

    # -- files ---------------------------------------------------------------------
    def create_file(self, path: str, size: int, fs: str = "tmpfs", cached: bool = False) -> str:
        """Create a regular file of ``size`` bytes on ``fs`` ("tmpfs" or "ext4").

        Its page cache starts empty: the file is all holes (tmpfs) or was never read
        (ext4).  ``cached=True`` stands for a file whose every page is already in the page
        cache, uptodate and clean: one that was written or read before, e.g. by another
        program (each page one folio: large folios are not modelled).
        O(size / PAGE_SIZE) with ``cached``, else O(1).
        """
        if path in self.inodes:
            raise syscall_error(errno.EEXIST, "create_file", f"{path} exists")
        if fs not in FILESYSTEMS:
            raise ValueError(f"fs must be one of {sorted(FILESYSTEMS)}, not {fs!r}")
        fst = FILESYSTEMS[fs]
        if not 0 <= size <= fst.s_maxbytes:
            raise syscall_error(errno.EFBIG, "create_file", f"size {size:#x} is not in "
                                                            f"[0, {fst.s_maxbytes:#x}]")
        inode = self._new_inode(path, size, "file", (0, 0x1b) if fst.shmem else (0xfe, 0),
                                fs=fst)
        self.inodes[path] = inode
        if cached:
            for index in range((size + PAGE_SIZE - 1) >> PAGE_SHIFT):
                filemap_add_folio(self, inode.mapping, index)
        return path

    def create_device(self, path: str, pfn_base: int, npages: int) -> str:
        """A character device whose ->mmap calls remap_pfn_range(pfn_base + vm_pgoff).

        Its frames ``[pfn_base, pfn_base + npages)`` must not be RAM the model already
        handed out, nor the zero page (ValueError); RAM skips them from then on. O(d).
        """
        if path in self.inodes:
            raise syscall_error(errno.EEXIST, "create_device", f"{path} exists")
        self.physmem.reserve(pfn_base, npages)      # device frames are never RAM
        self.inodes[path] = self._new_inode(path, npages * PAGE_SIZE, "pfn", (0, 6), pfn_base)
        return path

    def shmem_zero_setup(self, size: int) -> File:
        """A shmem object for MAP_SHARED|MAP_ANONYMOUS.  Model of mm/shmem.c: shmem_zero_setup(). O(1)."""
        inode = self._new_inode("/dev/zero (deleted)", size, "shmem", (0, 1), fs=TMPFS)
        return File(self, inode, FMODE_READ | FMODE_WRITE, "/dev/zero (deleted)")

    # -- processes -----------------------------------------------------------------
    def spawn(self, name: str | None = None) -> Process:
        """A new process with an empty address space (named "P0", "P1", ...). O(1)."""
        name = name or f"P{self._next_pid}"
        self._next_pid += 1
        if name in self.processes:
            raise ValueError(f"process {name} exists")
        p = Process(self, name)
        self.processes[name] = p
        return p

    def validate(self) -> None:
        """Check every invariant of the model; raise ValidationError naming the culprit.

        See rmapkit.model.validate; O(n c log n + pages).
        """
        from .validate import validate_kernel
        validate_kernel(self)

    def snapshot(self, window: tuple[int, int] | None = None,
                 processes: Iterable[Process] | None = None) -> Snapshot:
        """A ``Snapshot`` (source "model") of the given processes (default: all). O(n + pages)."""
        from .snap import build_snapshot
        return build_snapshot(self, window, processes)

    def __repr__(self):
        return f"<Kernel processes={list(self.processes)} anon_vmas={len(self.anon_vmas)}>"


class Process:
    """A process: an mm and a file table; the syscalls are its methods."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.mm = MM(kernel, self)
        self.fds: dict[int, File] = {}
        self.alive = True

    def __repr__(self):
        return f"<Process {self.name} vmas={self.mm.map_count}>"

    def _alive(self):
        if not self.alive:
            raise ProcessLookupError(f"{self.name} has exited")

    # -- memory syscalls -----------------------------------------------------------
    def mmap(self, addr: int, length: int, prot: int, flags: int, fd: int = -1,
             offset: int = 0) -> int:
        """mmap(2): map ``length`` bytes; see rmapkit.model.mmap.do_mmap (do_mmap(), v6.18).

        :param fd: an open file descriptor, or -1 with MAP_ANONYMOUS.
        :returns: the start address of the new mapping.
        :raises OSError: EINVAL (length 0, an unaligned offset or MAP_FIXED address, no map
            type, MAP_SHARED_VALIDATE without a file, past a device's end), ENOMEM (too long,
            no free range, vm.max_map_count), EEXIST (MAP_FIXED_NOREPLACE over a mapping),
            EBADF (``fd`` not open), EACCES (the file's open mode forbids it), EOVERFLOW
            (offset + length past the file's limit).  Nothing changes on failure.
        :raises NotImplementedError: for MAP_HUGETLB, MAP_GROWSDOWN, MAP_DROPPABLE.
        :raises ProcessLookupError: if this process has exited.

        O(log n) plus the pages populated.
        """
        self._alive()
        try:
            return do_mmap(self, addr, length, prot, flags, fd, offset)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    def munmap(self, addr: int, length: int) -> int:
        """munmap(2): unmap ``[addr, addr + length)``; see rmapkit.model.mmap.do_munmap.

        :returns: 0 (also when nothing was mapped there).
        :raises OSError: EINVAL (unaligned, zero or out-of-range), ENOMEM (a split past
            vm.max_map_count); nothing changes on failure.
        :raises ProcessLookupError: if this process has exited.

        O(k log n) plus the pages unmapped.
        """
        self._alive()
        try:
            return do_munmap(self.mm, addr, length)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    def mprotect(self, addr: int, length: int, prot: int) -> int:
        """mprotect(2): change the protection of a range; see rmapkit.model.mmap.do_mprotect.

        :returns: 0.
        :raises OSError: EINVAL (unaligned start, unknown bits), ENOMEM (a hole or unmapped
            start), EACCES (VM_MAY* forbids it); as in the kernel, VMAs before the failing
            one keep their new protection.
        :raises NotImplementedError: for PROT_GROWSDOWN/PROT_GROWSUP.
        :raises ProcessLookupError: if this process has exited.

        O(k log n).
        """
        self._alive()
        try:
            return do_mprotect(self.mm, addr, length, prot)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    def mremap(self, old_addr: int, old_len: int, new_len: int, flags: int = 0,
               new_addr: int = 0) -> int:
        """mremap(2): grow, shrink or move a mapping; see rmapkit.model.mremap.do_mremap.

        :returns: the (new) address of the mapping.
        :raises OSError: EINVAL (bad flags, lengths or addresses), EFAULT (not mapped, or
            runs past the VMA), ENOMEM (no room to grow or move, vm.max_map_count).
        :raises ProcessLookupError: if this process has exited.

        O(c log n) plus the PTEs moved.
        """
        self._alive()
        try:
            return do_mremap(self.mm, old_addr, old_len, new_len, flags, new_addr)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    def madvise(self, addr: int, length: int, advice: int) -> int:
        """madvise(2): advise the kernel about a range; see rmapkit.model.mmap.do_madvise.

        :returns: 0.
        :raises OSError: EINVAL (unknown advice, unaligned, refused by a VMA), ENOMEM (a
            hole: the rest was advised).
        :raises NotImplementedError: for valid advice the model does not implement.
        :raises ProcessLookupError: if this process has exited.

        O(k log n) plus the pages zapped.
        """
        self._alive()
        try:
            return do_madvise(self.mm, addr, length, advice)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    def read(self, addr: int, length: int = 1) -> None:
        """Read one byte of every page in the range (read faults; SIGSEGV if forbidden).

        :raises SegmentationFault: SIGSEGV where no VMA maps a page or its protection
            forbids the access (pages before it stay touched).
        :raises BusError: SIGBUS past the end of a mapped file, or a hole in a PFN map.
        :raises ProcessLookupError: if this process has exited.

        Model of handle_mm_fault() per page; O(p log n).
        """
        self._alive()
        touch(self.mm, addr, length, write=False)

    def write(self, addr: int, length: int = 1) -> None:
        """Write one byte of every page in the range (write faults, CoW); raises as read().

        Model of handle_mm_fault() per page; O(p log n).
        """
        self._alive()
        touch(self.mm, addr, length, write=True)

    def fork(self, name: str | None = None) -> Process:
        """fork(2): a child with a copy of this address space.  Model of dup_mmap().

        :returns: the child Process (named ``name``, or the next "P<n>").
        :raises ValueError: if a process called ``name`` exists.
        :raises ProcessLookupError: if this process has exited.

        O(n c log n + pages).
        """
        self._alive()
        child = self.kernel.spawn(name)
        child.fds = dict(self.fds)
        try:
            dup_mmap(child, self)
        finally:
            child.mm.sync_gaps()
        return child

    def exit(self) -> None:
        """exit(2): tear down the address space.  Model of exit_mmap().

        The process leaves ``Kernel.processes``; any later call raises ProcessLookupError.
        O(n c log n + pages).
        """
        self._alive()
        exit_mmap(self.mm)
        self.mm.sync_gaps()
        self.alive = False
        self.fds.clear()
        del self.kernel.processes[self.name]

    # -- files -----------------------------------------------------------------------
    def _install(self, f):
        fd = 3
        while fd in self.fds:
            fd += 1
        self.fds[fd] = f
        return fd

    def fdget(self, fd: int, call: str) -> File:
        f = self.fds.get(fd)
        if f is None:
            raise syscall_error(errno.EBADF, call, f"fd {fd} is not open")
        return f

    def open(self, path: str, flags: int = O_RDWR) -> int:
        """open(2) of a file made with Kernel.create_file/create_device, or /dev/zero.

        :returns: the new file descriptor (the lowest free one from 3).
        :raises OSError: ENOENT (no such file without O_CREAT), EINVAL (bad access mode).
        O(1).
        """
        self._alive()
        k = self.kernel
        inode = k.inodes.get(path)
        if inode is None:
            if not flags & O_CREAT:
                raise syscall_error(errno.ENOENT, "open", f"{path} does not exist")
            k.create_file(path, 0)          # on tmpfs, as the live scenarios' files are
            inode = k.inodes[path]
        mode = {O_RDONLY: FMODE_READ, O_WRONLY: FMODE_WRITE,
                O_RDWR: FMODE_READ | FMODE_WRITE}.get(flags & O_ACCMODE)
        if mode is None:
            raise syscall_error(errno.EINVAL, "open", "bad access mode")
        return self._install(File(k, inode, mode, path))

    def close(self, fd: int) -> None:
        """close(2).  Mappings keep their own reference to the struct file. O(1)."""
        self.fdget(fd, "close")
        del self.fds[fd]

    def memfd_create(self, name: str) -> int:
        """memfd_create(2): an empty shmem file, shown as ``/memfd:NAME (deleted)``.

        :returns: the new file descriptor.  O(1).
        """
        self._alive()
        k = self.kernel
        label = f"/memfd:{name} (deleted)"
        inode = k._new_inode(label, 0, "shmem", (0, 1), fs=TMPFS)
        return self._install(File(k, inode, FMODE_READ | FMODE_WRITE, label))

    def ftruncate(self, fd: int, size: int) -> int:
        """ftruncate(2): see rmapkit.model.filemap.do_ftruncate (truncate_pagecache()).
        O(log n + k log P + pages dropped)."""
        self._alive()
        return do_ftruncate(self, fd, size)

    def pread(self, fd: int, offset: int, length: int) -> int:
        """pread(2): bytes read from ``offset`` (0 at EOF); see
        rmapkit.model.filemap.do_pread.  File data is not modelled, only the page cache.
        O(p log c) for p pages."""
        self._alive()
        return do_pread(self, fd, offset, length)

    def pwrite(self, fd: int, offset: int, length: int) -> int:
        """pwrite(2): bytes written at ``offset``; fills the page cache and grows i_size.
        See rmapkit.model.filemap.do_pwrite.  O(p log c) for p pages."""
        self._alive()
        return do_pwrite(self, fd, offset, length)

    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> int:
        """fallocate(2) with ``mode`` 0, FALLOC_FL_KEEP_SIZE or FALLOC_FL_PUNCH_HOLE |
        FALLOC_FL_KEEP_SIZE; returns 0.  See rmapkit.model.filemap.do_fallocate.
        O(log n + p log c)."""
        self._alive()
        return do_fallocate(self, fd, mode, offset, length)

    def fsync(self, fd: int) -> int:
        """fsync(2): 0 once the fd is valid; see rmapkit.model.filemap.do_fsync. O(c)."""
        self._alive()
        return do_fsync(self, fd)

    # -- looking -----------------------------------------------------------------------
    def folio_at(self, addr: int) -> Folio | None:
        """The folio mapped at ``addr`` (the zero page is one too), or None. O(log P)."""
        pte = self.mm.pgtable.get(addr & ~(PAGE_SIZE - 1))
        return None if pte is None else pte.folio

    def page_at(self, addr: int) -> Page | None:
        """The ``Page`` mapped at ``addr`` (through a PTE or a huge PMD), or None.

        ``.pfn``, ``.folio``, ``.index`` (= folio.index + (pfn - folio.pfn)), ``.mapcount``
        (PTE mappings of this page), ``.anon_exclusive``.  A raw PFN of remap_pfn_range()
        has no struct page: None.  Model of follow_page() / vm_normal_page(). O(log P).

        >>> from rmapkit import Kernel
        >>> from rmapkit.uapi import *
        >>> k = Kernel(thp={"hugepages-64kB/enabled": "madvise"})
        >>> p = k.spawn()
        >>> a = p.mmap(0x200000000000, 32 * 4096, PROT_READ | PROT_WRITE,
        ...            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        >>> p.madvise(a, 32 * 4096, MADV_HUGEPAGE)
        0
        >>> p.write(a + 5 * 4096)
        >>> pg = p.page_at(a + 5 * 4096)
        >>> pg.folio.order, pg.folio.nr_pages, pg.index - pg.folio.index, pg.mapcount
        (4, 16, 5, 1)
        """
        pte = self.mm.pgtable.get(addr & ~(PAGE_SIZE - 1))
        if pte is None or pte.folio is None:
            return None
        f = pte.folio
        if f.pfn == 0x10:                    # the small zero page (one frame)
            return f.page(0)
        return f.page(pte.pfn - f.pfn)

    def maps(self) -> str:
        """/proc/PID/maps, byte for byte in the kernel's format.  Model of show_map_vma(). O(n)."""
        lines = []
        for v in self.mm.vmas:
            f = v.vm_file
            if f is not None:
                off, (maj, mnr), ino, name = v.vm_pgoff << PAGE_SHIFT, f.inode.dev, f.inode.ino, f.name
            else:
                off, maj, mnr, ino, name = 0, 0, 0, 0, ""
            head = (f"{v.vm_start:08x}-{v.vm_end:08x} {perms_string(v.vm_flags)} "
                    f"{off:08x} {maj:02x}:{mnr:02x} {ino} ")
            lines.append(head.ljust(73) + name if name else head)
        return "".join(line + "\n" for line in lines)

    def snapshot(self, window: tuple[int, int] | None = None) -> Snapshot:
        """A ``Snapshot`` of this process alone. O(n + pages)."""
        return self.kernel.snapshot(window=window, processes=[self])
