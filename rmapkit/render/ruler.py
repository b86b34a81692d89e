"""Ruler-and-letters notation of the kernel's VMA tests, and the text views built on it.

``tools/testing/vma/vma.c`` draws each step as a ruler of pages and one letter per VMA::

    0123456789abcdef
    AAA.BBB

:func:`vma_letters` returns exactly the second line, so a test can assert the layout it
draws.  :func:`ruler` adds the ruler and a line of page states (``-`` not present, ``0`` zero
page, ``a`` anon folio, ``f`` file folio, ``p`` raw PFN); :func:`address_space_ascii` adds
the legend and the *virtual anon file* (the same notation over pgoff instead of address);
:func:`interval_tree_ascii` and :func:`diff_ascii` are the text forms of those DOT views.

Each view follows the notation setting (:func:`rmapkit.render.common.set_notation`, or
``notation=`` per call) and ends with a line saying which one it shows.  A ruler's header
says where column 0 is: ``page 0 = 0x...`` in absolute hex, ``column 0 = page k`` in the
window notation, whose legend line gives window page 0's address.  The samples lie outside
any window, so they print absolute hex:

>>> from rmapkit.render.samples import split_after
>>> print(ruler(split_after()))
P0 page 0 = 0x10000
012
A.B
a.a
addresses and page offsets in absolute hex
>>> from dataclasses import replace
>>> print(ruler(replace(split_after(), window=(0x10000, 0x13000))))
P0 column 0 = page 0
012
A.B
a.a
window: page k = 0x10000 + k pages, p+k = pgoff 0x10 + k
>>> vma_letters(split_after(), letters={"vma2": "N"})
'A.N'
"""

from __future__ import annotations

import functools
import string
import textwrap

from rmapkit.render.common import (PAGE_SHIFT, STATE_CHAR, Notation, folio_runs, folio_words,
                                   hx, is_anon_file_vma, page_state, tree_walk, vma_key,
                                   vma_pgoff)
from rmapkit.snapshot import Snapshot

__all__ = ["vma_letters", "ruler", "address_space_ascii", "interval_tree_ascii", "diff_ascii",
           "assign_letters", "MAX_COLUMNS", "LETTERS", "TooCrowded"]

MAX_COLUMNS = 64
DIGITS = "0123456789abcdef"


def _digits(n: int) -> str:
    return "".join(DIGITS[i % 16] for i in range(n))


def _proc(snap, process):
    return snap.process(process) if process else snap.processes[0]


def _range(proc, start, npages, window):
    """(first page number, page count) the ruler covers, capped at MAX_COLUMNS."""
    if start is None:
        start = window[0] if window else (proc.vmas[0].vm_start if proc.vmas else 0)
    first = start >> PAGE_SHIFT
    if npages is None:
        if window:
            end = window[1] >> PAGE_SHIFT
        else:
            end = max((v.vm_end >> PAGE_SHIFT for v in proc.vmas), default=first)
        npages = max(0, end - first)
    return first, min(npages, MAX_COLUMNS), npages > MAX_COLUMNS


# After A-Z and a-z the letters run on in Greek (those that cannot be mistaken for a
# Latin letter), so a full MAX_COLUMNS window of one-page VMAs still gets one letter each.
LETTERS = (string.ascii_uppercase + string.ascii_lowercase
           + "αβγδεζηθιλμξπρστφχψω" + "ΓΔΘΛΞΠΣΦΨΩ")


class TooCrowded(ValueError):
    """More VMAs than letters: the view says so instead of drawing."""


def assign_letters(keys, letters=None) -> dict:
    """One letter per VMA key: those given in ``letters``, then A, B, C... unused ones
    (after ``z``: Greek letters, see LETTERS).

    :raises TooCrowded: if there are more keys than LETTERS (82).
    """
    given = dict(letters or {})
    free = iter([c for c in LETTERS if c not in given.values()])
    out = {}
    for k in keys:
        if k in given:
            out[k] = given[k]
            continue
        c = next(free, None)
        if c is None:
            raise TooCrowded(f"too crowded to draw: {len(keys)} VMAs, but only {len(LETTERS)} "
                             "letters; show a narrower window (start=, npages=)")
        out[k] = c
    return out


