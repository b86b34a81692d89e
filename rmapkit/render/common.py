"""What every renderer needs: page states, pgoff arithmetic, the focus neighbourhood, colours.

Renderers read a :class:`rmapkit.snapshot.Snapshot` and nothing else.  This module turns a
snapshot plus the reader's options (which processes, which object to focus on) into a
:class:`Scene`: the objects to draw and the links between them, in a fixed order, so that the
DOT and the ASCII renderers draw the same thing and output is byte-identical for the same
snapshot.

The arithmetic mirrors the kernel's (v6.18):

* ``linear_page_index(vma, addr)`` as in include/linux/pagemap.h;
* ``vma_address(vma, pgoff)`` as in mm/internal.h (single page form);
* ``rmap_walk_candidates()`` is the interval-tree query of mm/rmap.c: rmap_walk_anon(): an
  avc is visited iff ``[start_pgoff, last_pgoff]`` overlaps ``[index, index + nr - 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmapkit.snapshot import WINDOW_BASE, AnonVMAView, AVCView, FolioView, Snapshot, VMAView
from rmapkit.uapi import PAGE_SHIFT, PAGE_SIZE

__all__ = [
    "folio_runs", "folio_words", "PAGE_SHIFT", "PAGE_SIZE", "STATE_CHAR", "STATE_WORDS", "PALETTE", "Scene", "build_scene",
    "page_state", "vma_key", "vma_pgoff", "linear_page_index", "vma_address",
    "rmap_walk_candidates", "find_vma", "anon_vma_of", "folio_of", "hx", "vma_summary",
    "is_anon_file_vma", "Notation", "set_notation", "NOTATIONS",
]

# One character per page state for the ruler notation, and words for alt text.
STATE_CHAR = {"none": "-", "zero": "0", "anon": "a", "file": "f", "pfn": "p", "unknown": "?"}
STATE_WORDS = {
    "none": "not present", "zero": "zero page", "anon": "anonymous folio",
    "file": "file folio", "pfn": "raw PFN (remap_pfn_range)", "unknown": "present",
}

# Explicit fill and text colours: light fills with dark text read on light and dark pages
# alike; lines and free-standing text use a mid grey.  Keys are roles, values (fill, text).
PALETTE = {
    "vma": ("#cfe2ff", "#0b1f44"),
    "avc": ("#fff1c1", "#3d2e00"),
    "anon_vma": ("#ffd59e", "#3d1f00"),
    "folio": ("#c9f2d0", "#073b14"),
    "file_folio": ("#d9d4ff", "#1d1457"),
    "address_space": ("#e6d9ff", "#2a1457"),
    "none": ("#ffffff", "#333333"),
    "zero": ("#e5e5e5", "#222222"),
    "anon": ("#8fdc9e", "#062b10"),
    "file": ("#b7adff", "#150e45"),
    "pfn": ("#ffb3c7", "#4a0017"),
    "unknown": ("#f0f0a0", "#333300"),
    "hole": ("#f7f7f7", "#555555"),
    "visited": ("#7fd38f", "#062b10"),
    "skipped": ("#dddddd", "#444444"),
    "created": ("#a7f0b5", "#062b10"),
    "freed": ("#ffc2c2", "#4a0000"),
    "changed": ("#ffd43b", "#3d2e00"),
}
LINE = "#808080"                    # edges, borders, captions: visible on white and on black
HIGHLIGHT = "#e0301e"


NOTATIONS = ("window", "hex")
_DEFAULT = {"notation": "window"}
WINDOW_PAGES = 1 << 20                # window-relative numbers are used below this page count


def set_notation(mode: str) -> str:
    """Set how diagrams write addresses and page offsets; return the previous setting.

    ``"window"`` (the default): addresses as page numbers of the scenario window (page 0 is
    the window's start, 0x200000000000 in the book) and page offsets as ``p+k``, where
    ``p`` is the pgoff of window page 0 (0x200000000); values outside the window (a file
    offset, a PFN) stay absolute.  ``"hex"``: every address and pgoff in absolute hex.
    Each diagram's legend says which is shown.
    """
    if mode not in NOTATIONS:
        raise ValueError(f"notation must be one of {', '.join(NOTATIONS)}, not {mode!r}")
    old, _DEFAULT["notation"] = _DEFAULT["notation"], mode
    return old


class Notation:
    """How one diagram writes addresses and pgoffs (see :func:`set_notation`).

    >>> nt = Notation(0x200000000000)
    >>> nt.addr(0x200000003000), nt.pgoff(0x200000003), nt.pgoff(0x80002), nt.range(0x200000001000, 0x200000003000)
    ('page 3', 'p+3', '0x80002', 'pages [1, 3)')
    >>> hexnt = Notation(0x200000000000, "hex")
    >>> hexnt.addr(0x200000003000), hexnt.pgoff(0x200000003)
    ('0x200000003000', '0x200000003')
    """

    def __init__(self, base: int | None, mode: str | None = None):
        self.mode = mode or _DEFAULT["notation"]
        if self.mode not in NOTATIONS:
            raise ValueError(f"notation must be one of {', '.join(NOTATIONS)}, not {self.mode!r}")
        self.base = base if self.mode == "window" else None
        self.base_pgoff = None if self.base is None else self.base >> PAGE_SHIFT

    @classmethod
    def of(cls, snap: Snapshot, mode: str | None = None) -> "Notation":
        """The notation for a snapshot: numbered from the book's window (WINDOW_BASE, where
        every scenario's window starts) when everything drawn lies within 2^20 pages above
        it, so page k means the same page in every diagram; else from the snapshot's own
        window; else absolute."""
        starts = [v.vm_start for p in snap.processes for v in p.vmas]
        ends = [v.vm_end for p in snap.processes for v in p.vmas]
        lo = min(starts + ([snap.window[0]] if snap.window else []), default=None)
        hi = max(ends + ([snap.window[1]] if snap.window else []), default=None)
        if lo is not None and WINDOW_BASE <= lo and hi - WINDOW_BASE < WINDOW_PAGES << PAGE_SHIFT:
            return cls(WINDOW_BASE, mode)
        return cls(snap.window[0] if snap.window else None, mode)

    def _rel(self, page: int | None) -> int | None:
        if self.base_pgoff is None or page is None:
            return None
        k = page - self.base_pgoff
        return k if 0 <= k < WINDOW_PAGES else None

    def page_no(self, addr: int) -> str:
        """An address's page: ``"3"`` (window page) or ``"0x200000003"`` (addr >> 12)."""
        k = self._rel(addr >> PAGE_SHIFT)
        return str(k) if k is not None else hx(addr >> PAGE_SHIFT)

    def addr(self, addr: int) -> str:
        k = self._rel(addr >> PAGE_SHIFT)
        return f"page {k}" if k is not None and not addr & (PAGE_SIZE - 1) else hx(addr)

    def range(self, start: int, end: int) -> str:
        a, b = self._rel(start >> PAGE_SHIFT), self._rel(end >> PAGE_SHIFT)
        if a is not None and b is not None:
            return f"pages [{a}, {b})"
        return f"[{start:#x}, {end:#x})"

    def pgoff(self, pgoff: int | None) -> str:
        k = self._rel(pgoff)
        return f"p+{k}" if k is not None else hx(pgoff)

    @property
    def relative(self) -> bool:
        return self.base is not None

    def legend(self) -> str:
        """One line saying which notation this diagram uses."""
        if not self.relative:
            return "addresses and page offsets in absolute hex"
        return (f"page k: window page k (page 0 = {self.base:#x}) · p+k: pgoff "
                f"{self.base_pgoff:#x} + k\n(set_notation('hex') for absolute hex)")

    def text_legend(self) -> str:
        """The one line a text view ends with, saying which notation it uses: ASCII only,
        and 70 columns for a 48-bit window base, so it fits the mailing list's 72.

        >>> Notation(0x200000000000).text_legend()
        'window: page k = 0x200000000000 + k pages, p+k = pgoff 0x200000000 + k'
        >>> Notation(0x200000000000, "hex").text_legend()
        'addresses and page offsets in absolute hex'
        """
        if not self.relative:
            return "addresses and page offsets in absolute hex"
        return (f"window: page k = {self.base:#x} + k pages, "
                f"p+k = pgoff {self.base_pgoff:#x} + k")


def hx(n: int | None) -> str:
    """``0x1f`` style hex, ``?`` for an unknown value."""
    return "?" if n is None else f"{n:#x}"


def vma_key(process: str, vma: VMAView) -> str:
    """A stable name for a VMA: its model id (``vma3``), else ``P0@0x1000`` (live snapshots)."""
    return vma.id if vma.id is not None else f"{process}@{vma.vm_start:#x}"


def vma_pgoff(vma: VMAView) -> int | None:
    """vm_pgoff: the model's value; in a live snapshot the maps offset in pages for a file
    mapping, and ``None`` (unknown) for anonymous memory, whose maps offset is always 0."""
    if vma.vm_pgoff is not None:
        return vma.vm_pgoff
    if vma.offset or vma.name.startswith("/"):
        return vma.offset >> PAGE_SHIFT
    return None


def linear_page_index(vma: VMAView, addr: int) -> int:
    """include/linux/pagemap.h: linear_page_index(): ``((addr - vm_start) >> PS) + vm_pgoff``
    (``None`` when vm_pgoff is unknown)."""
    start = vma_pgoff(vma)
    return None if start is None else ((addr - vma.vm_start) >> PAGE_SHIFT) + start


def vma_address(vma: VMAView, pgoff: int) -> int | None:
    """mm/internal.h: vma_address(vma, pgoff, 1); ``None`` where the kernel says -EFAULT."""
    start = vma_pgoff(vma)
    if start is None or pgoff < start:
        return None
    addr = vma.vm_start + ((pgoff - start) << PAGE_SHIFT)
    return addr if vma.vm_start <= addr < vma.vm_end else None


def page_state(page) -> str:
    """One of ``none zero anon file pfn unknown`` for a :class:`PageView`."""
    if page.present is False:
        return "none"
    if page.pfnmap:
        return "pfn"
    if page.zero_page or page.frame == "zero":
        return "zero"
    if page.anon:
        return "anon"
    if page.present and page.anon is False:
        return "file"
    return "unknown"


def folio_runs(pages):
    """Group consecutive pages that map consecutive pages of one large folio.

    Returns ``[(first page, n pages, PageView of the first)]`` in address order; an order-0
    or absent page is a run of one.  A large folio mapped whole in one VMA is one run (one
    box in a diagram); a folio split by CoW, partial unmap or mremap gives several.
    O(pages).
    """
    runs = []
    prev = None
    for pg in pages:
        if prev is not None and pg.order and prev.order and pg.folio is not None and \
                pg.folio == prev.folio and pg.addr == prev.addr + (1 << PAGE_SHIFT) and \
                pg.pfn is not None and prev.pfn is not None and pg.pfn == prev.pfn + 1:
            first, n, head = runs[-1]
            runs[-1] = (first, n + 1, head)
        else:
            runs.append((pg, 1, pg))
        prev = pg
    return runs


def folio_words(f, nt: Notation | None = None) -> list[str]:
    """What a diagram says about a large folio: order and size, its index range, its
    mapcounts (and PMD mappings), partially mapped.  [] for an order-0 folio.

    ``nt``: how an anon folio's index is written (default absolute hex); a file folio's
    index is a file offset and stays absolute.  O(1).
    """
    if not getattr(f, "order", 0):
        return []
    n = f.nr_pages
    ix = nt.pgoff if nt is not None and f.anon else hx
    out = [f"order {f.order} ({n} pages, {(n * PAGE_SIZE) >> 10} KiB)",
           f"index [{ix(f.index)}, {ix(f.index + n - 1)}]",
           f"large mapcount {f.mapcount}"]
    if f.entire_mapcount:
        out.append(f"PMD-mapped x{f.entire_mapcount}")
    if f.partially_mapped:
        out.append("partially mapped (deferred split)")
    return out


def is_anon_file_vma(vma: VMAView) -> bool:
    """Does the VMA live in the 'virtual anon file' (anonymous, or has an anon_vma)?"""
    if vma_pgoff(vma) is None:
        return False
    if vma.anon_vma is not None:
        return True
    special = {"sh", "pf", "io", "mm"} & set(vma.vm_flags)
    return vma.file is None and not special and vma.name in ("", "[heap]", "[stack]")


def vma_summary(vma: VMAView) -> str:
    """``vma1 [0x1000, 0x4000) rw-p pgoff 0x1``: the words used in captions and alt text."""
    name = vma.id or "vma"
    return (f"{name} [{vma.vm_start:#x}, {vma.vm_end:#x}) {vma.perms} "
            f"pgoff {hx(vma_pgoff(vma))}")


def find_vma(snap: Snapshot, vma_id: str):
    """(process name, VMAView) for a VMA key, or ``(None, None)``."""
    for p in snap.processes:
        for v in p.vmas:
            if vma_key(p.name, v) == vma_id:
                return p.name, v
    return None, None


def anon_vma_of(snap: Snapshot, label: str) -> AnonVMAView | None:
    return next((a for a in snap.anon_vmas if a.label == label), None)


def folio_of(snap: Snapshot, label: str) -> FolioView | None:
    return next((f for f in snap.folios if f.label == label), None)


def tree_walk(snap: Snapshot, anon_vma=None, index=None, nr_pages=1, folio=None):
    """What an interval-tree view shows: ``(anon_vma, folio, index, nr_pages, walk)``.

    ``folio`` (a label) supplies index, nr_pages and the anon_vma; ``walk`` is
    rmap_walk_candidates() for ``index``, or every avc with no verdict.  Unknown labels
    raise KeyError naming them.  O(k) in the tree's avcs.
    """
    fo = folio_of(snap, folio) if folio else None
    if folio and fo is None:
        raise KeyError(f"no folio {folio!r} in snapshot")
    if fo is not None:
        index, nr_pages, anon_vma = fo.index, fo.nr_pages, anon_vma or fo.mapping
    av = anon_vma_of(snap, anon_vma)
    if av is None:
        raise KeyError(f"no anon_vma {anon_vma!r} in snapshot")
    walk = rmap_walk_candidates(snap, av.label, index, nr_pages) if index is not None else \
        [(a, None, None) for a in av.avcs]
    return av, fo, index, nr_pages, walk


def rmap_walk_candidates(snap: Snapshot, anon_vma: str, index: int, nr_pages: int = 1):
    """The avcs rmap_walk_anon() visits for a folio at ``index`` in ``anon_vma``.

    Model of mm/rmap.c: rmap_walk_anon() -> anon_vma_interval_tree_foreach() over
    ``[index, index + nr_pages - 1]``.  Returns ``[(avc, visited, addr)]`` for every avc of the
    tree in key order; ``addr`` is vma_address() for visited ones.  O(k) in the tree's avcs
    here (the kernel's augmented rbtree makes it O(log n + k)).
    """
    av = anon_vma_of(snap, anon_vma)
    if av is None:
        raise KeyError(f"no anon_vma {anon_vma!r} in snapshot")
    last = index + nr_pages - 1
    out = []
    for avc in av.avcs:
        hit = avc.start_pgoff <= last and index <= avc.last_pgoff
        addr = None
        if hit:
            _, v = find_vma(snap, avc.vma)
            if v is not None and vma_pgoff(v) is not None:
                addr = vma_address(v, max(index, vma_pgoff(v)))
        out.append((avc, hit, addr))
    return out


@dataclass
class Scene:
    """The objects one figure draws, in drawing order, and what is highlighted."""

    processes: list = field(default_factory=list)   # [(name, [VMAView])]
    avcs: list = field(default_factory=list)        # [AVCView], per VMA in chain order
    anon_vmas: list = field(default_factory=list)   # [AnonVMAView]
    folios: list = field(default_factory=list)      # [FolioView]
    ptes: list = field(default_factory=list)        # [(vma key, folio label, first addr,
                                                    #   "pte" or "pmd")]
    spaces: list = field(default_factory=list)      # [AddressSpaceView]
    highlight: set = field(default_factory=set)     # object names drawn emphasised
    notes: list = field(default_factory=list)       # sentences for captions and alt text
    nt: Notation = field(default_factory=lambda: Notation(None))  # how labels write numbers


def _avcs_of(snap: Snapshot, process: str, vma: VMAView, index: dict) -> list[AVCView]:
    """The VMA's anon_vma_chain, oldest first, as AVCViews (built if the tree lacks one)."""
    key = vma_key(process, vma)
    out = []
    for av in reversed(vma.anon_vma_chain):        # snapshot lists newest first
        avc = index.get((key, av))
        if avc is None:
            avc = AVCView(process, key, av, vma_pgoff(vma), vma_pgoff(vma) + vma.pages - 1)
        out.append(avc)
    return out


def _with_ancestors(snap: Snapshot, labels: set) -> list[AnonVMAView]:
    todo, seen = list(labels), set()
    while todo:
        lab = todo.pop()
        if lab in seen:
            continue
        seen.add(lab)
        av = anon_vma_of(snap, lab)
        if av is not None:
            todo += [av.parent, av.root]
    return [a for a in snap.anon_vmas if a.label in seen]


def build_scene(snap: Snapshot, processes=None, pages: bool = True, focus=None,
                notation: str | None = None) -> Scene:
    """Select what an object graph shows.

    ``processes``: names to show (default all).  ``pages``: include folios and PTE links.
    ``focus``: a process ``"P0"``, VMA ``"vma3"``, anon_vma ``"av1"``, folio ``"folio5"`` or
    address_space ``"file2"``: restrict to that object's neighbourhood and highlight it.
    Raises ``KeyError`` for an unknown focus or process.
    """
    names = [p.name for p in snap.processes]
    wanted = list(processes) if processes is not None else names
    for n in wanted:
        if n not in names:
            raise KeyError(f"no process {n!r} in snapshot (have {', '.join(names)})")
    index = {(a.vma, a.anon_vma): a for av in snap.anon_vmas for a in av.avcs}
    keep_vma = None           # None: every VMA of the wanted processes
    keep_folio = None
    extra_avs: set = set()
    scene = Scene(nt=Notation.of(snap, notation))
    if focus is not None:
        kind = _focus_kind(snap, focus)
        scene.highlight.add(focus)
        if kind == "process":
            wanted = [focus]
        elif kind == "vma":
            keep_vma = {focus}
        elif kind == "anon_vma":
            av = anon_vma_of(snap, focus)
            keep_vma = {a.vma for a in av.avcs}
            extra_avs = {focus}
            keep_folio = {f.label for f in snap.folios if f.mapping == focus}
        elif kind == "folio":
            fo = folio_of(snap, focus)
            keep_vma = {vma_key(p.name, v) for p in snap.processes for v in p.vmas
                        for pg in p.pages if pg.folio == focus and v.vm_start <= pg.addr < v.vm_end}
            if anon_vma_of(snap, fo.mapping or ""):
                extra_avs = {fo.mapping}
                for avc, hit, _ in rmap_walk_candidates(snap, fo.mapping, fo.index, fo.nr_pages):
                    if hit:
                        keep_vma.add(avc.vma)
                        scene.highlight.add(f"avc:{avc.vma}:{avc.anon_vma}")
            keep_folio = {focus}
        else:                  # address_space
            sp = next(s for s in snap.address_spaces if s.label == focus)
            keep_vma = {vid for _, vid, _, _ in sp.i_mmap}
            keep_folio = {lab for _, lab in sp.pages}
        if keep_vma is not None:
            wanted = [p.name for p in snap.processes
                      if any(vma_key(p.name, v) in keep_vma for v in p.vmas)]
    av_labels = set(extra_avs)
    folio_labels = []
    for p in snap.processes:
        if p.name not in wanted:
            continue
        vmas = [v for v in p.vmas if keep_vma is None or vma_key(p.name, v) in keep_vma]
        scene.processes.append((p.name, vmas))
        for v in vmas:
            key = vma_key(p.name, v)
            for avc in _avcs_of(snap, p.name, v, index):
                scene.avcs.append(avc)
                av_labels.add(avc.anon_vma)
            seen = set()
            for pg in p.pages:
                if pg.folio and v.vm_start <= pg.addr < v.vm_end and pg.folio not in seen:
                    seen.add(pg.folio)
                    if keep_folio is None or pg.folio in keep_folio:
                        scene.ptes.append((key, pg.folio, pg.addr,
                                           "pmd" if pg.pmd else "pte"))
                        if pg.folio not in folio_labels:
                            folio_labels.append(pg.folio)
    scene.anon_vmas = _with_ancestors(snap, av_labels)
    files = {v.mapping or v.file for _, vs in scene.processes for v in vs if v.file}
    vids = {vma_key(n, v) for n, vs in scene.processes for v in vs}
    for sp in snap.address_spaces:
        if sp.label in files or any(vid in vids for _, vid, _, _ in sp.i_mmap) \
                or sp.label in scene.highlight:
            scene.spaces.append(sp)
            if keep_folio is None or focus == sp.label:
                folio_labels += [lab for _, lab in sp.pages if lab not in folio_labels]
    if keep_folio is not None:
        folio_labels += [lab for lab in sorted(keep_folio) if lab not in folio_labels]
    if pages:
        order = {f.label: i for i, f in enumerate(snap.folios)}
        scene.folios = sorted((f for f in snap.folios if f.label in folio_labels),
                              key=lambda f: order[f.label])
    else:
        scene.ptes = []
    if snap.source == "live" or (not snap.anon_vmas and "anon_vmas" in snap.unknown):
        scene.notes.append("anon_vmas and folios are not observable in a live snapshot")
    return scene


def _focus_kind(snap: Snapshot, focus: str) -> str:
    if any(p.name == focus for p in snap.processes):
        return "process"
    if find_vma(snap, focus)[1] is not None:
        return "vma"
    if anon_vma_of(snap, focus) is not None:
        return "anon_vma"
    if folio_of(snap, focus) is not None:
        return "folio"
    if any(s.label == focus for s in snap.address_spaces):
        return "address_space"
    raise KeyError(f"focus {focus!r} names no process, VMA, anon_vma, folio or address_space "
                   "in this snapshot")
