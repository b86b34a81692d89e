"""One process of a live scenario: a command loop that performs syscalls when told to.

Every scenario process ("P0", a forked "P1"...) is a real process running this loop on its
own SOCK_SEQPACKET control socket.  ``fork`` is a real fork(2) inside the worker: the new
control socket arrives with the command (SCM_RIGHTS) and the child continues the loop on
it.  Workers ignore SIGCHLD so the kernel reaps their exited children; the driver (a child
subreaper) reaps the rest.  Cost per command: one socket round trip plus the syscall.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket

from rmapkit.live.syscalls import Fault, Libc

__all__ = ["Worker", "encode_errno"]

MAX_MSG = 1 << 16


def encode_errno(err):
    """'EEXIST' for errno.EEXIST (the name a scenario's ``expect`` uses)."""
    return errno.errorcode.get(err, str(err))


class Worker:
    """The state of one scenario process: its libc handle and named file descriptors."""

    def __init__(self, sock, files_dir):
        self.sock = sock
        self.files_dir = files_dir
        self.libc = Libc()
        self.fds = {}               # scenario fd name -> real fd

    def serve(self):
        """Run commands until ``exit`` or until the driver goes away; never returns."""
        try:
            while True:
                msg, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_MSG, 1)
                if not msg:
                    os._exit(0)
                cmd = json.loads(msg)
                kind = cmd["kind"]
                if kind == "fork":
                    self._fork(fds[0])
                    continue
                reply = self.execute(kind, cmd["args"])
                self.sock.send(json.dumps(reply).encode())
                if kind == "exit":
                    os._exit(0)
        except BaseException:               # never unwind into the driver's code
            os._exit(70)

    def _fork(self, child_fd):
        child_sock = socket.socket(fileno=child_fd)
        try:
            pid = os.fork()
        except OSError as e:
            child_sock.close()
            self.sock.send(json.dumps({"errno": encode_errno(e.errno)}).encode())
            return
        if pid == 0:
            self.sock.close()
            self.sock = child_sock
            self.libc.new_pipe()
            return
        child_sock.close()
        self.sock.send(json.dumps({"ok": True, "ret": pid}).encode())

    def execute(self, kind, a):
        """Perform one op; return {"ok", "ret"} or {"errno"} or {"fault"} or {"error"}."""
        try:
            ret = getattr(self, "op_" + kind)(**a)
            return {"ok": True, "ret": ret}
        except Fault as f:
            return {"fault": f.addr}
        except OSError as e:
            return {"errno": encode_errno(e.errno)}
        except Exception as e:              # a bug in this file, reported not raised
            return {"error": f"{type(e).__name__}: {e}"}

    def _fd(self, name):
        if name is None:
            return -1
        return self.fds[name]

    def op_mmap(self, addr, length, prot, flags, fd=None, offset=0):
        return self.libc.mmap(addr, length, prot, flags, self._fd(fd), offset)

    def op_munmap(self, addr, length):
        self.libc.munmap(addr, length)

    def op_mprotect(self, addr, length, prot):
        self.libc.mprotect(addr, length, prot)

    def op_mremap(self, addr, old_length, new_length, flags=0, new_addr=0):
        return self.libc.mremap(addr, old_length, new_length, flags, new_addr)

    def op_madvise(self, addr, length, advice):
        self.libc.madvise(addr, length, advice)

    def op_read(self, addr, length):
        self.libc.touch(addr, length, write=False)

    def op_write(self, addr, length):
        self.libc.touch(addr, length, write=True)

    def op_open(self, path, flags, fd):
        real = path if path.startswith("/") else os.path.join(self.files_dir, path)
        self.fds[fd] = os.open(real, flags)
        if os.path.islink(real):
            # A disk file (see Run.start): POSIX_FADV_RANDOM makes pread() read exactly
            # the pages asked for, as the model does (it models no readahead).
            os.posix_fadvise(self.fds[fd], 0, 0, os.POSIX_FADV_RANDOM)

    def op_pwrite(self, fd, offset, length):
        return os.pwrite(self.fds[fd], b"\x01" * length, offset)

    def op_pread(self, fd, offset, length):
        return len(os.pread(self.fds[fd], length, offset))

    def op_fallocate(self, fd, mode, offset, length):
        return self.libc.fallocate(self.fds[fd], mode, offset, length)

    def op_fsync(self, fd):
        os.fsync(self.fds[fd])
        return 0

    def op_memfd(self, name, fd):
        self.fds[fd] = os.memfd_create(name, 0)

    def op_ftruncate(self, fd, length):
        os.ftruncate(self.fds[fd], length)
        return 0

    def op_close(self, fd):
        os.close(self.fds.pop(fd))

    def op_exit(self):
        return None


def start_p0(sock, files_dir):
    """Body of the first scenario process, forked from the driver; never returns."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):                    # never hold the caller's pipes open
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    Worker(sock, files_dir).serve()
