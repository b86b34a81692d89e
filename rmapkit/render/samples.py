"""Small hand-built snapshots for the renderers' docstrings and tests.

These are written out by hand (not produced by the model) so that the renderers can be
checked on their own; each follows the kernel's rules (v6.18: mm/vma.c: __split_vma(),
mm/rmap.c: anon_vma_fork(), mm/memory.c: remap_pfn_range()) so that the pictures are the
ones the model will produce.  Figures for the book come from the model
(:mod:`rmapkit.figures`), never from here.

>>> from rmapkit.render.samples import split_after
>>> [v.id for v in split_after().process("P0").vmas]
['vma1', 'vma2']
"""

from __future__ import annotations

from rmapkit.snapshot import (AddressSpaceView, AnonVMAView, AVCView, FolioView, PageView,
                              ProcessView, Snapshot, VMAView)

__all__ = ["split_before", "split_after", "fork_child", "file_and_zero", "remap_pfn",
           "mremap_moved"]

PS = 12
ANON = ("rd", "wr", "mr", "mw", "me", "ac")


def _vma(vid, start, end, pgoff, av=None, chain=(), perms="rw-p", flags=ANON, file=None,
         name="", offset=0):
    return VMAView(start << PS, end << PS, perms, offset, name, tuple(flags), pgoff, vid, av,
                   tuple(chain), file)


def _anon_page(pfn, addr, index, folio, mapping, mapcount=1):
    return PageView(addr << PS, True, None, pfn, True, False, mapcount == 1, mapcount, False,
                    index, mapping, folio, mapcount == 1)


def _none(addr):
    return PageView(addr << PS, False)


def _zero(addr):
    return PageView(addr << PS, True, "zero", 0, False, True, False, 0, False)


def _folio(label, pfn, index, mapping, anon=True, mapcount=1):
    return FolioView(label, pfn, 1, index, mapping, anon, mapcount, (anon and mapcount == 1,))


def _avc(proc, vma, av, start, last):
    return AVCView(proc, vma, av, start, last)


def _framed(snap_processes, **kw):
    """Give present pages f0, f1, ... labels by first appearance, as snapshots do."""
    seen, procs = {}, []
    for p in snap_processes:
        pages = []
        for pg in p.pages:
            if pg.present and pg.frame is None and pg.pfn is not None:
                lab = seen.setdefault(pg.pfn, f"f{len(seen)}")
                pg = PageView(pg.addr, pg.present, lab, *[getattr(pg, f) for f in (
                    "pfn", "anon", "zero_page", "exclusive", "mapcount", "pfnmap", "index",
                    "mapping", "folio", "anon_exclusive")])
            pages.append(pg)
        procs.append(ProcessView(p.name, p.vmas, tuple(pages)))
    return Snapshot("model", tuple(procs), **kw)


def split_before() -> Snapshot:
    """The seed's example: one VMA of 3 pages at 0x10000, every page written (one anon_vma)."""
    v = _vma("vma1", 0x10, 0x13, 0x10, "av1", ["av1"])
    pages = tuple(_anon_page(0x100 + i, 0x10 + i, 0x10 + i, f"folio{i + 1}", "av1")
                  for i in range(3))
    av = AnonVMAView("av1", "av1", "av1", 1, 1, 1, (_avc("P0", "vma1", "av1", 0x10, 0x12),))
    folios = tuple(_folio(f"folio{i + 1}", 0x100 + i, 0x10 + i, "av1") for i in range(3))
    return _framed([ProcessView("P0", (v,), pages)], anon_vmas=(av,), folios=folios)


def split_after() -> Snapshot:
    """After ``munmap(0x11000, 0x1000)``: two VMAs, one avc each, one shared anon_vma."""
    v1 = _vma("vma1", 0x10, 0x11, 0x10, "av1", ["av1"])
    v2 = _vma("vma2", 0x12, 0x13, 0x12, "av1", ["av1"])
    pages = (_anon_page(0x100, 0x10, 0x10, "folio1", "av1"),
             _anon_page(0x102, 0x12, 0x12, "folio3", "av1"))
    av = AnonVMAView("av1", "av1", "av1", 1, 2, 1, (_avc("P0", "vma1", "av1", 0x10, 0x10),
                                                    _avc("P0", "vma2", "av1", 0x12, 0x12)))
    folios = (_folio("folio1", 0x100, 0x10, "av1"), _folio("folio3", 0x102, 0x12, "av1"))
    return _framed([ProcessView("P0", (v1, v2), pages)], anon_vmas=(av,), folios=folios)


