"""Read what the kernel shows of a process's window: smaps, pagemap, kpageflags, kpagecount.

Mirrors fs/proc/task_mmu.c (show_map_vma(), show_smap_vma_flags(), pagemap_read(),
pte_to_pagemap_entry()) and fs/proc/page.c (kpageflags_read(), kpagecount_read()) as of
Linux 6.18, read from user space.  Whatever cannot be read is reported as unknown with the
reason; nothing is guessed.  Cost: one smaps read per process (O(all VMAs of the process,
~1 ms for a Python process)), one pagemap pread per window VMA, two preads per present page.
"""

from __future__ import annotations

import os
import struct

from rmapkit.snapshot import PageView, ProcessView, VMAView, number_frames
from rmapkit.uapi import PAGE_SHIFT

__all__ = [
    "PM_PRESENT", "PM_FILE", "PM_MMAP_EXCLUSIVE", "PM_PFN_MASK", "KPF_ANON", "KPF_ZERO_PAGE",
    "KernelPages", "read_window_vmas", "read_process", "number_process_frames",
    "MODEL_ONLY_FIELDS",
]

# Documentation/admin-guide/mm/pagemap.rst, fs/proc/task_mmu.c
PM_PFN_MASK = (1 << 55) - 1     # bits 0-54: page frame number when present
PM_MMAP_EXCLUSIVE = 1 << 56     # page mapped exactly once (folio_precise_page_mapcount == 1)
PM_FILE = 1 << 61               # file page or shared anon (shmem)
PM_PRESENT = 1 << 63
# include/uapi/linux/kernel-page-flags.h
KPF_ANON = 12
KPF_ZERO_PAGE = 24

# What the live kernel never shows, and why (Snapshot.unknown of every live snapshot).
MODEL_ONLY_FIELDS = {
    "vm_pgoff": "maps shows vm_pgoff only for file VMAs (anon offset column is 0)",
    "anon_vma": "struct anon_vma is not visible from user space",
    "anon_vma_chain": "struct anon_vma_chain is not visible from user space",
    "folio": "folio identity beyond the PFN is not visible from user space",
    "index": "folio->index is not visible from user space",
    "mapping": "folio->mapping is not visible from user space",
    "anon_exclusive": "PageAnonExclusive is not exported (pagemap bit 56 is 'mapped once')",
    "pfnmap": "pagemap does not say whether a PTE is special (remap_pfn_range)",
}


class KernelPages:
    """Open /proc/kpageflags and /proc/kpagecount once; record why either is unreadable.

    Model of nothing: a reader of fs/proc/page.c.  Cost: O(1) per lookup (one pread).
    """

    def __init__(self):
        self.unknown = {}
        self.flags_fd = self._open("/proc/kpageflags", "anon", "zero_page")
        self.count_fd = self._open("/proc/kpagecount", "mapcount")

    def _open(self, path, *fields):
        try:
            return os.open(path, os.O_RDONLY)
        except OSError as e:
            for f in fields:
                self.unknown[f] = f"{path} is unreadable ({e.strerror}; it needs root)"
            return None

    def flags(self, pfn):
        """Return the 64-bit kpageflags word of ``pfn`` or None."""
        return self._read(self.flags_fd, pfn)

    def count(self, pfn):
        """Return /proc/kpagecount of ``pfn`` (the page's mapcount) or None."""
        return self._read(self.count_fd, pfn)

    @staticmethod
    def _read(fd, pfn):
        if fd is None:
            return None
        data = os.pread(fd, 8, pfn * 8)
        return struct.unpack("<Q", data)[0] if len(data) == 8 else None

    def close(self):
        for fd in (self.flags_fd, self.count_fd):
            if fd is not None:
                os.close(fd)
        self.flags_fd = self.count_fd = None


def _parse_maps_line(line):
    """Split a maps/smaps header line into (start, end, perms, offset, name)."""
    parts = line.split(None, 5)
    start, end = (int(x, 16) for x in parts[0].split("-"))
    name = parts[5].strip() if len(parts) > 5 else ""
    return start, end, parts[1], int(parts[2], 16), name


