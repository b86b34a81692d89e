"""anon_vma and anon_vma_chain: how rmap finds every VMA that may map an anonymous folio.

Mirrors mm/rmap.c (v6.18): anon_vma_alloc(), __anon_vma_prepare(), anon_vma_clone(),
anon_vma_fork(), unlink_anon_vmas(); mm/vma.c: find_mergeable_anon_vma(),
reusable_anon_vma(), anon_vma_compatible().  Locking and RCU are not modelled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..uapi import PAGE_SHIFT
from .interval_tree import IntervalTree
from .vmflags import VM_ACCESS_FLAGS, VM_SOFTDIRTY

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from .kernel import Kernel
    from .vma import VMA

__all__ = ["AnonVMA", "AnonVMAChain", "anon_vma_alloc", "anon_vma_prepare",
           "anon_vma_clone", "anon_vma_fork", "unlink_anon_vmas", "find_mergeable_anon_vma",
           "avc_insert", "avc_remove"]


class AnonVMA:
    """struct anon_vma: ``root``, ``parent``, counters and the ``rb_root`` interval tree."""

    def __init__(self, kernel: Kernel, label: str) -> None:
        self.kernel = kernel
        self.label = label
        self.root: AnonVMA = self
        self.parent: AnonVMA = self
        self.refcount = 1            # the "tree is non-empty" reference
        self.num_children = 0
        self.num_active_vmas = 0
        self.rb_root = IntervalTree()
        self.freed = False

    def __repr__(self):
        return (f"<AnonVMA {self.label} root={self.root.label} parent={self.parent.label} "
                f"children={self.num_children} active={self.num_active_vmas} "
                f"avcs={len(self.rb_root)}>")


class AnonVMAChain:
    """struct anon_vma_chain: links one VMA into one anon_vma's interval tree."""

    __slots__ = ("vma", "anon_vma")

    def __init__(self, vma: VMA, anon_vma: AnonVMA) -> None:
        self.vma = vma
        self.anon_vma = anon_vma

    def __repr__(self):
        return f"<avc {self.vma.id} -> {self.anon_vma.label}>"


def avc_insert(avc: AnonVMAChain) -> None:
    """anon_vma_interval_tree_insert(): key the avc on its VMA's pgoff range. O(log n)."""
    v = avc.vma
    avc.anon_vma.rb_root.insert(avc, v.vm_pgoff, v.vm_pgoff + v.pages - 1)


def avc_remove(avc: AnonVMAChain) -> None:
    """anon_vma_interval_tree_remove(). O(log n)."""
    avc.anon_vma.rb_root.remove(avc)


def anon_vma_alloc(kernel: Kernel) -> AnonVMA:
    """A fresh root anon_vma.  Model of mm/rmap.c: anon_vma_alloc(). O(1)."""
    av = AnonVMA(kernel, f"av{kernel._next_av}")
    kernel._next_av += 1
    kernel.anon_vmas[av.label] = av
    return av


def _link(vma, av):
    """anon_vma_chain_link(): new avc at the head of vma's chain, into av's tree. O(log n)."""
    avc = AnonVMAChain(vma, av)
    vma.anon_vma_chain.insert(0, avc)     # list_add(): newest first
    avc_insert(avc)
    return avc


def _anon_vma_compatible(a, b):
    """mm/vma.c: anon_vma_compatible(): could ``a`` and ``b`` share an anon_vma? O(1)."""
    return (a.vm_end == b.vm_start and a.vm_file is b.vm_file
            and not ((a.vm_flags ^ b.vm_flags) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY))
            and b.vm_pgoff == a.vm_pgoff + ((b.vm_start - a.vm_start) >> PAGE_SHIFT))


def _reusable_anon_vma(old, a, b):
    """mm/vma.c: reusable_anon_vma(): old's anon_vma if compatible and not a fork child."""
    if _anon_vma_compatible(a, b) and old.anon_vma is not None \
            and len(old.anon_vma_chain) == 1:
        return old.anon_vma
    return None


