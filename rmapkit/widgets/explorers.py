"""Two small explorers for single chapters: address <-> page index, and the split example.

PageIndexExplorer (chapter 1) moves an address through one VMA and shows
linear_page_index() and the vma_address() round trip, computed by the model's functions:

>>> from rmapkit.widgets import PageIndexExplorer
>>> ex = PageIndexExplorer(vm_start_page=0x7f0000000, pages=4)
>>> for line in ex.show(0x7f0000002345).splitlines()[3:6]: print(line)
 linear_page_index(vma, addr) = ((addr - vm_start) >> PAGE_SHIFT) + vm_pgoff
                              = (0x2345 >> 12) + 0x7f0000000
                              = 0x7f0000002

SplitExplorer (chapter 3) maps ``pages`` written anonymous pages, unmaps one and walks the
rmap of another page's folio:

>>> from rmapkit.widgets import SplitExplorer
>>> r = SplitExplorer(pages=3).run(unmap_page=1, rmap_page=2)
>>> [v["range"] for v in r["vmas"]], r["anon_vmas"], hex(r["index"])
(['[0, 1)', '[2, 3)'], ['av0'], '0x200000002')

Both keep their state in Python (``ex.show(addr)``, ``ex.run(u, r)``); ``.widget`` builds
the ipywidgets UI (rmapkit.widgets.ui) on first use.  Cost: one small model run per change.
"""

from __future__ import annotations

import textwrap

from rmapkit import PAGE_SHIFT, PAGE_SIZE, Kernel, linear_page_index, rmap_walk, vma_address
from rmapkit.render import address_space_ascii, interval_tree_ascii
from rmapkit.render import display
from rmapkit.render.common import Notation
from rmapkit.render.views import address_space_dot, interval_tree_dot
from rmapkit.scenarios import parse
from rmapkit.widgets.base import Displayable
from rmapkit.widgets.session import Session

__all__ = ["PageIndexExplorer", "SplitExplorer"]

_BOOK = "/tmp/rmapkit/book"


def _hex(n):
    return f"{n:#x}"


