"""User-visible constants, as in the kernel's uapi headers (x86-64): the one home of numbers.

Mirrors include/uapi/asm-generic/mman-common.h, include/uapi/linux/mman.h,
arch/x86/include/uapi/asm/mman.h, include/uapi/asm-generic/fcntl.h and
include/uapi/linux/falloc.h, plus the two user-visible facts every layer needs: the page
size (arch/x86/include/asm/page_types.h) and the smaps ``VmFlags`` mnemonics (fs/proc/task_mmu.c: show_smap_vma_flags()).  Only
the values matter: a reader can hold them beside the C headers.  This module imports
nothing, so the model, the renderers and the live oracle (which never imports the model)
all take their numbers from here; tests/test_layers.py checks that no other module
writes them out again.
"""

__all__ = [
    "PAGE_SHIFT", "PAGE_SIZE", "PAGE_MASK",
    "THP_ANON_ORDERS", "THP_FILE_ORDERS", "THP_CHOICES", "THP_DEFAULTS", "THP_ANON_KEYS",
    "thp_size_key", "check_thp_value",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC", "PROT_SEM", "PROT_GROWSDOWN", "PROT_GROWSUP",
    "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE", "MAP_DROPPABLE", "MAP_TYPE",
    "MAP_FIXED", "MAP_ANONYMOUS", "MAP_ANON", "MAP_GROWSDOWN", "MAP_DENYWRITE",
    "MAP_EXECUTABLE", "MAP_LOCKED", "MAP_NORESERVE", "MAP_POPULATE", "MAP_NONBLOCK",
    "MAP_STACK", "MAP_HUGETLB", "MAP_SYNC", "MAP_FIXED_NOREPLACE", "MAP_FAILED",
    "MREMAP_MAYMOVE", "MREMAP_FIXED", "MREMAP_DONTUNMAP",
    "MADV_NORMAL", "MADV_RANDOM", "MADV_SEQUENTIAL", "MADV_WILLNEED", "MADV_DONTNEED",
    "MADV_FREE", "MADV_REMOVE", "MADV_DONTFORK", "MADV_DOFORK", "MADV_MERGEABLE",
    "MADV_UNMERGEABLE", "MADV_HUGEPAGE", "MADV_NOHUGEPAGE", "MADV_DONTDUMP", "MADV_DODUMP",
    "MADV_WIPEONFORK", "MADV_KEEPONFORK", "MADV_COLD", "MADV_PAGEOUT", "MADV_POPULATE_READ",
    "MADV_POPULATE_WRITE", "MADV_DONTNEED_LOCKED", "MADV_COLLAPSE", "MADV_HWPOISON",
    "MADV_SOFT_OFFLINE", "MADV_GUARD_INSTALL", "MADV_GUARD_REMOVE",
    "O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE", "O_CREAT", "O_EXCL", "O_TRUNC",
    "O_APPEND", "O_CLOEXEC", "SMAPS_VMFLAGS",
    "FALLOC_FL_KEEP_SIZE", "FALLOC_FL_PUNCH_HOLE", "FALLOC_FL_COLLAPSE_RANGE",
    "FALLOC_FL_ZERO_RANGE", "FALLOC_FL_INSERT_RANGE", "FALLOC_FL_UNSHARE_RANGE",
    "FALLOC_FL_WRITE_ZEROES",
    "MFD_CLOEXEC", "MFD_ALLOW_SEALING", "MFD_HUGETLB", "MFD_NOEXEC_SEAL", "MFD_EXEC",
    "MFD_ALL_FLAGS",
]

# arch/x86/include/asm/page_types.h: 4 KiB pages.
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)

# include/uapi/asm-generic/mman-common.h
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_SEM = 0x8                  # arch/x86/include/uapi/asm/mman.h (accepted, no effect)
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

# include/uapi/linux/mman.h, asm-generic/mman-common.h, x86 mman.h
MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03
MAP_DROPPABLE = 0x08
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_ANON = MAP_ANONYMOUS
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
MAP_FIXED_NOREPLACE = 0x100000
MAP_FAILED = -1

MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2
MREMAP_DONTUNMAP = 4

