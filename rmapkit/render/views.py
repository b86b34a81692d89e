"""Address-space view and interval-tree view in DOT (HTML-like table labels).

* :func:`address_space_dot`: the VMAs of one process on an address ruler (start/end, flags,
  ``vm_pgoff``), each page coloured by state, the pgoff (``linear_page_index()``) of every
  page, and under it the *virtual anon file*: the anon pgoff space with each anonymous VMA
  drawn at ``[vm_pgoff, vm_pgoff + pages - 1]`` and the anon folios at their ``index``; each
  file appears the same way at its file offsets.  An edge joins a VMA to where it sits in its
  file, so a VMA moved by mremap (pgoff kept) shows as a crossing line.
* :func:`interval_tree_dot`: one anon_vma's avcs, keyed by pgoff range, and which of them
  ``rmap_walk_anon()`` visits for a folio at ``index``.

Long VMAs are shortened (``max_pages``) and holes drawn as one column, so the tables stay
readable for live snapshots too.

>>> from rmapkit.render.samples import split_after
>>> text = interval_tree_dot(split_after(), "av1", index=0x12)
>>> "visits vma2 at 0x12000" in text and "skips vma1" in text
True
"""

from __future__ import annotations

import html

from rmapkit.render.common import (LINE, PAGE_SHIFT, PALETTE, STATE_WORDS, Notation, find_vma,
                                   hx, is_anon_file_vma, linear_page_index, page_state,
                                   tree_walk, vma_key, vma_pgoff)
from rmapkit.render.dot import edge, header, legend, plural, q
from rmapkit.snapshot import Snapshot

__all__ = ["address_space_dot", "interval_tree_dot", "address_columns", "pgoff_columns",
           "pack_rows"]

MAX_PAGES = 12


def _e(s) -> str:
    return html.escape(str(s), quote=True).replace("\n", "<BR/>")


def _td(text, role=None, colspan=1, port=None, bold=False, size=None) -> str:
    fill, colour = PALETTE[role] if role else ("transparent", LINE)
    body = _e(text)
    if bold:
        body = f"<B>{body}</B>"
    font = f'<FONT COLOR="{colour}"' + (f' POINT-SIZE="{size}"' if size else "") + ">"
    attrs = f' BGCOLOR="{fill}"' if role else ""
    attrs += f' COLSPAN="{colspan}"' if colspan > 1 else ""
    attrs += f' PORT="{port}"' if port else ""
    if not body:                       # Graphviz 2.43 rejects an empty <FONT></FONT>
        return f"<TD{attrs}> </TD>"
    return f"<TD{attrs}>{font}{body}</FONT></TD>"


def _table(rows) -> str:
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3" '
            f'COLOR="{LINE}">' + "".join(f"<TR>{''.join(r)}</TR>" for r in rows) + "</TABLE>>")


def _shorten(first: int, last: int, max_pages: int):
    """Page numbers to show for [first, last]: all, or a head, an elision and the tail."""
    n = last - first + 1
    if n <= max_pages:
        return [("one", i) for i in range(first, last + 1)]
    head = max_pages - 2
    return ([("one", first + i) for i in range(head)] +
            [("elide", first + head, last - 1), ("one", last)])


def address_columns(vmas, window=None, max_pages=MAX_PAGES):
    """Columns of the address ruler: ``("page", pfn_of_addr, vma)``, ``("elide", a, b, vma)``
    (pages a..b not drawn) and ``("hole", start, end)`` in page numbers."""
    cols, prev_end = [], None
    lo = window[0] >> PAGE_SHIFT if window else None
    for v in vmas:
        s, e = v.vm_start >> PAGE_SHIFT, v.vm_end >> PAGE_SHIFT
        if lo is not None:
            s = max(s, lo)
        if window:
            e = min(e, window[1] >> PAGE_SHIFT)
        if e <= s:
            continue
        start_gap = prev_end if prev_end is not None else lo
        if start_gap is not None and start_gap < s:
            cols.append(("hole", start_gap, s))
        for item in _shorten(s, e - 1, max_pages):
            cols.append(("page", item[1], v) if item[0] == "one" else ("elide", item[1], item[2], v))
        prev_end = e
    return cols


