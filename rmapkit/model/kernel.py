"""The Kernel (physical memory, files, processes) and a Process's syscall interface.

The entry point of the model: ``Kernel().spawn()`` gives a Process whose methods are the
syscalls (mmap, munmap, mprotect, mremap, madvise, fork, exit, open, close, memfd_create,
ftruncate, pread, pwrite, fallocate, fsync) plus ``read``/``write`` to touch memory as the
process would (they take an address; file I/O is ``pread``/``pwrite``, which take an
fd).  Each mirrors the kernel function named in its docstring; see the modules of
``rmapkit.model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import errno

from ..errors import syscall_error
from ..uapi import (MFD_ALL_FLAGS, MFD_HUGETLB, O_ACCMODE, O_CREAT, O_EXCL, O_RDWR, O_TRUNC,
                    PAGE_SHIFT, PAGE_SIZE)
from .args import syscall
from .fault import touch
from .file import FILESYSTEMS, FMODE_READ, FMODE_WRITE, TMPFS, File, Inode
from .filemap import (do_fallocate, do_fsync, do_ftruncate, do_pread, do_pwrite,
                      filemap_add_folio, truncate_pagecache)
from .folio import DEFAULT_TOTALRAM_PAGES, OVERCOMMIT_ALWAYS, OVERCOMMIT_GUESS, PhysMem
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


MAX_LFS_FILESIZE = (1 << 63) - 1            # include/linux/fs.h (64-bit)
MFD_NAME_MAX_LEN = 249                      # mm/memfd.c: NAME_MAX - strlen("memfd:")


def _check_setup_args(call, path, **sizes):
    """Machine set-up (not a syscall): a str path and sizes that fit the kernel's types."""
    if not isinstance(path, str) or not path:
        raise TypeError(f"{call}: the path must be a non-empty str, not {path!r}")
    for name, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{call}: {name} must be an int, not {v!r}")
        if not 0 <= v <= MAX_LFS_FILESIZE:
            raise ValueError(f"{call}: {name} {v} is outside [0, MAX_LFS_FILESIZE]")


