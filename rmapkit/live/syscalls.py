"""The memory-management syscalls of the running kernel, through ctypes on libc.

Each function returns the syscall's result or raises ``OSError(errno)`` like the model does,
so one scenario op means the same call in both.  Page touches go through ``read(2)`` /
``write(2)`` on a pipe with the page as the user buffer: the kernel's copy_to_user() /
copy_from_user() take the ordinary page fault path (handle_mm_fault() with
FAULT_FLAG_WRITE for a store), but an access the kernel would answer with SIGSEGV or SIGBUS
comes back as ``EFAULT`` instead of killing the process.  Cost: one syscall per call, two
per touched page.
"""

from __future__ import annotations

import ctypes
import os

from rmapkit.uapi import PAGE_SIZE

__all__ = ["Libc", "Fault", "SYS_mremap"]

SYS_mremap = 25                 # arch/x86/entry/syscalls/syscall_64.tbl
_MAP_FAILED = ctypes.c_void_p(-1).value


class Fault(Exception):
    """A touch the kernel refused (the process would have got SIGSEGV or SIGBUS)."""

    def __init__(self, addr):
        self.addr = addr
        super().__init__(f"fault at {addr:#x}")


class Libc:
    """Typed libc entry points plus a private pipe for page touches."""

    def __init__(self):
        c = ctypes.CDLL(None, use_errno=True)
        vp, sz, i, lg = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_long
        c.mmap.restype, c.mmap.argtypes = vp, [vp, sz, i, i, i, lg]
        c.munmap.restype, c.munmap.argtypes = i, [vp, sz]
        c.mprotect.restype, c.mprotect.argtypes = i, [vp, sz, i]
        c.madvise.restype, c.madvise.argtypes = i, [vp, sz, i]
        c.fallocate.restype, c.fallocate.argtypes = i, [i, i, lg, lg]
        c.syscall.restype = lg
        c.read.restype, c.read.argtypes = ctypes.c_ssize_t, [i, vp, sz]
        c.write.restype, c.write.argtypes = ctypes.c_ssize_t, [i, vp, sz]
        self.c = c
        self.new_pipe()

    def new_pipe(self):
        """(Re)create the touch pipe; a forked child calls this so it never shares one."""
        old = getattr(self, "pipe", None)
        self.pipe = os.pipe()
        if old:
            for fd in old:
                os.close(fd)

    @staticmethod
    def _fail(call):
        err = ctypes.get_errno()
        raise OSError(err, f"{call}: {os.strerror(err)}")

    def mmap(self, addr, length, prot, flags, fd=-1, offset=0):
        r = self.c.mmap(addr, length, prot, flags, fd, offset)
        if r == _MAP_FAILED:
            self._fail("mmap")
        return r or 0

    def munmap(self, addr, length):
        if self.c.munmap(addr, length) != 0:
            self._fail("munmap")

    def mprotect(self, addr, length, prot):
        if self.c.mprotect(addr, length, prot) != 0:
            self._fail("mprotect")

    def madvise(self, addr, length, advice):
        if self.c.madvise(addr, length, advice) != 0:
            self._fail("madvise")

    def fallocate(self, fd, mode, offset, length):
        if self.c.fallocate(fd, mode, offset, length) != 0:
            self._fail("fallocate")
        return 0

    def mremap(self, old_addr, old_len, new_len, flags=0, new_addr=0):
        L = ctypes.c_ulong
        r = self.c.syscall(ctypes.c_long(SYS_mremap), L(old_addr), L(old_len), L(new_len),
                           L(flags), L(new_addr))
        if r == -1:
            self._fail("mremap")
        return r & (2**64 - 1)

    def touch(self, addr, length, write):
        """Read or write one byte of every page of [addr, addr+length), in address order.

        A write is read(pipe, page, 1) (copy_to_user: a write fault); a read is
        write(pipe, page, 1) (copy_from_user: a read fault).  Raises Fault at the first page
        the kernel refuses.
        """
        rfd, wfd = self.pipe
        for a in range(addr, addr + length, PAGE_SIZE):
            if write:
                os.write(wfd, b"\x01")
                if self.c.read(rfd, a, 1) != 1:
                    os.read(rfd, 1)         # the byte stayed in the pipe
                    raise Fault(a)
            else:
                if self.c.write(wfd, a, 1) != 1:
                    raise Fault(a)
                os.read(rfd, 1)