def read_window_vmas(pid, window, rename=None):
    """Return [(start, end, perms, offset, name, vmflags)] of ``pid``'s VMAs meeting ``window``.

    Reads /proc/PID/smaps (show_smap() + show_smap_vma_flags()).  ``rename`` maps a path
    prefix to another (the child's temporary file directory to the scenario's fixed one).
    Cost: O(all VMAs of the process).
    """
    lo, hi = window
    out = []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if line[0] in "0123456789abcdef" and "-" in line.split(None, 1)[0]:
                start, end, perms, offset, name = _parse_maps_line(line)
                cur = None
                if start < hi and end > lo:
                    if rename:
                        for old, new in rename.items():
                            if name.startswith(old):
                                name = new + name[len(old):]
                    cur = [start, end, perms, offset, name, ()]
                    out.append(cur)
            elif cur is not None and line.startswith("VmFlags:"):
                cur[5] = tuple(line.split()[1:])
    return [tuple(v) for v in out]


def read_process(name, pid, window, kpages, rename=None):
    """Return (ProcessView with raw frame keys, unknown) for one live process.

    Per page: pagemap present bit 63, PFN bits 0-54, exclusive bit 56; kpageflags
    KPF_ANON / KPF_ZERO_PAGE and kpagecount of the PFN.  ``frame`` holds the raw key (the PFN
    or ``"zero"``) until number_process_frames() turns keys into labels.
    Cost: O(VMAs of the process + pages in the window).
    """
    unknown = {}
    vmas = []
    pages = []
    lo, hi = window
    with open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pm:
        for start, end, perms, offset, vname, vmflags in read_window_vmas(pid, window, rename):
            vmas.append(VMAView(vm_start=start, vm_end=end, perms=perms, offset=offset,
                                name=vname, vm_flags=vmflags))
            a, b = max(start, lo), min(end, hi)
            n = (b - a) >> PAGE_SHIFT
            data = os.pread(pm.fileno(), 8 * n, (a >> PAGE_SHIFT) * 8)
            for i, entry in enumerate(struct.unpack(f"<{n}Q", data)):
                pages.append(_page(a + (i << PAGE_SHIFT), entry, kpages, unknown))
    return ProcessView(name=name, vmas=tuple(vmas), pages=tuple(pages)), unknown


def _page(addr, entry, kpages, unknown):
    """One PageView from a pagemap entry; see read_process()."""
    if not entry & PM_PRESENT:
        return PageView(addr=addr, present=False)
    pfn = entry & PM_PFN_MASK
    exclusive = bool(entry & PM_MMAP_EXCLUSIVE)
    if pfn == 0:
        unknown["frame"] = ("/proc/PID/pagemap shows PFNs only to CAP_SYS_ADMIN "
                            "(pagemap_read(): pm.show_pfn)")
        unknown.setdefault("anon", "needs the PFN, which pagemap hides without root")
        unknown.setdefault("zero_page", "needs the PFN, which pagemap hides without root")
        unknown.setdefault("mapcount", "needs the PFN, which pagemap hides without root")
        return PageView(addr=addr, present=True, exclusive=exclusive)
    flags = kpages.flags(pfn)
    count = kpages.count(pfn)
    anon = zero = None
    key = None
    if flags is not None:
        anon = bool(flags >> KPF_ANON & 1)
        zero = bool(flags >> KPF_ZERO_PAGE & 1)
        key = "zero" if zero else pfn
    else:
        # Without kpageflags the zero page cannot be told from any other frame.
        unknown["frame"] = "the zero page cannot be recognised without /proc/kpageflags"
    return PageView(addr=addr, present=True, frame=key, pfn=pfn, anon=anon, zero_page=zero,
                    exclusive=exclusive, mapcount=count)


def number_process_frames(processes):
    """Replace raw frame keys by labels f0, f1... (see rmapkit.snapshot.number_frames)."""
    keys = [pg.frame for p in processes for pg in p.pages]
    labels = iter(number_frames(keys))
    out = []
    for p in processes:
        pages = tuple(_with_frame(pg, next(labels)) for pg in p.pages)
        out.append(ProcessView(name=p.name, vmas=p.vmas, pages=pages))
    return tuple(out)


def _with_frame(pg, label):
    from dataclasses import replace
    return replace(pg, frame=label)
