"""ASCII diagrams for email: the object graph as boxes, at most 72 columns, deterministic.

The style follows the diagrams on the kernel mailing list: a row of VMA boxes (start/end,
``vm_pgoff``), under each its anon_vma_chain boxes, then the anon_vmas and the folios
pointing back up with their ``index``.  Lines are drawn when they cannot be confused (each
column has at most one avc and the groups of lines do not cross); every box also names what
it points to, so nothing is lost when they are not.  The address-space, ruler,
interval-tree and before/after text views live in :mod:`rmapkit.render.ruler` and are
re-exported here.

Every text view writes addresses and pgoffs as the DOT views do (``notation``, default
:func:`rmapkit.render.common.set_notation`) and ends with one line saying which notation it
shows.  The hand-built samples sit at 0x10000, outside any scenario window, so they have
no window to number from and print absolute hex, and say so:

>>> from rmapkit.render.samples import split_after
>>> print(to_ascii(split_after()), end="")
+------------------------+  +------------------------+
| P0 vma1 rw-p           |  | P0 vma2 rw-p           |
| [0x10000, 0x11000)     |  | [0x12000, 0x13000)     |
| vm_pgoff 0x10          |  | vm_pgoff 0x12          |
+------------------------+  +------------------------+
            |                           |
+------------------------+  +------------------------+
| avc [0x10, 0x10]       |  | avc [0x12, 0x12]       |
| -> av1                 |  | -> av1                 |
+------------------------+  +------------------------+
            |                           |
            +-------------+-------------+
                          v
              +------------------------+
              | anon_vma av1 (root)    |
              | children 1, VMAs 2     |
              +------------------------+
                          ^
          +---------------+-------+
          |                       |
+--------------------+  +--------------------+
| folio1             |  | folio3             |
| index 0x10         |  | index 0x12         |
| ^ av1              |  | ^ av1              |
+--------------------+  +--------------------+
addresses and page offsets in absolute hex

With a window (page 0 at 0x10000, so p = pgoff 0x10), the same snapshot in the window
notation:

>>> from dataclasses import replace
>>> print(to_ascii(replace(split_after(), window=(0x10000, 0x13000))), end="")
+------------------------+  +------------------------+
| P0 vma1 rw-p           |  | P0 vma2 rw-p           |
| pages [0, 1)           |  | pages [2, 3)           |
| vm_pgoff p+0           |  | vm_pgoff p+2           |
+------------------------+  +------------------------+
            |                           |
+------------------------+  +------------------------+
| avc [p+0, p+0]         |  | avc [p+2, p+2]         |
| -> av1                 |  | -> av1                 |
+------------------------+  +------------------------+
            |                           |
            +-------------+-------------+
                          v
              +------------------------+
              | anon_vma av1 (root)    |
              | children 1, VMAs 2     |
              +------------------------+
                          ^
          +---------------+-------+
          |                       |
+--------------------+  +--------------------+
| folio1             |  | folio3             |
| index p+0          |  | index p+2          |
| ^ av1              |  | ^ av1              |
+--------------------+  +--------------------+
window: page k = 0x10000 + k pages, p+k = pgoff 0x10 + k
"""

from __future__ import annotations

from rmapkit.render.common import build_scene, folio_words, hx, vma_key, vma_pgoff
from rmapkit.render.ruler import (address_space_ascii, diff_ascii, interval_tree_ascii,
                                  ruler, vma_letters)
from rmapkit.snapshot import Snapshot

__all__ = ["to_ascii", "box", "wrap", "ruler", "vma_letters", "address_space_ascii",
           "interval_tree_ascii", "diff_ascii"]

