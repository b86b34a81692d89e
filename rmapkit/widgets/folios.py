"""Chapter 8's explorer: pick a THP size and a region, fault, move it, fork, write.

>>> from rmapkit.widgets import LargeFolioExplorer
>>> ex = LargeFolioExplorer(size="64kB", pages=32)
>>> r = ex.run(fault_page=5, move="misaligned", fork=True, write_page=5)
>>> r["order"], r["index_kept"], r["large_mapcount"]
(4, True, 31)

The explorer keeps its state in Python (``run(...)``, ``text()``, ``svg()``); ``.widget``
builds the ipywidgets UI (rmapkit.widgets.ui) on first use.  Every run is a scenario
(``ex.scenario_text()``) that ``rmapkit diff`` replays on a kernel.  Cost: one model run
of a few ops per change (a 2 MiB region: 512-page snapshots, tens of ms).
"""

from __future__ import annotations

from rmapkit.render import display
from rmapkit.render.common import Notation, folio_words
from rmapkit.render.ruler import address_space_ascii
from rmapkit.render.views import address_space_dot
from rmapkit.scenarios import parse, run_model
from rmapkit.uapi import PAGE_SIZE
from rmapkit.widgets.base import Displayable

__all__ = ["LargeFolioExplorer", "THP_SIZES", "MOVES"]

THP_SIZES = ("16kB", "32kB", "64kB", "128kB", "256kB", "512kB", "1024kB", "2048kB")
MOVES = ("none", "aligned", "misaligned")
_PMD_PAGES = 512