MADV_NORMAL = 0
MADV_RANDOM = 1
MADV_SEQUENTIAL = 2
MADV_WILLNEED = 3
MADV_DONTNEED = 4
MADV_FREE = 8
MADV_REMOVE = 9
MADV_DONTFORK = 10
MADV_DOFORK = 11
MADV_MERGEABLE = 12
MADV_UNMERGEABLE = 13
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_DONTDUMP = 16
MADV_DODUMP = 17
MADV_WIPEONFORK = 18
MADV_KEEPONFORK = 19
MADV_COLD = 20
MADV_PAGEOUT = 21
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
MADV_DONTNEED_LOCKED = 24
MADV_COLLAPSE = 25
MADV_HWPOISON = 100
MADV_SOFT_OFFLINE = 101
MADV_GUARD_INSTALL = 102
MADV_GUARD_REMOVE = 103

# include/uapi/asm-generic/fcntl.h
O_ACCMODE = 0o3
O_RDONLY = 0o0
O_WRONLY = 0o1
O_RDWR = 0o2
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_APPEND = 0o2000
O_CLOEXEC = 0o2000000

# fs/proc/task_mmu.c: show_smap_vma_flags(): the two-letter ``VmFlags:`` names, in the
# kernel's bit order.  ``sd`` (VM_SOFTDIRTY) exists only with CONFIG_MEM_SOFT_DIRTY, off
# on the reference kernel, where VM_SOFTDIRTY is 0 and so never shown.
SMAPS_VMFLAGS = (
    ("VM_READ", "rd"), ("VM_WRITE", "wr"), ("VM_EXEC", "ex"), ("VM_SHARED", "sh"),
    ("VM_MAYREAD", "mr"), ("VM_MAYWRITE", "mw"), ("VM_MAYEXEC", "me"), ("VM_MAYSHARE", "ms"),
    ("VM_GROWSDOWN", "gd"), ("VM_PFNMAP", "pf"), ("VM_LOCKED", "lo"), ("VM_IO", "io"),
    ("VM_SEQ_READ", "sr"), ("VM_RAND_READ", "rr"), ("VM_DONTCOPY", "dc"),
    ("VM_DONTEXPAND", "de"), ("VM_LOCKONFAULT", "lf"), ("VM_ACCOUNT", "ac"),
    ("VM_NORESERVE", "nr"), ("VM_HUGETLB", "ht"), ("VM_SYNC", "sf"), ("VM_WIPEONFORK", "wf"),
    ("VM_DONTDUMP", "dd"), ("VM_SOFTDIRTY", "sd"), ("VM_MIXEDMAP", "mm"),
    ("VM_HUGEPAGE", "hg"), ("VM_NOHUGEPAGE", "nh"), ("VM_MERGEABLE", "mg"),
)

# include/uapi/linux/falloc.h (fallocate(2) modes)
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_COLLAPSE_RANGE = 0x08
FALLOC_FL_ZERO_RANGE = 0x10
FALLOC_FL_INSERT_RANGE = 0x20
FALLOC_FL_UNSHARE_RANGE = 0x40
FALLOC_FL_WRITE_ZEROES = 0x80

# /sys/kernel/mm/transparent_hugepage/: the files rmapkit knows, their values and a stock
# 6.18's defaults (mm/huge_memory.c: enabled_store(), defrag_store(), anon_enabled_store(),
# thpsize_shmem_enabled_store(), single_hugepage_flag_store(); mm/shmem.c:
# shmem_enabled_store(); mm/khugepaged.c).  Shared by the model (ThpSettings), the live
# side (rmapkit.live.thp) and the scenario parser, so all three accept and refuse the same
# values.  ``anon_beside_full`` is a knob of the reference machine's kernel that mainline
# does not have; 0 means mainline behaviour.
_THP_PMD_ORDER = 9

# THP_ORDERS_ALL_ANON: orders 2..PMD_ORDER (order 1 is never an anonymous THP order).
THP_ANON_ORDERS = tuple(range(2, _THP_PMD_ORDER + 1))
# thpsize_create(): directories for anon and file orders 1..9; ``enabled`` only for anon.
THP_FILE_ORDERS = tuple(range(1, _THP_PMD_ORDER + 1))


