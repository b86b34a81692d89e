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
from rmapkit.uapi import PAGE_SHIFT, PAGE_SIZE

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
KPF_COMPOUND_HEAD = 15
KPF_COMPOUND_TAIL = 16
KPF_THP = 22
KPF_ZERO_PAGE = 24
# include/uapi/linux/fs.h: PAGEMAP_SCAN = _IOWR('f', 16, struct pm_scan_arg)
PAGE_IS_PRESENT = 1 << 3
PAGE_IS_PFNZERO = 1 << 5
PAGE_IS_HUGE = 1 << 6
_PM_SCAN_ARG = struct.Struct("<12Q")
PAGEMAP_SCAN = (3 << 30) | (_PM_SCAN_ARG.size << 16) | (ord("f") << 8) | 16

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
        self.flags_fd = self._open("/proc/kpageflags", "anon", "zero_page", "thp",
                                   "compound", "order")
        self.count_fd = self._open("/proc/kpagecount", "mapcount")
        self.folios = {}            # head pfn -> order, found while reading one snapshot

    def folio_order(self, pfn, flags):
        """The order of the compound folio holding ``pfn``: walk kpageflags back to its
        head (KPF_COMPOUND_HEAD) and forward over its tails. O(nr_pages) once per folio."""
        for head, order in self.folios.items():
            if head <= pfn < head + (1 << order):
                return order
        head = pfn
        while flags is not None and not flags >> KPF_COMPOUND_HEAD & 1 and pfn - head < 512:
            head -= 1
            flags = self.flags(head)
        n = 1
        while n < 512:
            f = self.flags(head + n)
            if f is None or not f >> KPF_COMPOUND_TAIL & 1:
                break
            n += 1
        order = n.bit_length() - 1
        self.folios[head] = order
        return order

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
    The last item is the smaps ``AnonHugePages`` in kB.  Cost: O(all VMAs of the process).
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
                    cur = [start, end, perms, offset, name, (), None]
                    out.append(cur)
            elif cur is not None and line.startswith("VmFlags:"):
                cur[5] = tuple(line.split()[1:])
            elif cur is not None and line.startswith("AnonHugePages:"):
                cur[6] = int(line.split()[1])
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
    kpages.folios = {}
    with open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pm:
        for start, end, perms, offset, vname, vmflags, ahp in \
                read_window_vmas(pid, window, rename):
            vmas.append(VMAView(vm_start=start, vm_end=end, perms=perms, offset=offset,
                                name=vname, vm_flags=vmflags, anon_huge_pages=ahp))
            a, b = max(start, lo), min(end, hi)
            n = (b - a) >> PAGE_SHIFT
            data = os.pread(pm.fileno(), 8 * n, (a >> PAGE_SHIFT) * 8)
            huge = pagemap_scan_huge(pm.fileno(), a, b, unknown)
            for i, entry in enumerate(struct.unpack(f"<{n}Q", data)):
                addr = a + (i << PAGE_SHIFT)
                pages.append(_page(addr, entry, kpages, unknown,
                                   None if huge is None else addr in huge))
    return ProcessView(name=name, vmas=tuple(vmas), pages=tuple(pages)), unknown


def pagemap_scan_huge(fd, start, end, unknown):
    """The set of page addresses in ``[start, end)`` mapped by a huge PMD, from the
    PAGEMAP_SCAN ioctl (fs/proc/task_mmu.c: do_pagemap_scan(), PAGE_IS_HUGE; 6.7+), or
    None if the ioctl is refused.  Cost: one ioctl per 512 regions."""
    import ctypes
    import fcntl
    out = set()
    n = 512
    vec = (ctypes.c_uint64 * (3 * n))()
    pos = start
    while pos < end:
        arg = bytearray(_PM_SCAN_ARG.pack(_PM_SCAN_ARG.size, 0, pos, end, 0,
                                          ctypes.addressof(vec), n, 0, 0, 0,
                                          PAGE_IS_PRESENT, PAGE_IS_HUGE | PAGE_IS_PRESENT))
        try:
            got = fcntl.ioctl(fd, PAGEMAP_SCAN, arg)
        except OSError as e:
            unknown["pmd"] = f"PAGEMAP_SCAN: {e.strerror}"
            return None
        walk_end = _PM_SCAN_ARG.unpack(bytes(arg))[4]
        for r in range(got):
            s, e, cat = vec[3 * r], vec[3 * r + 1], vec[3 * r + 2]
            if cat & PAGE_IS_HUGE:
                out.update(range(s, e, PAGE_SIZE))
        if walk_end <= pos or got < n:
            break
        pos = walk_end
    return out


def _page(addr, entry, kpages, unknown, huge=None):
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
    anon = zero = thp = compound = order = None
    key = None
    if flags is not None:
        anon = bool(flags >> KPF_ANON & 1)
        zero = bool(flags >> KPF_ZERO_PAGE & 1)
        thp = bool(flags >> KPF_THP & 1)
        compound = "head" if flags >> KPF_COMPOUND_HEAD & 1 else \
            "tail" if flags >> KPF_COMPOUND_TAIL & 1 else ""
        order = kpages.folio_order(pfn, flags) if compound else 0
        key = "zero" if zero else pfn
    else:
        # Without kpageflags the zero page cannot be told from any other frame.
        unknown["frame"] = "the zero page cannot be recognised without /proc/kpageflags"
    return PageView(addr=addr, present=True, frame=key, pfn=pfn, anon=anon, zero_page=zero,
                    exclusive=exclusive, mapcount=count, thp=thp, compound=compound,
                    order=order, pmd=huge)


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
    if pg.frame == label:
        return pg
    return PageView(**dict(pg.__dict__, frame=label))