class LargeFolioExplorer(Displayable):
    """A MADV_HUGEPAGE region of ``pages`` pages with one THP size enabled (``madvise``).

    :meth:`run` writes ``fault_page``, optionally moves the region with mremap() to an
    address that keeps (``"aligned"``) or breaks (``"misaligned"``, one page further) the
    folio's alignment, optionally forks a child, and optionally writes ``write_page`` in the
    parent afterwards (a CoW fault after fork).  It returns what the model says about the
    folio at ``fault_page``: ``order``, ``nr_pages``, ``index``, whether the index and
    vm_pgoff were kept by the move, ``pmd`` (mapped by a PMD), ``large_mapcount``,
    ``entire_mapcount``, ``partially_mapped``.  A bad argument sets ``error`` and keeps the
    previous result (never raises).  ``notation``: how the views write addresses and
    pgoffs (``"window"`` or ``"hex"``; None: ``set_notation()``'s).
    """

    def __init__(self, size="64kB", pages=32, notation=None):
        self.notation = notation
        self.error = None
        self.result = None
        self.size, self.pages = "64kB", 32
        self.fault_page, self.move, self.fork, self.write_page = 0, "none", False, None
        self.run(size=size, pages=pages)

    # -- the scenario ------------------------------------------------------------------
    def _dest(self):
        """Where the region moves: the next multiple of the folio size (or 2 MiB) after the
        region, plus one page when misaligned."""
        unit = max(self._folio_pages(), 1)
        dest = -(-(self.pages + 1) // unit) * unit
        return dest + (1 if self.move == "misaligned" else 0)

    def _folio_pages(self):
        return (int(self.size[:-2]) << 10) // PAGE_SIZE

    def scenario_text(self):
        """The current run as a scenario file."""
        n = self.pages
        lines = [f"# {self.size} THP in a {n}-page MADV_HUGEPAGE region: fault, "
                 f"move ({self.move}), fork ({'yes' if self.fork else 'no'}), write."]
        dest = self._dest() if self.move != "none" else 0
        window = max(n, dest + n) + 1
        lines.append(f"window {window}")
        if self.size != "2048kB":
            lines += [f"thp hugepages-{self.size}/enabled=madvise",
                      "thp hugepages-2048kB/enabled=never"]
        lines += [f"P0: mmap 0 {n} rw private anon fixed", f"P0: madvise 0 {n} hugepage",
                  f"P0: write {self.fault_page}"]
        if self.move != "none":
            lines.append(f"P0: mremap 0 {n} {n} to {dest}")
        if self.fork:
            lines.append("P0: fork P1")
        if self.write_page is not None:
            lines.append(f"P0: write {self.write_page + dest}")
        return "\n".join(lines) + "\n"

    def _check(self, size, pages, fault_page, move, write_page):
        if size not in THP_SIZES:
            raise ValueError(f"size must be one of {', '.join(THP_SIZES)}, not {size!r}")
        if isinstance(pages, bool) or not isinstance(pages, int) or \
                not 4 <= pages <= _PMD_PAGES:
            raise ValueError(f"pages must be a whole number from 4 to {_PMD_PAGES}, "
                             f"not {pages!r}")
        for what, p in (("fault_page", fault_page), ("write_page", write_page)):
            if p is None and what == "write_page":
                continue
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < pages:
                raise ValueError(f"{what} must be a page 0..{pages - 1}, not {p!r}")
        if move not in MOVES:
            raise ValueError(f"move must be one of {', '.join(MOVES)}, not {move!r}")

    def run(self, size=None, pages=None, fault_page=None, move=None, fork=None,
            write_page=False):
        """Set what changed (None: keep; ``write_page=None`` clears it) and run the model."""
        size = self.size if size is None else size
        pages = self.pages if pages is None else pages
        fault_page = self.fault_page if fault_page is None else fault_page
        move = self.move if move is None else move
        fork = self.fork if fork is None else bool(fork)
        write_page = self.write_page if write_page is False else write_page
        try:
            self._check(size, pages, fault_page, move, write_page)
        except ValueError as e:
            self.error = str(e)
            self._refresh()
            return self.result
        self.error = None
        self.size, self.pages, self.fault_page, self.move = size, pages, fault_page, move
        self.fork, self.write_page = fork, write_page
        sc = parse(self.scenario_text(), name="large-folio-explorer")
        res = run_model(sc, strict=False)
        self.scenario, self.model = sc, res
        first = res.steps[2][1].process("P0")           # right after the fault
        fpg = next(pg for pg in first.pages if pg.addr == sc.addr(fault_page))
        fo = next((f for f in res.steps[2][1].folios if f.label == fpg.folio), None)
        snap = res.snapshot
        final = {f.label: f for f in snap.folios}
        now = final.get(fo.label) if fo is not None else None
        dest = self._dest() if move != "none" else 0
        vma = next((v for v in snap.process("P0").vmas
                    if v.vm_start <= sc.addr(dest + fault_page) < v.vm_end), None)
        pg_now = next((pg for pg in snap.process("P0").pages
                       if pg.addr == sc.addr(dest + fault_page)), None)
        self.result = {
            "order": fpg.order, "nr_pages": 1 << fpg.order,
            "folio": fpg.folio, "index": fo.index if fo else None,
            "index_kept": now is not None and fo is not None and now.index == fo.index,
            "vm_pgoff": vma.vm_pgoff if vma else None,
            "pmd": bool(pg_now.pmd) if pg_now else False,
            "large_mapcount": now.mapcount if now else 0,
            "entire_mapcount": now.entire_mapcount if now else 0,
            "partially_mapped": now.partially_mapped if now else False,
            "outcomes": list(res.outcomes), "scenario": sc.text(),
        }
        self._refresh()
        return self.result

    # -- views ---------------------------------------------------------------------------
    def text(self, notation=None):
        """The ops, the address space with the folio boxes, and the folio in words, in
        ``notation`` (default ``self.notation``)."""
        r = self.result
        notation = notation or self.notation
        lines = [op.text for op in self.scenario.ops] + [""]
        snap = self.model.snapshot
        nt = Notation.of(snap, notation)
        for p in snap.processes:
            first = (self._dest() if self.move != "none" else 0)
            lines.append(address_space_ascii(snap, p.name, start=self.scenario.addr(first),
                                             npages=min(self.pages, 64), notation=notation))
        f = next((f for f in snap.folios if f.label == r["folio"]), None)
        if f is not None:
            lines.append(f"{f.label}: " + ", ".join(folio_words(f, nt) or
                                                     [f"order 0, index {nt.pgoff(f.index)}"]))
        lines.append(f"the fault got an order-{r['order']} folio ({r['nr_pages']} pages); "
                     f"after the ops it is {'PMD' if r['pmd'] else 'PTE'}-mapped, index "
                     f"{'kept' if r['index_kept'] else 'gone'}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines) + "\n"

    def dot(self, notation=None):
        snap = self.model.snapshot
        return address_space_dot(snap, "P0", max_pages=24, notation=notation or self.notation)

    def svg(self, notation=None):
        snap = self.model.snapshot
        notation = notation or self.notation
        return display.to_svg(self.dot(notation), fallback_text=address_space_ascii(
            snap, "P0", notation=notation))

    def _make_ui(self):
        from rmapkit.widgets.ui import LargeFolioUI
        return LargeFolioUI(self)

    def __repr__(self):
        return (f"<LargeFolioExplorer size={self.size} pages={self.pages} "
                f"fault={self.fault_page} move={self.move} fork={self.fork}>")