def thp_size_key(order, name="enabled"):
    """``"hugepages-64kB/enabled"`` for order 4. O(1)."""
    return f"hugepages-{(PAGE_SIZE << order) >> 10}kB/{name}"


THP_CHOICES = {
    "enabled": ("always", "madvise", "never"),
    "defrag": ("always", "defer", "defer+madvise", "madvise", "never"),
    "use_zero_page": ("0", "1"),
    "shmem_enabled": ("always", "within_size", "advise", "never", "deny", "force"),
    "shrink_underused": ("0", "1"),
    "khugepaged/defrag": ("0", "1"),
}
_NUMBERS = {"khugepaged/max_ptes_none": (0, 511),
            "khugepaged/max_ptes_swap": (0, 511),
            "khugepaged/max_ptes_shared": (0, 511),
            "khugepaged/pages_to_scan": (1, 1 << 32),
            "khugepaged/scan_sleep_millisecs": (0, 1 << 32),
            "khugepaged/alloc_sleep_millisecs": (0, 1 << 32),
            "anon_beside_full": (0, 1 << 32)}
for _o in THP_ANON_ORDERS:
    THP_CHOICES[thp_size_key(_o)] = ("always", "inherit", "madvise", "never")
for _o in THP_FILE_ORDERS:
    THP_CHOICES[thp_size_key(_o, "shmem_enabled")] = ("always", "inherit", "within_size",
                                                   "advise", "never")

# A stock 6.18 built like this machine (TRANSPARENT_HUGEPAGE_MADVISE=y): hugepage_init_sysfs()
# puts the PMD order in ``inherit`` and leaves every other size ``never``.
THP_DEFAULTS = {
    "enabled": "madvise", "defrag": "madvise", "use_zero_page": "1",
    "shmem_enabled": "never", "shrink_underused": "1", "khugepaged/defrag": "1",
    "khugepaged/max_ptes_none": "511", "khugepaged/max_ptes_swap": "64",
    "khugepaged/max_ptes_shared": "256", "khugepaged/pages_to_scan": "4096",
    "khugepaged/scan_sleep_millisecs": "10000", "khugepaged/alloc_sleep_millisecs": "60000",
    "anon_beside_full": "0",
}
for _o in THP_ANON_ORDERS:
    THP_DEFAULTS[thp_size_key(_o)] = "inherit" if _o == _THP_PMD_ORDER else "never"
for _o in THP_FILE_ORDERS:
    THP_DEFAULTS[thp_size_key(_o, "shmem_enabled")] = \
        "inherit" if _o == _THP_PMD_ORDER else "never"


def check_thp_value(key, value):
    """``(normalised value, None)`` if sysfs accepts ``value`` for ``key``, else
    ``(None, why)`` (the write would fail with EINVAL).  O(1)."""
    v = str(value).strip()
    if key in THP_CHOICES:
        if v not in THP_CHOICES[key]:
            return None, f"{key}: {value!r} is not one of {', '.join(THP_CHOICES[key])}"
        return v, None
    if key in _NUMBERS:
        lo, hi = _NUMBERS[key]
        if not v.isdigit() or not lo <= int(v) <= hi:
            return None, f"{key}: {value!r} is not a number in {lo}..{hi}"
        return str(int(v)), None
    return None, f"{key}: no such file"


# The settings that decide what an anonymous or shmem fault gets (the rest only tune
# khugepaged and allocation effort).
THP_ANON_KEYS = ("enabled", "use_zero_page", "shmem_enabled") + tuple(
    thp_size_key(o) for o in THP_ANON_ORDERS) + tuple(
    thp_size_key(o, "shmem_enabled") for o in THP_FILE_ORDERS)

# include/uapi/linux/memfd.h (MFD_ALL_FLAGS: mm/memfd.c)
MFD_CLOEXEC = 0x0001
MFD_ALLOW_SEALING = 0x0002
MFD_HUGETLB = 0x0004
MFD_NOEXEC_SEAL = 0x0008
MFD_EXEC = 0x0010
MFD_ALL_FLAGS = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC
