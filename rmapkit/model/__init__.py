"""The faithful core: Linux 6.18's VMAs, anon_vmas, folios, page tables and rmap.

Imports only ``rmapkit.uapi``, ``rmapkit.errors``, ``rmapkit.snapshot`` and
sortedcontainers; never the renderers or widgets.
"""

from .anon_vma import AnonVMA, AnonVMAChain
from .folio import Folio, Page
from .kernel import Kernel, Process
from .mm import MM
from .rmap import folio_anon_vma, page_vma_mapped, rmap_candidates, rmap_walk, vm_normal_page
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .vma import VMA, linear_page_index, vma_address

__all__ = ["Kernel", "Process", "MM", "VMA", "AnonVMA", "AnonVMAChain", "Folio", "Page",
           "PAGE_SIZE", "PAGE_SHIFT", "linear_page_index", "vma_address", "folio_anon_vma",
           "rmap_walk", "rmap_candidates", "page_vma_mapped", "vm_normal_page"]
