"""Helpers for the model tests (tests/test_model_*.py): a page window, layouts drawn in the
kernel's ruler-and-letters notation, and a deep fingerprint of the model to prove that a
failing call left it unchanged.

The window starts at ``W`` (page number ``WPG``); page ``i`` of it is ``pg(i)``.  Private
anonymous memory mapped at ``pg(i)`` gets ``vm_pgoff == WPG + i`` (the virtual anon file),
so tests state pgoffs relative to the window with ``rel(vma.vm_pgoff)``.

Layouts are drawn as in tools/testing/vma/vma.c::

    0123456789abcdef
    AAA.BBB

one character per page of the window, one letter per VMA (A, B, C... in address order,
or letters chosen by the caller), ``.`` for a hole; trailing holes are dropped.
"""

import errno
import string

import pytest

from rmapkit import Kernel, PAGE_SIZE
from rmapkit.errors import SegmentationFault
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE

PS = PAGE_SIZE
W = 0x10000000                      # the window: 16 MiB-aligned, far from mmap_base
WPG = W // PS                       # its first page number (the anon pgoff of page 0)
RW = PROT_READ | PROT_WRITE
PA = MAP_PRIVATE | MAP_ANONYMOUS
PAF = PA | MAP_FIXED
SAF = MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED

__all__ = ["PS", "W", "WPG", "RW", "PA", "PAF", "SAF", "pg", "rel", "anon", "vma_at",
           "layout", "draw", "fingerprint", "assert_unchanged_after", "expect_errno",
           "expect_segv", "Checked", "spans", "page_of", "avc_labels", "new_kernel"]


def pg(i):
    """Address of page ``i`` of the window."""
    return W + i * PS


def page_of(addr):
    """Window page number of ``addr``."""
    return (addr - W) // PS


def rel(pgoff):
    """A pgoff relative to the window (anon memory mapped at ``pg(i)`` has ``rel == i``)."""
    return pgoff - WPG


def anon(p, first, npages, prot=RW, flags=0):
    """mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED) of ``npages`` pages at page ``first``."""
    return p.mmap(pg(first), npages * PS, prot, PAF | flags)


def vma_at(p, i):
    """The VMA containing page ``i`` (or None)."""
    return p.mm.vma_lookup(pg(i))


def spans(p):
    """``[(first page, end page, relative pgoff)]`` of every VMA in the window."""
    return [(page_of(v.vm_start), page_of(v.vm_end), rel(v.vm_pgoff)) for v in p.mm.vmas
            if v.vm_end > W]


def avc_labels(vma):
    """Labels of the anon_vmas ``vma`` is chained to, newest first (the kernel's order)."""
    return [avc.anon_vma.label for avc in vma.anon_vma_chain]


def layout(p, npages=64, letters=None):
    """The letters line of the window: one letter per VMA, ``.`` for holes.

    ``letters`` maps VMA structs (or ids) to letters; the others get A, B, C... in address
    order, skipping letters already given.
    """
    given = {}
    for key, ch in (letters or {}).items():
        given[key if isinstance(key, str) else key.id] = ch
    free = iter(c for c in string.ascii_uppercase if c not in given.values())
    out, names = [], {}
    for i in range(npages):
        v = p.mm.vma_lookup(pg(i))
        if v is None:
            out.append(".")
            continue
        if v.id not in names:
            names[v.id] = given.get(v.id) or next(free)
        out.append(names[v.id])
    return "".join(out).rstrip(".")


def draw(p, npages=64):
    """Ruler + letters, for failure messages."""
    line = layout(p, npages)
    return "0123456789abcdefghijklmnopqrstuv"[:max(len(line), 1)] + "\n" + line


def new_kernel(**kw):
    return Kernel(**kw)


def _vma_key(v):
    f = v.vm_file
    return (v.id, v.vm_start, v.vm_end, v.vm_pgoff, v.vm_flags, getattr(f, "label", None),
            v.vm_ops, getattr(v.anon_vma, "label", None), tuple(avc_labels(v)))


