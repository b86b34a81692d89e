"""Exceptions: syscall failures are OSError(errno); faults and broken invariants have their own.

A syscall that fails raises ``OSError(errno, "mmap: ...reason")`` with the errno the real
syscall returns, so ``except OSError as e: e.errno == errno.EINVAL`` reads like C.
"""

import errno as _errno
import os as _os

__all__ = ["SegmentationFault", "BusError", "OutOfMemory", "ValidationError", "syscall_error"]


class SegmentationFault(Exception):
    """An access the kernel would answer with SIGSEGV (no VMA, or protection forbids it).

    ``signal`` names the signal ("SIGSEGV"; "SIGBUS" for a BusError), ``addr`` the faulting
    address, ``reason`` why: callers read these, never the message text.
    """

    signal = "SIGSEGV"

    def __init__(self, addr, reason):
        self.addr = addr
        self.reason = reason
        super().__init__(f"{self.signal} at {addr:#x}: {reason}")


class BusError(SegmentationFault):
    """An access the kernel would answer with SIGBUS (beyond the end of a file, a hole in a
    PFN mapping)."""

    signal = "SIGBUS"

    def __init__(self, addr, reason):
        Exception.__init__(self, f"{self.signal} at {addr:#x}: {reason}")
        self.addr = addr
        self.reason = reason


class OutOfMemory(SegmentationFault):
    """A fault that needed a page when the machine had none left (VM_FAULT_OOM).

    The kernel answers with pagefault_out_of_memory() and the OOM killer; the model raises
    this from the access instead (a signal, like SegmentationFault) and kills nobody.
    ``addr`` is the faulting page (None when not known yet).
    """

    def __init__(self, addr, reason):
        Exception.__init__(self, f"out of memory at "
                                 f"{'?' if addr is None else f'{addr:#x}'}: {reason}")
        self.addr = addr
        self.reason = reason


class ValidationError(AssertionError):
    """A model invariant does not hold; the message names the object and the field."""


def syscall_error(err, call, reason):
    """Return the OSError a failing syscall ``call`` raises, e.g. ``EINVAL`` for mmap."""
    name = _errno.errorcode.get(err, str(err))
    return OSError(err, f"{call}: {name} ({_os.strerror(err)}): {reason}")
