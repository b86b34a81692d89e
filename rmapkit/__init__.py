"""rmapkit: an executable model of Linux 6.18 address spaces and reverse mapping.

>>> from rmapkit import Kernel, PAGE_SIZE
>>> from rmapkit.uapi import *
>>> p = Kernel().spawn()
>>> a = p.mmap(0x7f0000000000, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE,
...            MAP_PRIVATE | MAP_ANONYMOUS)
>>> p.write(a, 3 * PAGE_SIZE)
>>> p.munmap(a + PAGE_SIZE, PAGE_SIZE)          # unmap page 2 of 3
0
>>> [(hex(v.vm_pgoff), v.anon_vma.label) for v in p.mm.vmas]
[('0x7f0000000', 'av0'), ('0x7f0000002', 'av0')]
"""

__all__ = ["Kernel", "Process", "MM", "VMA", "AnonVMA", "AnonVMAChain", "Folio", "PAGE_SIZE",
           "PAGE_SHIFT", "linear_page_index", "vma_address", "folio_anon_vma", "rmap_walk",
           "vm_normal_page", "SegmentationFault", "BusError", "ValidationError"]

_ERRORS = {"SegmentationFault", "BusError", "ValidationError"}


def __getattr__(name):
    """Load the model on first use (PEP 562), so ``import rmapkit.live`` or
    ``rmapkit.render`` never runs the model's modules: the live oracle stays independent."""
    if name in _ERRORS:
        from . import errors
        return getattr(errors, name)
    if name in __all__:
        from . import model
        return getattr(model, name)
    raise AttributeError(f"module 'rmapkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