def fingerprint(k):
    """Everything observable about the model, as plain comparable data.

    ``k.snapshot()`` plus what it leaves out: map_count, every PTE (pfn, writable, special),
    every folio's index/mapping/mapcount/exclusive bit, every anon_vma's counters and tree
    keys, page caches and i_mmap trees, the file tables, and the number of live folios.
    """
    procs = []
    folios = {}
    for name, p in k.processes.items():
        mm = p.mm
        ptes = []
        for a, pte in mm.pgtable.items():
            f = pte.folio
            if f is not None:
                folios[f.label] = (f.pfn, f.index, getattr(f.mapping, "label", None),
                                   f.mapcount, f.anon_exclusive)
            ptes.append((a, pte.pfn, pte.writable, pte.special, getattr(f, "label", None)))
        procs.append((name, p.maps(), mm.map_count, tuple(_vma_key(v) for v in mm.vmas),
                      tuple(ptes), tuple(sorted((fd, f.label) for fd, f in p.fds.items()))))
    avs = tuple((label, av.root.label, av.parent.label, av.num_children, av.num_active_vmas,
                 av.refcount, tuple((s, l, c.vma.id) for s, l, c in av.rb_root.items()))
                for label, av in k.anon_vmas.items())
    files = tuple((path, ino.size, tuple((i, f.label, f.uptodate, f.dirty)
                                         for i, f in ino.mapping.pages.items()),
                   tuple((s, l, v.id) for s, l, v in ino.mapping.i_mmap.items()))
                  for path, ino in sorted(k.inodes.items()))
    return {"snapshot": k.snapshot(), "procs": tuple(procs), "anon_vmas": avs,
            "folios": tuple(sorted(folios.items())), "files": files,
            "nr_allocated": k.physmem.nr_allocated}


def _diff(before, after):
    return [key for key in before if before[key] != after[key]]


def assert_unchanged_after(k, fn, *args, **kw):
    """Run ``fn``; assert it changed nothing and return what it returned (or raised)."""
    before = fingerprint(k)
    try:
        result = fn(*args, **kw)
    except (OSError, SegmentationFault) as e:
        result = e
    k.validate()
    after = fingerprint(k)
    changed = _diff(before, after)
    assert not changed, f"{fn.__name__}{args} changed {changed}"
    return result


def expect_errno(k, err, fn, *args, unchanged=True, **kw):
    """``fn(*args)`` must raise OSError(err); the model must be valid and (by default)
    exactly as before.  Returns the exception."""
    before = fingerprint(k)
    with pytest.raises(OSError) as info:
        fn(*args, **kw)
    got = info.value.errno
    assert got == err, (f"{fn.__name__}{tuple(hex(a) if isinstance(a, int) else a for a in args)}"
                        f": errno {errno.errorcode.get(got, got)}, expected "
                        f"{errno.errorcode[err]} ({info.value})")
    msg = str(info.value)
    assert fn.__name__ in msg, f"the message names the call: {msg!r}"
    k.validate()
    if unchanged:
        changed = _diff(before, fingerprint(k))
        assert not changed, f"failing {fn.__name__} changed {changed}"
    return info.value


def expect_segv(k, fn, *args):
    """A user access that must raise SegmentationFault; returns it."""
    with pytest.raises(SegmentationFault) as info:
        fn(*args)
    k.validate()
    return info.value


class Checked:
    """A process proxy that validates the whole kernel after every call.

    ``p = Checked(k.spawn())``: ``p.mmap(...)``, ``p.write(...)`` etc. run the syscall, then
    ``k.validate()`` (invariants after every step: docs/testing.md), even when the call
    raised.  Attribute reads (``p.mm``, ``p.maps``) pass through.
    """

    _CALLS = {"mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write", "fork",
              "exit", "open", "close", "memfd_create", "ftruncate", "pread", "pwrite",
              "fallocate", "fsync"}

    def __init__(self, proc):
        object.__setattr__(self, "_p", proc)

    @property
    def proc(self):
        return self._p

    def __getattr__(self, name):
        attr = getattr(self._p, name)
        if name not in self._CALLS:
            return attr
        k = self._p.kernel

        def call(*args, **kw):
            try:
                r = attr(*args, **kw)
            finally:
                k.validate()
            return Checked(r) if name == "fork" else r
        call.__name__ = name
        return call