def pgoff_columns(intervals, max_pages=MAX_PAGES):
    """Columns of a pgoff ruler covering the union of inclusive ``intervals``."""
    merged = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    cols = []
    for i, (a, b) in enumerate(merged):
        if i:
            cols.append(("hole", merged[i - 1][1] + 1, a))
        cols += [("page", x[1]) if x[0] == "one" else ("elide", x[1], x[2])
                 for x in _shorten(a, b, max_pages)]
    return cols


def _col_of(cols, n):
    for i, c in enumerate(cols):
        if c[0] == "page" and c[1] == n or c[0] == "elide" and c[1] <= n <= c[2]:
            return i
    return None


def pack_rows(bands):
    """Greedy interval packing: [(first, last, payload)] -> rows of non-overlapping bands."""
    rows = []
    for band in sorted(bands, key=lambda b: (b[0], b[1])):
        for row in rows:
            if row[-1][1] < band[0]:
                row.append(band)
                break
        else:
            rows.append([band])
    return rows


def _band_row(cols, row, title, ports_only=False, ports=True):
    """One row of bands; ``ports_only``: an empty, borderless row carrying the bands' ports,
    where arrows end without crossing any text."""
    cells, i = [_td(title) if not ports_only else _blank()], 0
    for first, last, (text, role, port) in row:
        a, b = _col_of(cols, first), _col_of(cols, last)
        if a > i:
            cells.append(_td("", colspan=a - i) if not ports_only else _blank(a - i))
        cells.append(_td(text, role, colspan=b - a + 1, port=port if ports else None, size=9)
                     if not ports_only
                     else _blank(b - a + 1, port))
        i = b + 1
    if i < len(cols):
        cells.append(_td("", colspan=len(cols) - i) if not ports_only else _blank(len(cols) - i))
    return cells


def _blank(colspan=1, port=None) -> str:
    """An empty cell without borders (a port row's cell)."""
    attrs = f' COLSPAN="{colspan}"' if colspan > 1 else ""
    attrs += f' PORT="{port}"' if port else ""
    return f'<TD BORDER="0" HEIGHT="4"{attrs}></TD>'


def _pgoff_table(title, bands, folios, max_pages, role="anon", nt=None):
    """A file's pgoff space: bands [(first, last, (text, role, port))], folios {pgoff: text}.

    The first row is an empty port row over the VMA bands: arrows from the address table
    end there, above the bands' text."""
    nt = nt or Notation(None)
    fmt = nt.pgoff if role == "anon" else hx
    cols = pgoff_columns([(a, b) for a, b, _ in bands] + [(k, k) for k in folios], max_pages)
    head = [_td(title, bold=True)] + [
        _td(fmt(c[1]), size=9) if c[0] == "page" else
        _td("..." if c[0] == "elide" else "gap", "hole", size=8) for c in cols]
    packed = pack_rows(bands)
    rows = [_band_row(cols, r, "", ports_only=True) for r in packed[:1]]
    rows += [_band_row(cols, r, "VMAs" if not i else "", ports=i > 0)
             for i, r in enumerate(packed)]
    fol = [_td("folios")]
    k = 0
    while k < len(cols):                 # a folio over several pgoffs is one spanning cell
        c = cols[k]
        if c[0] != "page":
            fol.append(_td("", "hole"))
            k += 1
            continue
        lab = folios.get(c[1], "")
        n = 1
        while lab and k + n < len(cols) and cols[k + n][0] == "page" and \
                folios.get(cols[k + n][1]) == lab and cols[k + n][1] == c[1] + n:
            n += 1
        fol.append(_td(lab, role if lab else None, colspan=n, size=8))
        k += n
    return _table(rows + [head, fol])


