"""vm_flags bits and the helpers that derive them.

Mirrors include/linux/mm.h (v6.18, x86-64 values) and include/linux/mman.h:
calc_vm_prot_bits(), calc_vm_flag_bits().  CONFIG_MEM_SOFT_DIRTY is off on the
reference machine (smaps shows no ``sd``), so VM_SOFTDIRTY is 0 as in the kernel.
"""

from __future__ import annotations

from ..uapi import (MAP_GROWSDOWN, MAP_LOCKED, MAP_SYNC, PROT_EXEC, PROT_READ,
                    PROT_WRITE, SMAPS_VMFLAGS)

__all__ = [
    "VM_NONE", "VM_READ", "VM_WRITE", "VM_EXEC", "VM_SHARED", "VM_MAYREAD", "VM_MAYWRITE",
    "VM_MAYEXEC", "VM_MAYSHARE", "VM_GROWSDOWN", "VM_UFFD_MISSING", "VM_PFNMAP",
    "VM_MAYBE_GUARD", "VM_UFFD_WP", "VM_LOCKED", "VM_IO", "VM_SEQ_READ", "VM_RAND_READ",
    "VM_DONTCOPY", "VM_DONTEXPAND", "VM_LOCKONFAULT", "VM_ACCOUNT", "VM_NORESERVE",
    "VM_HUGETLB", "VM_SYNC", "VM_ARCH_1", "VM_WIPEONFORK", "VM_DONTDUMP", "VM_SOFTDIRTY",
    "VM_MIXEDMAP", "VM_HUGEPAGE", "VM_NOHUGEPAGE", "VM_MERGEABLE", "VM_SPECIAL",
    "VM_ACCESS_FLAGS", "VM_LOCKED_MASK", "calc_vm_prot_bits", "calc_vm_flag_bits",
    "is_cow_mapping", "flag_names", "smaps_vmflags", "perms_string",
]

VM_NONE = 0x00000000
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_UFFD_MISSING = 0x00000200
VM_PFNMAP = 0x00000400
VM_MAYBE_GUARD = 0x00000800
VM_UFFD_WP = 0x00001000
VM_LOCKED = 0x00002000
VM_IO = 0x00004000
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000
VM_SYNC = 0x00800000
VM_ARCH_1 = 0x01000000
VM_WIPEONFORK = 0x02000000
VM_DONTDUMP = 0x04000000
VM_SOFTDIRTY = 0            # CONFIG_MEM_SOFT_DIRTY=n on the reference kernel
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000

# include/linux/mm.h: "Special vmas that are non-mergable, non-mlock()able."
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP
VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC
VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT

_NAMES = [(v, k) for k, v in sorted(globals().items())
          if k.startswith("VM_") and isinstance(v, int) and v and (v & (v - 1)) == 0]

# fs/proc/task_mmu.c: show_smap_vma_flags() mnemonics, in bit order (the table lives in
# rmapkit.uapi; a flag that is 0 in this configuration, VM_SOFTDIRTY, is never shown).
_MNEMONICS = [(globals()[name], m) for name, m in SMAPS_VMFLAGS if globals()[name]]


def calc_vm_prot_bits(prot: int) -> int:
    """PROT_* -> VM_READ/WRITE/EXEC.  Model of include/linux/mman.h: calc_vm_prot_bits(). O(1)."""
    return ((VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0)
            | (VM_EXEC if prot & PROT_EXEC else 0))


def calc_vm_flag_bits(flags: int) -> int:
    """MAP_* -> VM_GROWSDOWN/LOCKED/SYNC.  Model of calc_vm_flag_bits() (v6.18). O(1)."""
    return ((VM_GROWSDOWN if flags & MAP_GROWSDOWN else 0)
            | (VM_LOCKED if flags & MAP_LOCKED else 0)
            | (VM_SYNC if flags & MAP_SYNC else 0))


def is_cow_mapping(vm_flags: int) -> bool:
    """A private mapping that may become writable.  Model of mm.h: is_cow_mapping(). O(1)."""
    return (vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE


def flag_names(vm_flags: int) -> str:
    """``"VM_READ|VM_WRITE|..."`` in bit order, for messages and diagrams. O(bits)."""
    return "|".join(n for v, n in sorted(_NAMES) if vm_flags & v) or "VM_NONE"


def smaps_vmflags(vm_flags: int) -> tuple[str, ...]:
    """The smaps ``VmFlags:`` mnemonics for ``vm_flags``.  Model of show_smap_vma_flags()."""
    return tuple(m for v, m in _MNEMONICS if vm_flags & v)


def perms_string(vm_flags: int) -> str:
    """The maps permission column, e.g. ``rw-p``.  Model of task_mmu.c: show_vma_header_prefix()."""
    return ("r" if vm_flags & VM_READ else "-") + ("w" if vm_flags & VM_WRITE else "-") + \
        ("x" if vm_flags & VM_EXEC else "-") + ("s" if vm_flags & VM_MAYSHARE else "p")
