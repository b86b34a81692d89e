"""Build a ``rmapkit.snapshot.Snapshot`` from the model (what the renderers read).

The model's twin of task_mmu.c's maps/smaps/pagemap and of /proc/kpageflags and
/proc/kpagecount, plus what only the model can see (anon_vmas, avcs, folio->index).
O(n + p) for n VMAs and p pages in the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..snapshot import (AddressSpaceView, AnonVMAView, AVCView, FolioView, PageView,
                        ProcessView, Snapshot, VMAView, number_frames)
from ..uapi import PAGE_SHIFT, PAGE_SIZE
from .rmap import vm_normal_page
from .vmflags import perms_string, smaps_vmflags

if TYPE_CHECKING:                        # names for annotations only (no import cycle)
    from collections.abc import Iterable
    from .kernel import Kernel, Process

__all__ = ["build_snapshot"]


def _vma_view(v):
    f = v.vm_file
    mm = v.vm_mm
    huge = sum(2048 for h, pmd in mm.pmds.items()
               if v.vm_start <= h < v.vm_end and not pmd.folio.is_huge_zero) if mm.pmds else 0
    return VMAView(anon_huge_pages=huge,
        vm_start=v.vm_start, vm_end=v.vm_end, perms=perms_string(v.vm_flags),
        offset=(v.vm_pgoff << PAGE_SHIFT) if f is not None else 0,
        name=f.name if f is not None else "", vm_flags=smaps_vmflags(v.vm_flags),
        vm_pgoff=v.vm_pgoff, id=v.id, anon_vma=getattr(v.anon_vma, "label", None),
        anon_vma_chain=tuple(avc.anon_vma.label for avc in v.anon_vma_chain),
        file=getattr(f, "label", None),
        mapping=f.f_mapping.label if f is not None else None)


def _page_fields(vma, addr, pte):
    """What pagemap + kpageflags + kpagecount say about one present PTE."""
    folio = vm_normal_page(vma, addr, pte)
    pmd = pte.pmd is not None
    if pte.folio is not None and pte.folio.is_zero_page:
        z = pte.folio
        i = pte.pfn - z.pfn
        return dict(frame_key="zero", pfn=pte.pfn, anon=False, zero_page=True,
                    exclusive=False, mapcount=0, pfnmap=False, index=None, mapping=None,
                    folio=z.label, anon_exclusive=None, thp=bool(z.order),
                    compound=("head" if i == 0 else "tail") if z.order else "",
                    order=z.order, pmd=pmd)
    if folio is None:                     # a raw PFN from remap_pfn_range()
        return dict(frame_key=("pfn", pte.pfn), pfn=pte.pfn, anon=False, zero_page=False,
                    exclusive=False, mapcount=None, pfnmap=True, index=None, mapping=None,
                    folio=None, anon_exclusive=None, thp=False, compound="", order=None,
                    pmd=False)
    if folio.order:
        i = pte.pfn - folio.pfn
        precise = folio._pmc[i] + folio.entire_mapcount
        # pagemap bit 56 of a PMD entry is the head page's (6.15+: pagemap_pmd_range()).
        once = (folio._pmc[0] + folio.entire_mapcount if pmd else precise) == 1
        return dict(frame_key=pte.pfn, pfn=pte.pfn, anon=folio.anon, zero_page=False,
                    exclusive=once, mapcount=precise, pfnmap=False,
                    index=folio.index + i, mapping=getattr(folio.mapping, "label", None),
                    folio=folio.label,
                    anon_exclusive=folio._excl[i] if folio.anon else None, thp=True,
                    compound="head" if i == 0 else "tail", order=folio.order, pmd=pmd)
    return dict(frame_key=folio.pfn, pfn=folio.pfn, anon=folio.anon, zero_page=False,
                exclusive=folio.mapcount == 1, mapcount=folio.mapcount, pfnmap=False,
                index=folio.index, mapping=getattr(folio.mapping, "label", None),
                folio=folio.label, anon_exclusive=folio.anon_exclusive if folio.anon else None,
                thp=False, compound="", order=0, pmd=False)


MAX_LISTED_PAGES = (16 << 20) >> PAGE_SHIFT   # absent pages: listed for VMAs up to 16 MiB


def build_snapshot(kernel: Kernel, window: tuple[int, int] | None = None,
                   processes: Iterable[Process] | None = None) -> Snapshot:
    """Snapshot of ``processes`` (default: all, in spawn order), limited to ``window``.

    Every page of a VMA is listed (absent ones as not present), except in a VMA of more
    than MAX_LISTED_PAGES pages in the window, whose present pages only are listed.
    """
    procs = list(kernel.processes.values()) if processes is None else list(processes)
    lo, hi = window if window is not None else (0, 1 << 64)
    raw = []
    folios, avs, spaces = {}, {}, {}
    for p in procs:
        mm = p.mm
        vmas = [v for v in mm.vmas if v.vm_end > lo and v.vm_start < hi]
        pages = []
        for v in vmas:
            for avc in v.anon_vma_chain:
                avs[avc.anon_vma.label] = avc.anon_vma
            if v.vm_file is not None:
                spaces[v.vm_file.f_mapping.label] = v.vm_file.f_mapping
            a = max(v.vm_start, lo)
            stop = min(v.vm_end, hi)
            if (stop - a) >> PAGE_SHIFT > MAX_LISTED_PAGES:
                # A huge VMA: list its present pages only (a walk over every absent page
                # of a 1 TiB MAP_NORESERVE mapping would never end).
                for pa, pte in mm.ptes_in(a, stop):
                    folio = vm_normal_page(v, pa, pte)
                    if folio is not None:
                        folios[folio.pfn] = folio
                    pages.append((pa, _page_fields(v, pa, pte)))
                a = stop
            while a < stop:
                pte = mm.pgtable.get(a)
                if pte is None:
                    pages.append((a, None))
                else:
                    fields = _page_fields(v, a, pte)
                    folio = vm_normal_page(v, a, pte)
                    if folio is not None:
                        folios[folio.pfn] = folio

                    pages.append((a, fields))
                a += PAGE_SIZE
        raw.append((p, vmas, pages))
    keys = [f["frame_key"] if f else None for _, _, pages in raw for _, f in pages]
    labels = iter(number_frames(keys))
    pviews = []
    for p, vmas, pages in raw:
        pv = []
        for a, f in pages:
            lab = next(labels)
            if f is None:
                pv.append(PageView(addr=a, present=False))
                continue
            pv.append(PageView(addr=a, present=True, frame=lab, pfn=f["pfn"], anon=f["anon"],
                               zero_page=f["zero_page"], exclusive=f["exclusive"],
                               mapcount=f["mapcount"], pfnmap=f["pfnmap"], index=f["index"],
                               mapping=f["mapping"], folio=f["folio"],
                               anon_exclusive=f["anon_exclusive"], thp=f["thp"],
                               compound=f["compound"], order=f["order"], pmd=f["pmd"]))
        pviews.append(ProcessView(name=p.name, vmas=tuple(_vma_view(v) for v in vmas),
                                  pages=tuple(pv)))
    for m in spaces.values():
        for f in m.pages.values():
            folios[f.pfn] = f
    order = {lab: i for i, lab in enumerate(kernel.anon_vmas)}
    av_views = tuple(
        AnonVMAView(label=av.label, root=av.root.label, parent=av.parent.label,
                    num_children=av.num_children, num_active_vmas=av.num_active_vmas,
                    refcount=av.refcount,
                    avcs=tuple(AVCView(process=avc.vma.vm_mm.owner.name, vma=avc.vma.id,
                                       anon_vma=av.label, start_pgoff=s, last_pgoff=l)
                               for s, l, avc in av.rb_root.items()))
        for av in sorted(avs.values(), key=lambda a: order.get(a.label, 1 << 30)))
    f_views = tuple(
        FolioView(label=f.label, pfn=f.pfn, nr_pages=f.nr_pages, index=f.index,
                  mapping=getattr(f.mapping, "label", None), anon=f.anon,
                  mapcount=f.mapcount,
                  anon_exclusive=tuple(f._excl) if f.order else (f.anon_exclusive,),
                  order=f.order, entire_mapcount=f.entire_mapcount,
                  page_mapcounts=tuple(f._pmc) if f.order else (),
                  partially_mapped=f.partially_mapped, maybe_shared=f.maybe_shared)
        for _, f in sorted(folios.items()))
    s_views = tuple(
        AddressSpaceView(label=m.label, name=m.host.path,
                         i_mmap=tuple((v.vm_mm.owner.name, v.id, s, l)
                                      for s, l, v in m.i_mmap.items()),
                         pages=tuple((i, m.pages[i].label) for i in sorted(m.pages)))
        for _, m in sorted(spaces.items()))
    return Snapshot(source="model", processes=tuple(pviews), window=window,
                    anon_vmas=av_views, folios=f_views, address_spaces=s_views,
                    counters=thp_counters(kernel))


def thp_counters(kernel):
    """The model's THP counters in the names rmapkit.live.thp.COUNTERS uses. O(orders)."""
    from .thp import thp_size_key
    out = {}
    for order, st in kernel.thp_stats.items():
        for name in ("anon_fault_alloc", "split_deferred", "nr_anon",
                     "nr_anon_partially_mapped"):
            out[thp_size_key(order, name)] = st[name]
    out["thp_split_pmd"] = kernel.vmstat["thp_split_pmd"]
    out["thp_collapse_alloc"] = kernel.vmstat["thp_collapse_alloc"]
    return out