def find_mergeable_anon_vma(vma: VMA) -> AnonVMA | None:
    """A neighbour's anon_vma ``vma`` may share, next first, then prev.

    Model of mm/vma.c: find_mergeable_anon_vma() (v6.18). O(log n) in VMAs.
    """
    mm = vma.vm_mm
    nxt = mm.vma_next(vma)
    if nxt is not None:
        av = _reusable_anon_vma(nxt, vma, nxt)
        if av is not None:
            return av
    prev = mm.vma_prev(vma)
    if prev is not None:
        return _reusable_anon_vma(prev, prev, vma)
    return None


def anon_vma_prepare(vma: VMA) -> AnonVMA:
    """Attach an anon_vma to ``vma`` (a neighbour's, or a new root) if it has none.

    Model of mm/rmap.c: __anon_vma_prepare() (v6.18). O(log n).
    """
    if vma.anon_vma is not None:
        return vma.anon_vma
    kernel = vma.vm_mm.kernel
    av = find_mergeable_anon_vma(vma)
    if av is None:
        av = anon_vma_alloc(kernel)
        av.num_children += 1            # a root is its own parent
    vma.anon_vma = av
    _link(vma, av)
    av.num_active_vmas += 1
    return av


def anon_vma_clone(dst: VMA, src: VMA) -> None:
    """Give ``dst`` an avc to every anon_vma in ``src``'s chain, oldest first.

    Model of mm/rmap.c: anon_vma_clone() (v6.18), with the fork-time reuse heuristic: when
    ``dst.anon_vma`` is unset, the first anon_vma with ``num_children < 2`` and
    ``num_active_vmas == 0`` becomes dst's.  O(c log n) for a chain of c avcs.
    """
    for avc in reversed(src.anon_vma_chain):
        av = avc.anon_vma
        _link(dst, av)
        if dst.anon_vma is None and src.anon_vma is not None \
                and av.num_children < 2 and av.num_active_vmas == 0:
            dst.anon_vma = av
    if dst.anon_vma is not None:
        dst.anon_vma.num_active_vmas += 1


def anon_vma_fork(vma: VMA, pvma: VMA) -> None:
    """Attach the child's ``vma`` to its parent's anon_vmas and usually a new child anon_vma.

    Model of mm/rmap.c: anon_vma_fork() (v6.18). O(c log n).
    """
    if pvma.anon_vma is None:
        return
    vma.anon_vma = None
    anon_vma_clone(vma, pvma)
    if vma.anon_vma is not None:          # reused an idle ancestor: nothing to allocate
        return
    kernel = vma.vm_mm.kernel
    av = anon_vma_alloc(kernel)
    av.num_active_vmas = 1
    av.root = pvma.anon_vma.root
    av.parent = pvma.anon_vma
    av.root.refcount += 1                 # get_anon_vma(anon_vma->root)
    vma.anon_vma = av
    _link(vma, av)
    av.parent.num_children += 1


def _put_anon_vma(av):
    """put_anon_vma() / __put_anon_vma(): free at refcount 0, then drop the root's ref."""
    av.refcount -= 1
    if av.refcount == 0:
        av.freed = True
        av.kernel.anon_vmas.pop(av.label, None)
        root = av.root
        if root is not av:
            _put_anon_vma(root)


def unlink_anon_vmas(vma: VMA) -> None:
    """Drop every avc of ``vma``; an anon_vma whose tree became empty loses its initial
    reference (put_anon_vma()) and is freed when no child anon_vma pins it any more.

    Model of mm/rmap.c: unlink_anon_vmas() (v6.18). O(c log n).
    """
    emptied = []
    for avc in list(vma.anon_vma_chain):          # newest -> oldest
        av = avc.anon_vma
        avc_remove(avc)
        if not av.rb_root:
            av.parent.num_children -= 1
            emptied.append(av)
    if vma.anon_vma is not None:
        vma.anon_vma.num_active_vmas -= 1
        vma.anon_vma = None
    vma.anon_vma_chain.clear()
    for av in emptied:
        # The kernel WARNs if num_children or num_active_vmas are non-zero here.
        _put_anon_vma(av)