class Kernel:
    """Physical memory, the page cache, files and processes of one simulated machine.

    ``max_map_count`` mirrors ``vm.max_map_count`` (65530 by default); ``mmap_base`` is
    fixed (the model does no address-space randomisation).  ``thp`` sets files of
    /sys/kernel/mm/transparent_hugepage/ (``{"hugepages-64kB/enabled": "madvise"}``; see
    ThpSettings; ``rmapkit.live.thp.read_settings()`` reads the running kernel's);
    ``k.thp[...]`` reads and writes them later.  ``thp_stats[order]`` are the
    hugepages-<size>kB/stats/ counters, ``vmstat`` the THP lines of /proc/vmstat, and
    ``thp_fail_orders`` a failure-injection switch: THP allocations of those orders fail.
  ``totalram_pages`` is the
    machine's RAM in pages (``MemTotal`` / 4 KiB; 256 MiB by default, a fixed size so that
    every run is the same; there is no swap) and ``overcommit_memory`` mirrors
    ``vm.overcommit_memory`` (0, OVERCOMMIT_GUESS, the default, or 1, OVERCOMMIT_ALWAYS):
    see rmapkit.model.folio.PhysMem.vm_enough_memory().
    """

    def __init__(self, max_map_count: int = 65530, mmap_base: int = DEFAULT_MMAP_BASE,
                 mmap_min_addr: int = PAGE_SIZE, thp: dict | None = None,
                 totalram_pages: int = DEFAULT_TOTALRAM_PAGES,
                 overcommit_memory: int = OVERCOMMIT_GUESS) -> None:
        for name, v in (("max_map_count", max_map_count), ("mmap_base", mmap_base),
                        ("mmap_min_addr", mmap_min_addr), ("totalram_pages", totalram_pages)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise TypeError(f"Kernel({name}=...) takes a non-negative int, not {v!r}")
        if overcommit_memory not in (OVERCOMMIT_GUESS, OVERCOMMIT_ALWAYS):
            raise ValueError("overcommit_memory: 0 (OVERCOMMIT_GUESS) or 1 (OVERCOMMIT_ALWAYS);"
                             " 2 (OVERCOMMIT_NEVER, strict commit accounting) is not modelled")
        self.thp = ThpSettings(thp)
        self.thp_stats = new_thp_stats()
        self.vmstat = new_vmstat()
        self.thp_fail_orders: set[int] = set()
        self.sysctl_max_map_count = max_map_count
        self.sysctl_overcommit_memory = overcommit_memory
        self.totalram_pages = totalram_pages
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
        _check_setup_args("create_file", path, size=size)
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
        _check_setup_args("create_device", path, pfn_base=pfn_base, npages=npages)
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

    def _alive(self, call: str = "syscall") -> None:
        """An exited process has no mm: every syscall on it fails with ESRCH, as an OSError
        (ProcessLookupError) with ``errno == errno.ESRCH`` naming the call. O(1)."""
        if not self.alive:
            raise syscall_error(errno.ESRCH, call, f"{self.name} has exited")

    # -- memory syscalls -----------------------------------------------------------
    @syscall("unsigned long addr", "unsigned long length", "unsigned long prot",
             "unsigned long flags", "unsigned long fd", "unsigned long offset")
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
        try:
            return do_mmap(self, addr, length, prot, flags, fd, offset)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    @syscall("unsigned long addr", "size_t length")
    def munmap(self, addr: int, length: int) -> int:
        """munmap(2): unmap ``[addr, addr + length)``; see rmapkit.model.mmap.do_munmap.

        :returns: 0 (also when nothing was mapped there).
        :raises OSError: EINVAL (unaligned, zero or out-of-range), ENOMEM (a split past
            vm.max_map_count); nothing changes on failure.
        :raises ProcessLookupError: if this process has exited.

        O(k log n) plus the pages unmapped.
        """
        try:
            return do_munmap(self.mm, addr, length)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    @syscall("unsigned long addr", "size_t length", "unsigned long prot")
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
        try:
            return do_mprotect(self.mm, addr, length, prot)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    @syscall("unsigned long old_addr", "unsigned long old_len", "unsigned long new_len",
             "unsigned long flags", "unsigned long new_addr")
    def mremap(self, old_addr: int, old_len: int, new_len: int, flags: int = 0,
               new_addr: int = 0) -> int:
        """mremap(2): grow, shrink or move a mapping; see rmapkit.model.mremap.do_mremap.

        :returns: the (new) address of the mapping.
        :raises OSError: EINVAL (bad flags, lengths or addresses), EFAULT (not mapped, or
            runs past the VMA), ENOMEM (no room to grow or move, vm.max_map_count).
        :raises ProcessLookupError: if this process has exited.

        O(c log n) plus the PTEs moved.
        """
        try:
            return do_mremap(self.mm, old_addr, old_len, new_len, flags, new_addr)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    @syscall("unsigned long addr", "size_t length", "int advice")
    def madvise(self, addr: int, length: int, advice: int) -> int:
        """madvise(2): advise the kernel about a range; see rmapkit.model.mmap.do_madvise.

        :returns: 0.
        :raises OSError: EINVAL (unknown advice, unaligned, refused by a VMA), ENOMEM (a
            hole: the rest was advised).
        :raises NotImplementedError: for valid advice the model does not implement.
        :raises ProcessLookupError: if this process has exited.

        O(k log n) plus the pages zapped.
        """
        try:
            return do_madvise(self.mm, addr, length, advice)
        finally:
            self.mm.sync_gaps()     # once per syscall, even a failed one

    @syscall("unsigned long addr", "size_t length")
    def read(self, addr: int, length: int = 1) -> None:
        """Read one byte of every page in the range (read faults; SIGSEGV if forbidden).

        :raises SegmentationFault: SIGSEGV where no VMA maps a page or its protection
            forbids the access (pages before it stay touched).
        :raises BusError: SIGBUS past the end of a mapped file, or a hole in a PFN map.
        :raises ProcessLookupError: if this process has exited.

        Model of handle_mm_fault() per page; O(p log n).
        """
        touch(self.mm, addr, length, write=False)

    @syscall("unsigned long addr", "size_t length")
    def write(self, addr: int, length: int = 1) -> None:
        """Write one byte of every page in the range (write faults, CoW); raises as read().

        Model of handle_mm_fault() per page; O(p log n).
        """
        touch(self.mm, addr, length, write=True)

    @syscall()
    def fork(self, name: str | None = None) -> Process:
        """fork(2): a child with a copy of this address space.  Model of dup_mmap().

        :returns: the child Process (named ``name``, or the next "P<n>").
        :raises ValueError: if a process called ``name`` exists.
        :raises ProcessLookupError: if this process has exited.

        O(n c log n + pages).
        """
        child = self.kernel.spawn(name)
        child.fds = dict(self.fds)
        try:
            dup_mmap(child, self)
        finally:
            child.mm.sync_gaps()
        return child

    @syscall()
    def exit(self) -> None:
        """exit(2): tear down the address space.  Model of exit_mmap().

        The process leaves ``Kernel.processes``; any later call raises ProcessLookupError.
        O(n c log n + pages).
        """
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

    @syscall("const char *path", "int flags")
    def open(self, path: str, flags: int = O_RDWR) -> int:
        """open(2) of a file made with Kernel.create_file/create_device, or /dev/zero.

        Model of fs/open.c: do_sys_open() / fs/namei.c: do_open() (v6.18): O_CREAT makes a
        missing regular file (on tmpfs), O_CREAT|O_EXCL refuses an existing one, O_TRUNC
        empties a regular file (truncate_pagecache()); access mode 3 opens with neither
        FMODE_READ nor FMODE_WRITE (OPEN_FMODE()), so mmap() of it is EACCES.  Unknown flag
        bits are ignored, as open(2) ignores them.

        :returns: the new file descriptor (the lowest free one from 3).
        :raises OSError: ENOENT (no such file without O_CREAT), EEXIST (O_CREAT|O_EXCL of
            an existing file).
        O(1) (plus the pages a truncation drops).
        """
        k = self.kernel
        inode = k.inodes.get(path)
        if inode is None:
            if not flags & O_CREAT:
                raise syscall_error(errno.ENOENT, "open", f"{path} does not exist")
            k.create_file(path, 0)          # on tmpfs, as the live scenarios' files are
            inode = k.inodes[path]
        elif flags & O_CREAT and flags & O_EXCL:
            raise syscall_error(errno.EEXIST, "open", f"{path} exists (O_CREAT|O_EXCL)")
        elif flags & O_TRUNC and inode.f_op.regular and inode.size:
            truncate_pagecache(inode, 0)     # do_open() -> handle_truncate()
            inode.size = 0
        mode = (flags + 1) & O_ACCMODE       # OPEN_FMODE(): 0 -> R, 1 -> W, 2 -> RW, 3 -> none
        return self._install(File(k, inode, mode, path))

    @syscall("unsigned int fd")
    def close(self, fd: int) -> None:
        """close(2).  Mappings keep their own reference to the struct file. O(1)."""
        self.fdget(fd, "close")
        del self.fds[fd]

    @syscall("const char *name", "unsigned int flags")
    def memfd_create(self, name: str, flags: int = 0) -> int:
        """memfd_create(2): an empty shmem file, shown as ``/memfd:NAME (deleted)``.

        Model of mm/memfd.c: memfd_create() (v6.18): unknown flags are EINVAL
        (sanitize_flags()), then a name longer than 249 bytes is EINVAL (alloc_name():
        MFD_NAME_MAX_LEN); the name ends at the first NUL, as a C string does.

        :returns: the new file descriptor.
        :raises OSError: EINVAL (unknown flags, a name over 249 bytes).
        :raises NotImplementedError: for MFD_HUGETLB.
        O(1).
        """
        if flags & ~MFD_ALL_FLAGS:
            raise syscall_error(errno.EINVAL, "memfd_create", f"unknown flags {flags:#x}")
        if flags & MFD_HUGETLB:
            raise NotImplementedError("memfd_create(MFD_HUGETLB): hugetlb is not modelled")
        name = name.split("\0", 1)[0]
        if len(name.encode("utf-8", "surrogateescape")) > MFD_NAME_MAX_LEN:
            raise syscall_error(errno.EINVAL, "memfd_create",
                                f"name longer than {MFD_NAME_MAX_LEN} bytes")
        k = self.kernel
        label = f"/memfd:{name} (deleted)"
        inode = k._new_inode(label, 0, "shmem", (0, 1), fs=TMPFS)
        return self._install(File(k, inode, FMODE_READ | FMODE_WRITE, label))

    @syscall("unsigned int fd", "off_t size")
    def ftruncate(self, fd: int, size: int) -> int:
        """ftruncate(2): set the file's size; pages past it leave every mapping of every
        process, private CoW copies included (truncate_pagecache()); see
        rmapkit.model.filemap.do_ftruncate.

        :returns: 0.
        :raises OSError: EINVAL (negative size; not a regular file open for writing),
            EBADF (fd not open), EFBIG (past the file system's s_maxbytes).
        O(log n + k log P + pages dropped).
        """
        return do_ftruncate(self, fd, size)

    @syscall("unsigned int fd", "loff_t offset", "size_t length")
    def pread(self, fd: int, offset: int, length: int) -> int:
        """pread(2) of ``length`` bytes at byte ``offset``.  File data is not modelled,
        only the page cache: a tmpfs hole allocates nothing, a disk file reads the pages
        in; see rmapkit.model.filemap.do_pread.

        :returns: the number of bytes read (0 at or past EOF).
        :raises OSError: EINVAL (negative offset, offset + length past 2**63 - 1), EBADF
            (fd not open for reading), EFAULT (a length no buffer can have), ENOMEM (no
            page of RAM left for the page cache before any byte was read).
        O(p log c) for p pages.
        """
        return do_pread(self, fd, offset, length)

    @syscall("unsigned int fd", "loff_t offset", "size_t length")
    def pwrite(self, fd: int, offset: int, length: int) -> int:
        """pwrite(2) of ``length`` bytes at byte ``offset``: the pages become page-cache
        folios (index = offset >> PAGE_SHIFT), uptodate and dirty, and i_size grows; see
        rmapkit.model.filemap.do_pwrite.

        :returns: the number of bytes written.
        :raises OSError: EINVAL (negative offset, offset + length past 2**63 - 1), EBADF
            (fd not open for writing), EFAULT (a length no buffer can have), EFBIG (offset
            at or past the file system's s_maxbytes), ENOMEM (no page of RAM left for the
            page cache before any byte was written).
        O(p log c) for p pages.
        """
        return do_pwrite(self, fd, offset, length)

    @syscall("int fd", "int mode", "loff_t offset", "loff_t length")
    def fallocate(self, fd: int, mode: int, offset: int, length: int) -> int:
        """fallocate(2) with ``mode`` 0, FALLOC_FL_KEEP_SIZE, or FALLOC_FL_PUNCH_HOLE |
        FALLOC_FL_KEEP_SIZE (which unmaps the whole pages of the hole everywhere and drops
        them from the page cache; CoW copies stay); see rmapkit.model.filemap.do_fallocate.

        :returns: 0.
        :raises OSError: EBADF (fd not open / not for writing), EINVAL (offset < 0,
            length <= 0), EOPNOTSUPP (unknown mode, PUNCH_HOLE without KEEP_SIZE, a mode
            tmpfs lacks), ENODEV (not a regular file), EFBIG (past s_maxbytes).
        :raises NotImplementedError: ZERO/COLLAPSE/INSERT/UNSHARE ranges on ext4.
        O(log n + p log c).
        """
        return do_fallocate(self, fd, mode, offset, length)

    @syscall("unsigned int fd")
    def fsync(self, fd: int) -> int:
        """fsync(2): nothing changes but a disk file's dirty pages turning clean; see
        rmapkit.model.filemap.do_fsync.

        :returns: 0.
        :raises OSError: EBADF (fd not open), EINVAL (a device without fsync: /dev/zero).
        O(c) for c cached pages.
        """
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