def _crowded(fn):
    """A text view that answers a too-crowded window with one line saying so."""
    @functools.wraps(fn)
    def view(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TooCrowded as e:
            return f"({e})\n"
    return view


def vma_letters(snap: Snapshot, process: str | None = None, start: int | None = None,
                npages: int | None = None, letters: dict | None = None) -> str:
    """One character per page from ``start``: the VMA's letter, ``.`` for a hole.

    ``letters`` maps VMA ids to letters (others get A, B, ... in address order).
    Trailing holes are dropped.  O(V + pages).
    """
    proc = _proc(snap, process)
    first, n, _ = _range(proc, start, npages, snap.window)
    return _letter_line(proc, first, n, letters).rstrip(".")


def _letter_line(proc, first, n, letters, names=None):
    vis = [v for v in proc.vmas if v.vm_end >> PAGE_SHIFT > first and
           v.vm_start >> PAGE_SHIFT < first + n]
    names = names or assign_letters([vma_key(proc.name, v) for v in vis], letters)
    line = ["."] * n
    for v in vis:
        for pg in range(max(first, v.vm_start >> PAGE_SHIFT),
                        min(first + n, v.vm_end >> PAGE_SHIFT)):
            line[pg - first] = names[vma_key(proc.name, v)]
    return "".join(line)


def _state_line(proc, first, n):
    line = ["."] * n
    for v in proc.vmas:
        for pg in range(max(first, v.vm_start >> PAGE_SHIFT),
                        min(first + n, v.vm_end >> PAGE_SHIFT)):
            line[pg - first] = STATE_CHAR["none"]
    for pg in proc.pages:
        i = (pg.addr >> PAGE_SHIFT) - first
        if 0 <= i < n and line[i] != ".":
            line[i] = STATE_CHAR[page_state(pg)]
    return "".join(line)


def _origin(nt, page: int) -> str:
    """Where a ruler's column 0 is: ``page 0 = 0x200000000000`` (absolute, as the kernel's
    VMA tests write it) or ``column 0 = page 0``, whose address the legend line gives."""
    if not nt.relative:
        return f"page 0 = {hx(page << PAGE_SHIFT)}"
    return f"column 0 = {nt.addr(page << PAGE_SHIFT)}"


def _pgoff_origin(nt, pgoff: int) -> str:
    """The same for a pgoff ruler: ``pgoff 0 = 0x200000000`` or ``column 0 = p+0``."""
    return f"pgoff 0 = {hx(pgoff)}" if not nt.relative else f"column 0 = {nt.pgoff(pgoff)}"


def _large_folio_line(snap, proc, first, n, nt):
    """Large folios as boxes over their pages: ``[====]`` mapped by a PMD, ``[----]`` by
    PTEs (one box per run of consecutive pages), then one line per folio.  [] if none."""
    line = ["."] * n
    seen = []
    pages = [pg for pg in proc.pages if 0 <= (pg.addr >> PAGE_SHIFT) - first < n]
    for pg, k, head in folio_runs(pages):
        if not head.present or not head.order:
            continue
        i = (head.addr >> PAGE_SHIFT) - first
        fill = "=" if head.pmd else "-"
        box = "|" if k == 1 else "[" + fill * (k - 2) + "]"
        line[i:i + k] = box
        if head.folio not in seen:
            seen.append(head.folio)
    if not seen:
        return []
    out = ["folio  " + "".join(line).rstrip(".")]
    views = {f.label: f for f in snap.folios}
    for lab in seen:
        f = views.get(lab)
        words = folio_words(f, nt) if f is not None else \
            [f"order {next(pg.order for pg in pages if pg.folio == lab)}"]
        # break between the phrases, never inside one ("large mapcount" / "31")
        line = f"  {lab}: {words[0]}"
        for w in words[1:]:
            if len(line) + 2 + len(w) > 72:
                out.append(line + ",")
                line = "  " + w
            else:
                line += ", " + w
        out.append(line)
    out.append("folio: [====] a large folio mapped by a PMD, [----] by PTEs")
    return out


@_crowded
def ruler(snap: Snapshot, process: str | None = None, start: int | None = None,
          npages: int | None = None, letters: dict | None = None, pages: bool = True,
          notation: str | None = None) -> str:
    """Header, ruler, VMA letters, (``pages``) page states, one column per page, and the
    notation's legend line (``notation``: ``"window"`` or ``"hex"``, default
    :func:`rmapkit.render.common.set_notation`).  n/a (renderer); O(V + pages)."""
    proc = _proc(snap, process)
    nt = Notation.of(snap, notation)
    first, n, cut = _range(proc, start, npages, snap.window)
    lines = [f"{proc.name} {_origin(nt, first)}" + (" (cut)" if cut else ""),
             _digits(n), _letter_line(proc, first, n, letters)]
    if pages:
        lines.append(_state_line(proc, first, n))
    lines = [line.rstrip(".") if i > 1 else line for i, line in enumerate(lines)]
    return "\n".join(lines + [nt.text_legend()])


@_crowded
def address_space_ascii(snap: Snapshot, process: str | None = None, start: int | None = None,
                        npages: int | None = None, letters: dict | None = None,
                        notation: str | None = None) -> str:
    """The address-space view as text: ruler, letters, page states, legend, anon file,
    and the notation's legend line (``notation``: ``"window"`` or ``"hex"``, default
    :func:`rmapkit.render.common.set_notation`).  n/a (renderer); O(V + pages)."""
    proc = _proc(snap, process)
    nt = Notation.of(snap, notation)
    first, n, cut = _range(proc, start, npages, snap.window)
    vis = [v for v in proc.vmas if v.vm_end >> PAGE_SHIFT > first and
           v.vm_start >> PAGE_SHIFT < first + n]
    names = assign_letters([vma_key(proc.name, v) for v in vis], letters)
    out = [f"{proc.name} address space, {_origin(nt, first)}"
           + (f" (first {n} pages)" if cut else ""),
           "addr   " + _digits(n),
           "vma    " + _letter_line(proc, first, n, None, names).rstrip("."),
           "page   " + _state_line(proc, first, n).rstrip(".")]
    big = _large_folio_line(snap, proc, first, n, nt)
    if big:
        out += big
    for v in vis:
        k = vma_key(proc.name, v)
        extra = f" anon_vma {v.anon_vma}" if v.anon_vma else ""
        extra += f" {v.name}" if v.name else ""
        # the virtual anon file's pgoffs are window-relative; a file's are file offsets
        pgoff = nt.pgoff if is_anon_file_vma(v) else hx
        out.append(f"{names[k]} = {k} {nt.range(v.vm_start, v.vm_end)} {v.perms} vm_pgoff "
                   f"{pgoff(vma_pgoff(v))}{extra}")
    out.append("page: - not present, 0 zero page, a anon, f file, p PFN")
    anon = [v for v in vis if is_anon_file_vma(v)]
    if any(vma_pgoff(v) is None for v in vis):
        out.append("(vm_pgoff of anonymous memory is not visible in a live snapshot)")
    if anon:
        lo = min(vma_pgoff(v) for v in anon)
        hi = max(vma_pgoff(v) + v.pages for v in anon)
        out.append(f"virtual anon file, {_pgoff_origin(nt, lo)}")
        if hi - lo > MAX_COLUMNS:
            out += [f"{names[vma_key(proc.name, v)]} pgoff [{nt.pgoff(vma_pgoff(v))}, "
                    f"{nt.pgoff(vma_pgoff(v) + v.pages - 1)}]" for v in anon]
        else:
            out.append("pgoff  " + _digits(hi - lo))
            rows = []
            for v in sorted(anon, key=lambda v: vma_pgoff(v)):
                a = vma_pgoff(v) - lo
                row = next((r for r in rows if all(c == "." for c in r[a:a + v.pages])), None)
                if row is None:
                    row = ["."] * (hi - lo)
                    rows.append(row)
                row[a:a + v.pages] = names[vma_key(proc.name, v)] * v.pages
            out += ["vma    " + "".join(r).rstrip(".") for r in rows]
            fol = ["."] * (hi - lo)
            for pg in proc.pages:
                if pg.anon and pg.index is not None and 0 <= pg.index - lo < hi - lo:
                    fol[pg.index - lo] = "a"
            out.append("folio  " + "".join(fol).rstrip("."))
    out.append(nt.text_legend())
    return _fit(out)


def interval_tree_ascii(snap: Snapshot, anon_vma: str | None = None,
                        index: int | None = None, nr_pages: int = 1,
                        folio: str | None = None, notation: str | None = None) -> str:
    """One row per avc over a pgoff ruler; with ``index``/``folio``, which ones are
    visited (mm/rmap.c: rmap_walk_anon()); then the notation's legend line (``notation``:
    ``"window"`` or ``"hex"``).  O(k) in the tree's avcs."""
    av, fo, index, nr_pages, walk = tree_walk(snap, anon_vma, index, nr_pages, folio)
    nt = Notation.of(snap, notation)
    px = nt.pgoff
    keys = [a.start_pgoff for a in av.avcs] + ([index] if index is not None else [])
    lo = min(keys, default=0)
    hi = max([a.last_pgoff + 1 for a in av.avcs] +
             ([index + nr_pages] if index is not None else []), default=lo)
    n = min(hi - lo, 40)
    out = [f"anon_vma {av.label}: {len(av.avcs)} avcs, {_pgoff_origin(nt, lo)}",
           "pgoff   " + _digits(n)]
    for avc, hit, addr in walk:
        bar = "".join("#" if avc.start_pgoff <= lo + i <= avc.last_pgoff else "."
                      for i in range(n))
        where = nt.addr(addr) if addr is not None else "?"
        what = "" if hit is None else (f" visited -> {where}" if hit else " skipped")
        out.append(f"{avc.vma:<7} {bar}  [{px(avc.start_pgoff)}, {px(avc.last_pgoff)}]"
                   f" {avc.process}{what}")
    if index is not None and 0 <= index - lo < n:
        out.append(" " * (8 + index - lo) + "^ " + (fo.label + " " if fo else "")
                   + f"index {px(index)}")
    out.append(nt.text_legend())
    return _fit(out)


@_crowded
def diff_ascii(before: Snapshot, after: Snapshot, process: str | None = None,
               op: str | None = None, notation: str | None = None) -> str:
    """Before and after rulers with matching letters (same struct, same letter), the
    list of changes in words and the notation's legend line (``notation``: ``"window"``
    or ``"hex"``, numbered as ``after`` is).  O(V^2 + A + F), as :func:`diff`."""
    from rmapkit.render.diff import diff          # diff imports the DOT helpers

    nt = Notation.of(after, notation)
    pb = _proc(before, process)
    try:
        pa = after.process(pb.name)
    except KeyError:
        pa = _proc(after, None)
    vmas = list(pb.vmas) + list(pa.vmas)
    first = min((v.vm_start for v in vmas), default=0) >> PAGE_SHIFT
    end = max((v.vm_end for v in vmas), default=0) >> PAGE_SHIFT
    n = min(end - first, MAX_COLUMNS)
    keys = list(dict.fromkeys(vma_key(p.name, v) for p in (pb, pa) for v in p.vmas))
    names = assign_letters(keys)
    out = [f"{op}" if op else "before -> after", f"{pb.name} {_origin(nt, first)}",
           "        " + _digits(n),
           "before  " + _letter_line(pb, first, n, None, names).rstrip("."),
           "after   " + _letter_line(pa, first, n, None, names).rstrip(".")]
    for k in keys:
        out.append(f"{names[k]} = {k}")
    out.append("changes:")
    out += [f"- {c.text}" for c in diff(before, after, nt=nt)] or ["- none"]
    out.append(nt.text_legend())
    return _fit(out)


def _fit(lines, width=72) -> str:
    """Join lines, wrapping any longer than ``width`` with a two-space hanging indent."""
    out = []
    for line in lines:
        out += textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False) \
            if len(line) > width else [line.rstrip()]
    return "\n".join(out) + "\n"