class PageIndexExplorer(Displayable):
    """One VMA of ``pages`` pages at ``vm_start_page``; where does each address land?

    ``vm_pgoff``: None for anonymous memory (the model gives it ``vm_start >> PAGE_SHIFT``,
    the "virtual anon file"), or a page offset into a file (a private file mapping at that
    offset).  ``fault``: ``"write"`` (default) or ``"read"`` touches every page first, so
    each address has a folio whose ``index`` the text compares with linear_page_index();
    None leaves the VMA unfaulted.  ``step``: the slider's step in bytes.  ``notation``:
    how the address-space view writes addresses and pgoffs (``"window"`` or ``"hex"``;
    None: ``set_notation()``'s); :meth:`show`'s arithmetic is always in absolute hex.
    """

    def __init__(self, vm_start_page=0x7f0000000, pages=4, vm_pgoff=None, fault="write",
                 step=256, notation=None):
        if not isinstance(pages, int) or not 1 <= pages <= 64:
            raise ValueError(f"pages must be a whole number from 1 to 64, not {pages!r}")
        if fault not in ("write", "read", None):
            raise ValueError(f"fault must be 'write', 'read' or None, not {fault!r}")
        from rmapkit.uapi import (MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ,
                                  PROT_WRITE)
        self.kernel = k = Kernel()
        self.proc = p = k.spawn()
        start, length = vm_start_page << PAGE_SHIFT, pages * PAGE_SIZE
        prot = PROT_READ | PROT_WRITE
        if vm_pgoff is None:
            p.mmap(start, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        else:
            k.create_file(_BOOK, (vm_pgoff + pages) * PAGE_SIZE)
            fd = p.open(_BOOK)
            p.mmap(start, length, prot, MAP_PRIVATE | MAP_FIXED, fd, vm_pgoff * PAGE_SIZE)
        if fault == "write":
            p.write(start, length)
        elif fault == "read":
            p.read(start, length)
        self.vma = p.mm.find_vma(start)
        self.vm_start, self.vm_end, self.pages = self.vma.vm_start, self.vma.vm_end, pages
        self.anon = vm_pgoff is None
        self.step = step
        self.notation = notation
        self.addr = start
        self._snap = k.snapshot(window=(start - PAGE_SIZE, self.vm_end + PAGE_SIZE))

    def index(self, addr):
        """linear_page_index(vma, addr), from the model."""
        return linear_page_index(self.vma, addr)

    def show(self, addr=None):
        """The text for ``addr`` (default: the last one shown); also what the widget shows."""
        if addr is None:
            addr = self.addr
        if isinstance(addr, str):
            try:
                addr = int(addr, 0)
            except ValueError:
                return f"{addr!r} is not an address (write it like 0x7f0000001234)\n"
        if isinstance(addr, bool) or not isinstance(addr, int):
            return f"an address is a whole number, not {type(addr).__name__}\n"
        self.addr = addr
        v = self.vma
        if self._ui is not None:
            self._sync_ui(addr)
        why = "anon: vm_start >> PAGE_SHIFT" if self.anon else "the file offset in pages"
        head = [f"vma     = {v.id} [{_hex(v.vm_start)}, {_hex(v.vm_end)})  "
                f"vm_pgoff = {_hex(v.vm_pgoff)}  ({why})"]
        if not v.vm_start <= addr < v.vm_end:
            idx = self.index(addr)
            back = vma_address(v, idx)
            return "\n".join(head + [
                f"addr    = {_hex(addr)} is outside the VMA: vma_lookup() finds no VMA "
                f"containing it (find_vma() may still return {v.id}, the caller's",
                "vm_start check refuses it), so no fault or rmap walk ever computes its "
                "index in this VMA.",
                "linear_page_index(vma, addr) = ((addr - vm_start) >> PAGE_SHIFT) + vm_pgoff",
                f"                             = {_hex(idx)}  (no range check, as in C)",
                f"vma_address(vma, {_hex(idx)}) = "
                + ("-EFAULT: that index is not inside the VMA" if back < 0 else _hex(back)),
            ]) + "\n"
        off = addr - v.vm_start
        idx = self.index(addr)
        back = vma_address(v, idx)
        lpi = "linear_page_index(vma, addr) = "
        va = f"vma_address(vma, {_hex(idx)}) = "
        width = max(len(lpi), len(va))
        pad = " " * (width - 2) + "= "
        lines = head + [
            f"addr    = {_hex(addr)}  (page {off >> PAGE_SHIFT} of the VMA, byte "
            f"{_hex(off & (PAGE_SIZE - 1))} of that page)",
            "",
            lpi.rjust(len(pad)) + "((addr - vm_start) >> PAGE_SHIFT) + vm_pgoff",
            pad + f"({_hex(off)} >> 12) + {_hex(v.vm_pgoff)}",
            pad + f"{_hex(idx)}",
            va.rjust(len(pad)) + "vm_start + ((pgoff - vm_pgoff) << PAGE_SHIFT)",
            pad + f"{_hex(v.vm_start)} + ({_hex(idx - v.vm_pgoff)} << 12)",
            pad + f"{_hex(back)}  = addr & PAGE_MASK: the round trip "
            + ("holds" if back == addr & ~(PAGE_SIZE - 1) else "FAILS"),
        ]
        folio = self.proc.folio_at(addr)
        if folio is None:
            lines.append("no folio yet: the first touch would create one with "
                         f"index {_hex(idx)} (folio_add_new_anon_rmap())")
        else:
            kind = "anon" if folio.mapping is v.anon_vma and v.anon_vma else "page cache"
            same = "==" if folio.index == idx else "!="
            lines.append(f"folio at addr: {kind} folio, folio->index = {_hex(folio.index)} "
                         f"{same} linear_page_index"
                         + (": rmap finds this page" if same == "==" else
                            ": rmap would look in the wrong place"))
        return "\n".join(lines) + "\n"

    def text(self, notation=None):
        """The text for the current address plus the address-space view as ASCII (in
        ``notation``, default ``self.notation``)."""
        return self.show(self.addr) + "\n" + address_space_ascii(
            self._snap, self.proc.name, notation=notation or self.notation)

    def dot(self, addr=None, notation=None):
        """The address-space view of the VMA (addresses, pgoffs, folios) as DOT."""
        return address_space_dot(self._snap, self.proc.name, focus=self.vma.id,
                                 page=self.addr if addr is None else addr,
                                 notation=notation or self.notation)

    def svg(self, addr=None, notation=None):
        notation = notation or self.notation
        return display.to_svg(self.dot(addr, notation), fallback_text=address_space_ascii(
            self._snap, self.proc.name, notation=notation))

    def _make_ui(self):
        from rmapkit.widgets.ui import PageIndexUI
        return PageIndexUI(self)

    def _sync_ui(self, addr):
        s = self._ui.slider
        if s.min <= addr <= s.max and s.value != addr:
            s.value = addr

    def __repr__(self):
        return (f"<PageIndexExplorer {self.vma.id} [{_hex(self.vm_start)}, "
                f"{_hex(self.vm_end)}) vm_pgoff {_hex(self.vma.vm_pgoff)}>")


class SplitExplorer(Displayable):
    """Chapter 3: map ``pages`` anonymous pages, write them, unmap one, rmap another.

    :meth:`run` returns ``{"vmas": [...], "anon_vmas": [...], "rmap": [(vma_id, addr)],
    "index": int}`` (plus ``"avcs"``, ``"folio"``, ``"visited"`` and ``"scenario"``), all read
    from the model after the ops; ``index`` is the folio's ``folio->index`` (for the unmapped
    page: the index its folio had before munmap freed it).  ``notation``: how :meth:`text`
    and the diagrams write addresses and pgoffs (``"window"`` or ``"hex"``; None:
    ``set_notation()``'s).
    """

    def __init__(self, pages=3, unmap_page=1, rmap_page=None, notation=None):
        if not isinstance(pages, int) or not 2 <= pages <= 16:
            raise ValueError(f"pages must be a whole number from 2 to 16, not {pages!r}")
        self.pages = pages
        self.notation = notation
        self.unmap_page = unmap_page
        self.rmap_page = pages - 1 if rmap_page is None else rmap_page
        self.error = None
        self.result = None
        self.run(self.unmap_page, self.rmap_page)

    def scenario_text(self, unmap_page=None):
        u = self.unmap_page if unmap_page is None else unmap_page
        return (f"# Map {self.pages} anonymous pages, write them, unmap page {u}.\n"
                f"window {self.pages + 2}\n"
                f"P0: mmap 0 {self.pages} rw private anon\n"
                f"P0: write 0 {self.pages}\n"
                f"P0: munmap {u} 1\n")

    def _page(self, what, value):
        if isinstance(value, bool):
            raise ValueError(f"{what} must be a page number, not {value!r}")
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a page number 0..{self.pages - 1}, "
                             f"not {value!r}") from None
        if not 0 <= n < self.pages:
            raise ValueError(f"{what} must be 0..{self.pages - 1}, not {n}")
        return n

    def run(self, unmap_page=None, rmap_page=None):
        """Run the split with ``unmap_page`` unmapped; walk the rmap of ``rmap_page``'s folio.

        A bad page number sets ``error`` and returns the previous result (never raises).
        """
        self.error = None
        try:
            u = self._page("unmap_page", self.unmap_page if unmap_page is None else unmap_page)
            r = self._page("rmap_page", self.rmap_page if rmap_page is None else rmap_page)
        except ValueError as e:
            self.error = str(e)
            self._refresh()
            return self.result
        self.unmap_page, self.rmap_page = u, r
        sc = parse(self.scenario_text(u), name="split-explorer")
        s = Session(sc.prefix(2))                   # mapped and written
        p0 = s.procs["P0"]
        addr = sc.addr(r)
        before = p0.folio_at(addr)
        index_before = before.index if before is not None else None
        s.step(sc.ops[2])                           # the munmap
        self.session, self.scenario = s, sc
        folio = p0.folio_at(addr)
        snap = self._snap = s.snapshot()
        proc = snap.process("P0")
        vmas = [{"id": v.id, "range": f"[{sc.page(v.vm_start)}, {sc.page(v.vm_end)})",
                 "vm_start": v.vm_start, "vm_end": v.vm_end, "vm_pgoff": v.vm_pgoff,
                 "anon_vma": v.anon_vma, "avcs": list(v.anon_vma_chain)}
                for v in proc.vmas]
        avs = [av.label for av in snap.anon_vmas]
        if folio is not None:
            walk = [(vma.id, a) for vma, a in rmap_walk(folio)]
            av = folio.mapping.label
            visited = [c.vma for c in snap.anon_vmas[avs.index(av)].avcs
                       if c.start_pgoff <= folio.index <= c.last_pgoff]
            label = next((pg.folio for pg in proc.pages if pg.addr == addr), None)
        else:
            walk, visited, label = [], [], None
        self.result = {
            "vmas": vmas, "anon_vmas": avs, "rmap": walk,
            "index": folio.index if folio is not None else index_before,
            "folio": label, "visited": visited, "mapped": folio is not None,
            "unmap_page": u, "rmap_page": r, "scenario": sc.text(),
        }
        self._refresh()
        return self.result

    def text(self, notation=None):
        """What :meth:`run` found, in words, in ``notation`` (default ``self.notation``);
        ``page r`` is the reader's page number, as the scenario's ops write it."""
        res, sc = self.result, self.scenario
        nt = Notation.of(self._snap, notation or self.notation)
        lines = [op.text for op in sc.ops]
        lines.append("")
        for v in res["vmas"]:
            lines.append(f"{v['id']}: {nt.range(v['vm_start'], v['vm_end'])}, vm_pgoff "
                         f"{nt.pgoff(v['vm_pgoff'])}, anon_vma {v['anon_vma']}, avcs -> "
                         f"{', '.join(v['avcs'])}")
        lines.append(f"anon_vmas: {', '.join(res['anon_vmas'])}")
        r = res["rmap_page"]
        if not res["mapped"]:
            lines.append(f"page {r} was unmapped: its folio (index {nt.pgoff(res['index'])}) "
                         "was freed, there is nothing to walk")
        else:
            lines.append(f"folio at page {r}: {res['folio']}, folio->index = "
                         f"{nt.pgoff(res['index'])}")
            lines.append("the interval tree query [index, index] visits "
                         f"{', '.join(res['visited']) or 'no avc'}")
            lines.append("rmap_walk() finds: " + ", ".join(
                f"{vid} at {nt.addr(a)}" for vid, a in res["rmap"]))
        if self.error:
            lines.append(f"error: {self.error}")
        lines.append(nt.text_legend())
        # absolute ranges make a VMA's line long: wrap it for the 72 columns of the others
        return "\n".join(w for line in lines for w in textwrap.wrap(
            line, 72, subsequent_indent="  ", break_on_hyphens=False) or [""]) + "\n"

    def _tree_args(self):
        res = self.result
        av = res["anon_vmas"][0] if res["anon_vmas"] else None
        return av, res["index"]

    def dot(self, notation=None):
        """The interval tree of the anon_vma with the avcs the rmap walk visits."""
        av, index = self._tree_args()
        notation = notation or self.notation
        if av is None:
            return address_space_dot(self._snap, "P0", notation=notation)
        return interval_tree_dot(self._snap, av, index=index, notation=notation)

    def svg(self, notation=None):
        av, index = self._tree_args()
        notation = notation or self.notation
        fallback = interval_tree_ascii(self._snap, av, index=index, notation=notation) if av \
            else address_space_ascii(self._snap, "P0", notation=notation)
        return display.to_svg(self.dot(notation), fallback_text=fallback)

    def _make_ui(self):
        from rmapkit.widgets.ui import SplitUI
        return SplitUI(self)

    def __repr__(self):
        return (f"<SplitExplorer pages={self.pages} unmap={self.unmap_page} "
                f"rmap={self.rmap_page}>")