def address_space_dot(snap: Snapshot, process: str | None = None, window=None,
                      max_pages: int = MAX_PAGES, focus: str | None = None,
                      page: int | None = None, notation: str | None = None) -> str:
    """The address space of ``process`` (default: the first) over ``window`` (default: all).

    ``focus``: a VMA id drawn highlighted; ``page``: an address whose page (its address
    and pgoff cells) is highlighted, as chapter 1's explorer moves through a VMA.
    O(V + P) in VMAs and pages.
    """
    page = None if page is None else page & ~((1 << PAGE_SHIFT) - 1)
    proc = snap.process(process) if process else snap.processes[0]
    window = window or snap.window
    nt = Notation.of(snap, notation)
    pages = {pg.addr: pg for pg in proc.pages}
    cols = address_columns(proc.vmas, window, max_pages)
    vma_cells, addr_cells, pgoff_cells, folio_cells = [_td("VMA")], [
        _td("page" if nt.relative else "addr>>12")], [_td("pgoff")], [_td("folio")]
    port_cells = [_blank()]
    states, i = {}, 0
    while i < len(cols):
        c = cols[i]
        if c[0] == "hole":
            for row in (vma_cells, addr_cells, pgoff_cells, folio_cells):
                row.append(_td("hole" if row is vma_cells else "", "hole", size=8))
            port_cells.append(_blank())
            i += 1
            continue
        v = c[-1]
        span = [x for x in cols[i:] if x[0] != "hole" and x[-1] is v]
        k = vma_key(proc.name, v)
        pg_text = nt.pgoff(vma_pgoff(v)) if is_anon_file_vma(v) else hx(vma_pgoff(v))
        text = (f"{v.id or proc.name} {v.perms}\n{nt.range(v.vm_start, v.vm_end)}\nvm_pgoff "
                f"{pg_text}\n{' '.join(v.vm_flags)}" + (f"\n{v.name}" if v.name else ""))
        vma_cells.append(_td(text, "changed" if k == focus else "vma", colspan=len(span),
                             size=9))
        port_cells.append(_blank(len(span), k))
        run = None                    # [label, columns, first page] of a large folio's cells
        for x in span:
            if x[0] == "elide":
                run = _flush_run(folio_cells, run)
                for row in (addr_cells, pgoff_cells, folio_cells):
                    row.append(_td("...", "hole", size=8))
                continue
            addr = x[1] << PAGE_SHIFT
            pg = pages.get(addr)
            st = page_state(pg) if pg else "none"
            states[st] = states.get(st, 0) + 1
            mark = addr == page
            addr_cells.append(_td(nt.page_no(addr), "changed" if mark else st, size=9,
                                  bold=mark))
            lpi = linear_page_index(v, addr)
            pgoff_cells.append(_td(nt.pgoff(lpi) if is_anon_file_vma(v) else hx(lpi),
                                   "changed" if mark else None, size=8, bold=mark))
            if pg is not None and pg.order and pg.folio:
                if run is not None and run[0] == pg.folio and run[3] == pg.pfn - 1:
                    run[1] += 1
                    run[3] = pg.pfn
                    continue
                run = _flush_run(folio_cells, run)
                run = [pg.folio, 1, pg, pg.pfn]
                continue
            run = _flush_run(folio_cells, run)
            folio_cells.append(_td(pg.folio if pg and pg.folio else "", size=8))
        _flush_run(folio_cells, run)
        i += len(span)
    title = f"Address space of {proc.name}"
    desc = [f"{title}: {plural(len(proc.vmas), 'VMA')}"]
    for v in proc.vmas:
        desc.append(f"{vma_key(proc.name, v)} [{v.vm_start:#x}, {v.vm_end:#x}) {v.perms} "
                    f"vm_pgoff {hx(vma_pgoff(v))}" + (f" {v.name}" if v.name else ""))
    desc.append("pages: " + ", ".join(f"{n} {STATE_WORDS[s]}" for s, n in sorted(states.items())))
    hv = next((v for v in proc.vmas if page is not None and v.vm_start <= page < v.vm_end), None)
    if hv is not None and vma_pgoff(hv) is not None:
        desc.append(f"highlighted: the page at {page:#x}, pgoff "
                    f"{hx(linear_page_index(hv, page))} in {vma_key(proc.name, hv)}")
    if any(vma_pgoff(v) is None for v in proc.vmas):
        desc.append("vm_pgoff of anonymous memory is not visible in a live snapshot")
    lines = header(title, ". ".join(desc) + ".", name="address_space")
    # The VMA row is last, over an empty port row: the arrows to the files start below it
    # and cross no text.
    lines.append(f"  {q('space')} [shape=plain, label="
                 f"{_table([addr_cells, folio_cells, pgoff_cells, vma_cells, port_cells])}];")
    lines += _legend()
    # The virtual anon file: anonymous VMAs at their pgoff ranges, anon folios at their index.
    anon = [v for v in proc.vmas if is_anon_file_vma(v) and _in(v, cols)]
    if anon:
        bands = [(vma_pgoff(v), vma_pgoff(v) + v.pages - 1,
                  (vma_key(proc.name, v), "vma", vma_key(proc.name, v))) for v in anon]
        fol = {pg.index: pg.folio for pg in proc.pages
               if pg.anon and pg.folio and pg.index is not None}
        lines.append(f"  {q('anonfile')} [shape=plain, label="
                     f"{_pgoff_table('anon pgoff', bands, fol, max_pages, nt=nt)}];")
        lines.append(edge("space", "anonfile", style="invis"))
        for v in anon:
            k = vma_key(proc.name, v)
            lines.append(f"  {q('space')}:{q(k)}:s -> {q('anonfile')}:{q(k)}:n "
                         f"[color=\"{LINE}\", style=\"dashed\", arrowsize=\"0.6\"];")
    spaces = {sp.label: sp for sp in snap.address_spaces}
    for fl in sorted({v.mapping or v.file for v in proc.vmas if v.file and _in(v, cols)}):
        fv = [v for v in proc.vmas if (v.mapping or v.file) == fl and _in(v, cols)
              and not is_anon_file_vma(v)]
        if not fv:
            continue
        sp = spaces.get(fl)
        bands = [(vma_pgoff(v), vma_pgoff(v) + v.pages - 1,
                  (vma_key(proc.name, v), "vma", vma_key(proc.name, v))) for v in fv]
        fol = {i: lab for i, lab in sp.pages} if sp else {}
        node = "file:" + fl
        name = sp.name if sp else fv[0].name or fl
        lines.append(f"  {q(node)} [shape=plain, label="
                     f"{_pgoff_table(f'{fl} {name}', bands, fol, max_pages, 'file', nt)}];")
        lines.append(edge("space", node, style="invis"))
        for v in fv:
            k = vma_key(proc.name, v)
            lines.append(f"  {q('space')}:{q(k)}:s -> {q(node)}:{q(k)}:n "
                         f"[color=\"{LINE}\", style=\"dashed\", arrowsize=\"0.6\"];")
    lines.append(f"  label={q(legend(nt))};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _flush_run(cells, run):
    """Close a large folio's run of page columns: one cell spanning them (head, order,
    PMD or PTE mapped).  Returns None (no open run)."""
    if run is not None:
        label, n, pg, _ = run
        how = "PMD" if pg.pmd else "PTEs"
        cells.append(_td(f"{label} order {pg.order} {how}", "anon" if pg.anon else "file",
                         colspan=n, size=8))
    return None


def _in(v, cols) -> bool:
    return any(c[0] != "hole" and c[-1] is v for c in cols)


def _legend() -> list[str]:
    cells = [_td("pages:")] + [_td(STATE_WORDS[s], s, size=8)
                               for s in ("none", "zero", "anon", "file", "pfn")]
    return [f"  {q('legend')} [shape=plain, label={_table([cells])}];",
            edge("legend", "space", style="invis")]


def interval_tree_dot(snap: Snapshot, anon_vma: str | None = None, index: int | None = None,
                      nr_pages: int = 1, folio: str | None = None,
                      max_pages: int = MAX_PAGES, notation: str | None = None) -> str:
    """The interval tree of ``anon_vma``: avcs keyed ``[start_pgoff, last_pgoff]``.

    With ``index`` (or ``folio``, which supplies index, nr_pages and anon_vma), the avcs an
    rmap walk visits are coloured and the others greyed: mm/rmap.c: rmap_walk_anon().
    O(k) in the tree's avcs.
    """
    av, fo, index, nr_pages, walk = tree_walk(snap, anon_vma, index, nr_pages, folio)
    nt = Notation.of(snap, notation)
    px = nt.pgoff
    marks = set(range(index, index + nr_pages)) if index is not None else set()
    cols = pgoff_columns([(a.start_pgoff, a.last_pgoff) for a in av.avcs] +
                         [(m, m) for m in marks], max_pages)
    head = [_td("pgoff", bold=True)] + [
        _td(px(c[1]), "changed" if c[0] == "page" and c[1] in marks else None, size=9)
        if c[0] == "page" else _td("..." if c[0] == "elide" else "gap", "hole", size=8)
        for c in cols]
    rows = []
    for avc, hit, _ in walk:
        role = "avc" if hit is None else ("visited" if hit else "skipped")
        text = f"{avc.process} {avc.vma} [{px(avc.start_pgoff)}, {px(avc.last_pgoff)}]"
        rows.append(_band_row(cols, [(avc.start_pgoff, avc.last_pgoff, (text, role, None))],
                              f"avc {avc.vma}"))
    what = fo.label if fo else (f"index {px(index)}" if index is not None else None)
    title = f"Interval tree of anon_vma {av.label}" + (f", rmap walk for {what}" if what else "")
    sent = [f"anon_vma {av.label} holds {plural(len(av.avcs), 'anon_vma_chain')} keyed by pgoff: "
            + ", ".join(f"{a.vma} of {a.process} [{hx(a.start_pgoff)}, {hx(a.last_pgoff)}]"
                        for a in av.avcs)]
    if index is not None:
        last = index + nr_pages - 1
        sent.append(f"rmap_walk_anon() for pgoff [{px(index)}, {px(last)}] looks at every avc "
                    "whose range contains it")
        for avc, hit, addr in walk:
            if hit:
                s = f"visits {avc.vma} at {nt.addr(addr) if addr is not None else '?'}"
                if fo is not None:
                    s += "; " + _pte_check(snap, avc, addr, fo.label)
                sent.append(s)
            else:
                sent.append(f"skips {avc.vma}")
    lines = header(title, ". ".join(sent) + ".", name="interval_tree")
    lines.append(f"  {q('av')} [shape=box, style=\"rounded,filled\", fillcolor="
                 f"\"{PALETTE['anon_vma'][0]}\", fontcolor=\"{PALETTE['anon_vma'][1]}\", "
                 f"label={q('anon_vma ' + av.label + chr(10) + 'rb_root: ' + plural(len(av.avcs), 'avc'))}];")
    lines.append(f"  {q('tree')} [shape=plain, label={_table([head] + rows)}];")
    lines.append(edge("av", "tree"))
    if index is not None:
        cap = "\n".join(sent[1:])
        lines.append(f"  {q('walk')} [shape=plaintext, fontcolor=\"{LINE}\", label={q(cap)}];")
        lines.append(edge("tree", "walk", style="invis"))
    lines.append(f"  label={q(legend(nt))};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _pte_check(snap, avc, addr, folio_label) -> str:
    """What page_vma_mapped_walk() would find: the tree gives candidates, PTEs decide."""
    proc, v = find_vma(snap, avc.vma)
    if proc is None:
        return "VMA not in snapshot"
    pg = next((p for p in snap.process(proc).pages if p.addr == addr), None)
    if pg is not None and pg.folio == folio_label:
        return f"its PTE maps {folio_label}"
    return f"candidate only: no PTE there maps {folio_label}"

