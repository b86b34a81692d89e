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

__version__ = "0.1.0"          # the one place the version is written (pyproject reads it)

__all__ = ["Kernel", "Process", "MM", "VMA", "AnonVMA", "AnonVMAChain", "Folio", "Page",
           "PAGE_SIZE",
           "PAGE_SHIFT", "linear_page_index", "vma_address", "folio_anon_vma", "rmap_walk",
           "rmap_candidates", "page_vma_mapped", "vm_normal_page", "SegmentationFault",
           "BusError", "OutOfMemory", "ValidationError"]

import sys as _sys

_ERRORS = {"SegmentationFault", "BusError", "OutOfMemory", "ValidationError"}


def _register_display():
    """Inside IPython (Jupyter, nbval), let rmapkit.render draw the model's objects.

    The renderers register themselves by class name (rmapkit.render.display.FORMATTERS), so
    the model never imports them and nothing of the model is imported here.
    """
    ipython = _sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "display_formatter"):
        from .render.display import register_formatters
        register_formatters(shell)


def __getattr__(name):
    """Load the model on first use (PEP 562), so ``import rmapkit.live`` or
    ``rmapkit.render`` never runs the model's modules: the live oracle stays independent."""
    if name in _ERRORS:
        from . import errors
        return getattr(errors, name)
    if name in ("PAGE_SIZE", "PAGE_SHIFT"):
        from . import uapi
        return getattr(uapi, name)
    if name in __all__:
        from . import model
        return getattr(model, name)
    raise AttributeError(f"module 'rmapkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


_register_display()