WIDTH = 72
GAP = 2


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` at spaces into lines of at most ``width`` (long words are cut)."""
    out, line = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                out.append(line)
                line = ""
            out.append(word[:width])
            word = word[width:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            out.append(line)
            line = word
    if line or not out:
        out.append(line)
    return out


def box(lines, width: int) -> list[str]:
    """A ``+---+`` box ``width`` columns wide around ``lines`` (wrapped to fit)."""
    inner = width - 4
    body = [w for text in lines for w in wrap(text, inner)]
    edge = "+" + "-" * (width - 2) + "+"
    return [edge] + [f"| {t:<{inner}} |" for t in body] + [edge]


def _row(boxes, xs) -> list[str]:
    """Overlay boxes (lists of lines) at columns ``xs``; shorter boxes are padded."""
    height = max((len(b) for b in boxes), default=0)
    out = []
    for i in range(height):
        line = ""
        for b, x in zip(boxes, xs):
            if i < len(b):
                line = line.ljust(x) + b[i]
        out.append(line.rstrip())
    return out


def _connect(groups, up=False) -> list[str]:
    """Lines joining sources to one target per group: ``[(target_x, [source_x])]``.

    Returns ``[]`` when two groups' spans overlap (the boxes' labels say it instead).
    """
    spans = sorted((min(s + [t]), max(s + [t])) for t, s in groups)
    if any(a[1] >= b[0] for a, b in zip(spans, spans[1:])):
        return []
    width = max(b for _, b in spans) + 1
    src, bus, tgt = [" "] * width, [" "] * width, [" "] * width
    for t, sources in groups:
        lo, hi = min(sources + [t]), max(sources + [t])
        for x in range(lo, hi + 1):
            bus[x] = "-"
        for x in sources:
            src[x] = "|"
            bus[x] = "+"
        bus[t] = "+"
        tgt[t] = "^" if up else "v"
        if lo == hi:
            bus[t] = "|"
    lines = [src, bus, tgt]
    if all(lo == hi for lo, hi in spans):
        lines = [src]
        lines.append(tgt)
    if up:
        lines.reverse()
    return ["".join(x).rstrip() for x in lines]


def _grid(n: int, width: int):
    per = min(n, 3) or 1
    w = min(26, (width - GAP * (per - 1)) // per)
    return per, w, [i * (w + GAP) for i in range(per)]


def _vma_lines(proc, v, nt):
    lines = [" ".join(x for x in (proc, v.id, v.perms) if x), nt.range(v.vm_start, v.vm_end),
             f"vm_pgoff {nt.pgoff(vma_pgoff(v))}"]
    if v.name:
        lines.append(v.name)
    if v.anon_vma and len(v.anon_vma_chain) > 1:
        lines.append(f"anon_vma {v.anon_vma}")
    return lines


def to_ascii(snap: Snapshot, processes=None, pages: bool = True, focus=None,
             width: int = WIDTH, notation: str | None = None) -> str:
    """The object graph as ASCII boxes, ``width`` columns at most (default 72), ending
    with a line saying which notation it uses.

    Same options as :func:`rmapkit.render.dot.to_dot` (``notation``: ``"window"`` or
    ``"hex"``, default :func:`rmapkit.render.common.set_notation`).  O(V + A + F).
    """
    scene = build_scene(snap, processes=processes, pages=pages, focus=focus,
                        notation=notation)
    nt = scene.nt
    cols = [(p, v) for p, vs in scene.processes for v in vs]
    per, w, xs = _grid(len(cols), width)
    out = []
    centre = {}
    single = len(cols) <= per and all(
        sum(a.vma == vma_key(p, v) for a in scene.avcs) <= 1 for p, v in cols)
    for start in range(0, len(cols), per):
        chunk = cols[start:start + per]
        mark = lambda k: "*" if k in scene.highlight else ""  # noqa: E731
        out += _row([box([mark(vma_key(p, v)) + _vma_lines(p, v, nt)[0]]
                         + _vma_lines(p, v, nt)[1:], w) for p, v in chunk], xs)
        stacks = []
        for p, v in chunk:
            k = vma_key(p, v)
            stack = []
            for a in (a for a in scene.avcs if a.vma == k):
                stack += box([f"avc [{nt.pgoff(a.start_pgoff)}, {nt.pgoff(a.last_pgoff)}]",
                              f"-> {a.anon_vma}"], w)
            stacks.append(stack)
        if any(stacks):
            out += _row([["|".center(w).rstrip()] if s else [] for s in stacks], xs)
            out += _row(stacks, xs)
        for i, (p, v) in enumerate(chunk):
            centre[vma_key(p, v)] = xs[i] + (w - 1) // 2
    avs = scene.anon_vmas
    av_x = None
    if avs:
        aper, aw, axs = _grid(len(avs), width)
        groups = []
        if single and len(avs) <= aper:
            for i, av in enumerate(avs):
                srcs = [centre[a.vma] for a in scene.avcs if a.anon_vma == av.label]
                if srcs:
                    groups.append((axs[i] + (aw - 1) // 2, srcs))
        if len(avs) == 1 and len(groups) == 1:   # a lone anon_vma sits under its sources
            t = (min(groups[0][1]) + max(groups[0][1])) // 2
            axs = [max(0, min(t - (aw - 1) // 2, width - aw))]
            groups = [(axs[0] + (aw - 1) // 2, groups[0][1])]
            av_x = groups[0][0]
        conn = _connect(groups) if groups else []
        out += conn if conn else [""]
        for s in range(0, len(avs), aper):
            out += _row([box(_av_lines(av, scene.highlight), aw) for av in avs[s:s + aper]],
                        axs)
    for sp in scene.spaces:
        lines = [f"address_space {sp.label} {sp.name}"]
        lines += [f"i_mmap: {vid} [{hx(a)}, {hx(b)}]" for _, vid, a, b in sp.i_mmap]
        lines += [f"page cache: {hx(i)} {lab}" for i, lab in sp.pages]
        out += [""] + box(lines, min(width, 48))
    if scene.folios:
        fper = min(len(scene.folios), 4)
        fw = min(22, (width - GAP * (fper - 1)) // fper)
        fxs = [i * (fw + GAP) for i in range(fper)]
        conn = []
        if av_x is not None and not scene.spaces and len(scene.folios) <= fper and \
                all(f.mapping == avs[0].label for f in scene.folios):
            if len(scene.folios) == 1:          # straight up to the anon_vma
                fxs = [max(0, av_x - (fw - 1) // 2)]
            conn = _connect([(av_x, [x + (fw - 1) // 2 for x in fxs[:len(scene.folios)]])],
                            up=True)
        out += conn if conn else [""]
        for s in range(0, len(scene.folios), fper):
            out += _row([box(_folio_lines(f, scene.highlight, nt), fw)
                         for f in scene.folios[s:s + fper]], fxs)
    out += [f"({n})" for n in scene.notes]
    out += wrap(nt.text_legend(), width)
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


def _av_lines(av, hl):
    head = ("*" if av.label in hl else "") + f"anon_vma {av.label}"
    if av.root == av.label:
        lines = [head + " (root)"]
    else:
        lines = [head, f"parent {av.parent}, root {av.root}"]
    return lines + [f"children {av.num_children}, VMAs {av.num_active_vmas}"]


def _folio_lines(f, hl, nt):
    large = folio_words(f, nt)
    if large:                    # one box for the whole large folio
        return ([("*" if f.label in hl else "") + f.label + f" head pfn {hx(f.pfn)}"]
                + large + [f"^ {f.mapping or '-'}"])
    # an anon folio's index is in the virtual anon file (p+k); a file folio's is a file
    # offset, outside the window, so it stays absolute (as in the DOT label)
    index = nt.pgoff(f.index) if f.anon else hx(f.index)
    lines = [("*" if f.label in hl else "") + f.label, f"index {index}",
             f"^ {f.mapping or '-'}"]
    if f.mapcount != 1:
        lines.append(f"mapcount {f.mapcount}")
    return lines