def fork_child() -> Snapshot:
    """P0 wrote 2 pages, forked P1; P1 then wrote page 1 (CoW copy in P1's own av2)."""
    v0 = _vma("vma1", 0x10, 0x12, 0x10, "av1", ["av1"])
    v1 = _vma("vma2", 0x10, 0x12, 0x10, "av2", ["av2", "av1"])
    p0 = ProcessView("P0", (v0,), (_anon_page(0x100, 0x10, 0x10, "folio1", "av1", 2),
                                   _anon_page(0x101, 0x11, 0x11, "folio2", "av1")))
    p1 = ProcessView("P1", (v1,), (_anon_page(0x100, 0x10, 0x10, "folio1", "av1", 2),
                                   _anon_page(0x102, 0x11, 0x11, "folio3", "av2")))
    av1 = AnonVMAView("av1", "av1", "av1", 2, 1, 2, (_avc("P0", "vma1", "av1", 0x10, 0x11),
                                                     _avc("P1", "vma2", "av1", 0x10, 0x11)))
    av2 = AnonVMAView("av2", "av1", "av1", 0, 1, 1, (_avc("P1", "vma2", "av2", 0x10, 0x11),))
    folios = (_folio("folio1", 0x100, 0x10, "av1", mapcount=2),
              _folio("folio2", 0x101, 0x11, "av1"), _folio("folio3", 0x102, 0x11, "av2"))
    return _framed([p0, p1], anon_vmas=(av1, av2), folios=folios)


def file_and_zero() -> Snapshot:
    """[anon0][file][anon1]: anon0 read once (zero page), a file page, anon1 untouched."""
    a0 = _vma("vma1", 0x10, 0x12, 0x10)
    f = _vma("vma2", 0x12, 0x14, 0x0, perms="r--s", flags=("rd", "sh", "mr", "ms"),
             file="file1", name="/tmp/data")
    a1 = _vma("vma3", 0x14, 0x15, 0x14)
    pages = (_zero(0x10), _none(0x11),
             PageView(0x12 << PS, True, None, 0x200, False, False, True, 1, False, 0, "file1",
                      "folio1", None),
             _none(0x13), _none(0x14))
    sp = AddressSpaceView("file1", "/tmp/data", (("P0", "vma2", 0, 1),), ((0, "folio1"),))
    folios = (_folio("folio1", 0x200, 0, "file1", anon=False),)
    return _framed([ProcessView("P0", (a0, f, a1), pages)], folios=folios,
                   address_spaces=(sp,))


def remap_pfn() -> Snapshot:
    """A private remap_pfn_range() of 2 pages at PFN 0x8000: vm_pgoff is the PFN."""
    v = _vma("vma1", 0x10, 0x12, 0x8000, perms="rw-p",
             flags=("rd", "wr", "mr", "mw", "me", "pf", "io", "de", "dd"), file="file1",
             name="/dev/fake", offset=0)
    pages = tuple(PageView((0x10 + i) << PS, True, None, 0x8000 + i, False, False, None, None,
                           True) for i in range(2))
    return _framed([ProcessView("P0", (v,), pages)])


def mremap_moved() -> Snapshot:
    """A faulted 2-page VMA (pgoff 0x10) moved by mremap to 0x20000: it keeps pgoff 0x10."""
    v = _vma("vma2", 0x20, 0x22, 0x10, "av1", ["av1"])
    pages = (_anon_page(0x100, 0x20, 0x10, "folio1", "av1"),
             _anon_page(0x101, 0x21, 0x11, "folio2", "av1"))
    av = AnonVMAView("av1", "av1", "av1", 1, 1, 1, (_avc("P0", "vma2", "av1", 0x10, 0x11),))
    folios = (_folio("folio1", 0x100, 0x10, "av1"), _folio("folio2", 0x101, 0x11, "av1"))
    return _framed([ProcessView("P0", (v,), pages)], anon_vmas=(av,), folios=folios)
