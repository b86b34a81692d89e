"""Before/after of one operation: what was split, merged, moved, created, freed, changed.

:func:`diff` compares two snapshots and returns :class:`Change` records in a fixed order;
:func:`diff_dot` draws both object graphs side by side with the changes coloured and the
matched VMAs joined.  VMAs are matched by their ``id`` (struct identity: the kernel keeps the
original struct for one part of a split: mm/vma.c: __split_vma() (v6.18) allocates the new
struct for the ``new_below`` side only) and, for structs that
are new or gone, by their ranges:

* a new VMA inside the old range of a surviving VMA was **split** off it;
* a new VMA whose pgoff range lies in an old VMA's (same anon_vma), or an unfaulted one of
  the same size as a freed VMA, was **moved** there (mremap; pgoff kept or reset);
* a freed VMA whose range lies inside a VMA after the operation was **merged** into it;
* otherwise **created** or **freed**; a surviving struct whose range, pgoff, flags or
  anon_vma changed is **changed**.

>>> from rmapkit.render.samples import split_before, split_after
>>> for c in diff(split_before(), split_after()): print(c.kind, c.obj, c.related)
changed vma1 None
split vma2 vma1
changed avc:vma1:av1 None
created avc:vma2:av1 None
changed av1 None
freed folio2 None
"""

from __future__ import annotations

from dataclasses import dataclass

from rmapkit.render.common import Notation, build_scene, hx, vma_key, vma_pgoff
from rmapkit.render.dot import GRAPH_ORDER, edge, graph_body, header, legend, q
from rmapkit.snapshot import Snapshot
from rmapkit.uapi import PAGE_SHIFT

__all__ = ["Change", "diff", "diff_dot", "status_roles"]


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` in split/merged/moved/created/freed/changed."""

    kind: str
    obj: str
    text: str
    related: str | None = None     # split source, merge target, move source


def _rng(v, nt=None) -> str:
    return (nt or _ABS).range(v.vm_start, v.vm_end)


# diff()'s words default to absolute hex: they are the DOT view's alt text too, which
# spells every address out; the text view passes its own notation.
_ABS = Notation(None)


def _inside(a, b) -> bool:
    return b.vm_start <= a.vm_start and a.vm_end <= b.vm_end


def _vma_changes(proc, before, after, nt) -> list[Change]:
    B = {vma_key(proc, v): v for v in before}
    A = {vma_key(proc, v): v for v in after}
    out, moved_src, split_src = [], {}, {}
    for k in B.keys() & A.keys():
        b, a = B[k], A[k]
        what = []
        if (b.vm_start, b.vm_end) != (a.vm_start, a.vm_end):
            what.append(f"{_rng(b, nt)} -> {_rng(a, nt)}")
        if vma_pgoff(b) != vma_pgoff(a):
            what.append(f"vm_pgoff {nt.pgoff(vma_pgoff(b))} -> {nt.pgoff(vma_pgoff(a))}")
        if b.perms != a.perms or b.vm_flags != a.vm_flags:
            what.append(f"{b.perms} -> {a.perms}" if b.perms != a.perms else
                        f"flags {' '.join(b.vm_flags)} -> {' '.join(a.vm_flags)}")
        if b.anon_vma != a.anon_vma or b.anon_vma_chain != a.anon_vma_chain:
            what.append(f"anon_vma {b.anon_vma or 'none'} -> {a.anon_vma or 'none'}, "
                        f"{len(b.anon_vma_chain)} -> {len(a.anon_vma_chain)} avcs")
        if what:
            same = "same struct" if b.id is not None else "same start address"
            out.append(Change("changed", k, f"{proc} {k} ({same}): " + "; ".join(what)))
    gone = [k for k in B if k not in A]
    replaced = {}
    for k in (k for k in A if k not in B):
        a = A[k]
        # A new struct over exactly the range of one that went (mmap(MAP_FIXED) over it):
        # neither a split (a piece is smaller) nor a merge (the survivor grows).
        old = next((s for s in gone if (B[s].vm_start, B[s].vm_end) == (a.vm_start, a.vm_end)
                    and s not in replaced), None)
        if old is not None:
            replaced[old] = k
            out.append(Change("created", k, f"{proc} {k} {_rng(a, nt)} vm_pgoff "
                              f"{nt.pgoff(vma_pgoff(a))} replaced {old} (the same range, a "
                              "new struct)", old))
            continue
        src = next((s for s in B if _inside(a, B[s]) and _linear(a, B[s])), None)
        if src is not None:
            split_src.setdefault(src, []).append(k)
            out.append(Change("split", k, f"{proc} {k} {_rng(a, nt)} vm_pgoff "
                              f"{nt.pgoff(vma_pgoff(a))} was split off {src}", src))
            continue
        src = _move_source(a, B, gone)
        if src is not None:
            moved_src[src] = k
            if a.anon_vma:
                kept = "kept (faulted: folio->index cannot change)"
            elif vma_pgoff(a) == a.vm_start >> PAGE_SHIFT != vma_pgoff(B[src]):
                kept = "reset to the new address >> PAGE_SHIFT (unfaulted)"
            else:
                kept = "kept"
            out.append(Change("moved", k, f"{proc} {k} {_rng(a, nt)} was moved from {src} "
                              f"{_rng(B[src], nt)}; vm_pgoff {nt.pgoff(vma_pgoff(a))} {kept}",
                              src))
            continue
        out.append(Change("created", k, f"{proc} {k} {_rng(a, nt)} vm_pgoff "
                          f"{nt.pgoff(vma_pgoff(a))} was created"))
    for k in gone:
        b = B[k]
        if k in replaced:
            out.append(Change("freed", k, f"{proc} {k} {_rng(b, nt)} was unmapped and freed; "
                              f"{replaced[k]} replaced it", replaced[k]))
            continue
        into = next((t for t in A if _inside(b, A[t])), None)
        if into is not None:
            out.append(Change("merged", k, f"{proc} {k} {_rng(b, nt)} was merged into {into}",
                              into))
        elif k in split_src:
            rest = f"; the rest moved to {moved_src[k]}" if k in moved_src else ""
            out.append(Change("freed", k, f"{proc} {k} {_rng(b, nt)} was split, leaving "
                              f"{', '.join(split_src[k])}{rest}; the struct itself was freed",
                              split_src[k][0]))
        elif k in moved_src:
            out.append(Change("freed", k, f"{proc} {k} {_rng(b, nt)} was freed after the move to "
                              f"{moved_src[k]}", moved_src[k]))
        else:
            out.append(Change("freed", k, f"{proc} {k} {_rng(b, nt)} was unmapped and freed"))
    order = {k: i for i, k in enumerate(list(B) + [k for k in A if k not in B])}
    return sorted(out, key=lambda c: order[c.obj])


def _linear(a, b) -> bool:
    """Is ``a``'s vm_pgoff where a split of ``b`` would put it (``__split_vma()``)?"""
    if vma_pgoff(a) is None or vma_pgoff(b) is None:
        return True                    # live snapshots: anon pgoff unknown, ranges decide
    return vma_pgoff(a) == vma_pgoff(b) + ((a.vm_start - b.vm_start) >> PAGE_SHIFT)


def _move_source(a, B, gone):
    for s, b in B.items():
        if _inside(a, b) or b.file != a.file or not a.anon_vma or a.anon_vma != b.anon_vma:
            continue
        lo, hi = vma_pgoff(b), vma_pgoff(b) + b.pages - 1
        if lo <= vma_pgoff(a) and vma_pgoff(a) + a.pages - 1 <= hi:
            return s
    for s in gone:
        b = B[s]
        if not a.anon_vma and not b.anon_vma and b.file == a.file and b.pages == a.pages \
                and b.perms == a.perms:
            return s
    return None


def diff(before: Snapshot, after: Snapshot, nt: Notation | None = None) -> list[Change]:
    """Every difference between two snapshots, VMAs first, then avcs, anon_vmas, folios.

    ``nt``: how the words write addresses and pgoffs (default absolute hex; the text view
    passes :meth:`Notation.of` ``after``).  O(V^2) in VMAs per process (ranges are
    compared pairwise), linear in the rest.
    """
    nt = nt or _ABS
    out = []
    bp = {p.name: p for p in before.processes}
    for p in after.processes:
        if p.name not in bp:
            out.append(Change("created", p.name, f"process {p.name} was created "
                              f"({len(p.vmas)} VMAs)"))
            continue
        out += _vma_changes(p.name, bp[p.name].vmas, p.vmas, nt)
    for name in bp:
        if name not in {p.name for p in after.processes}:
            out.append(Change("freed", name, f"process {name} exited"))
    bav = {(a.vma, a.anon_vma): a for av in before.anon_vmas for a in av.avcs}
    aav = {(a.vma, a.anon_vma): a for av in after.anon_vmas for a in av.avcs}
    for key, a in aav.items():
        name = f"avc:{key[0]}:{key[1]}"
        if key not in bav:
            out.append(Change("created", name, f"avc linking {key[0]} to {key[1]} keyed "
                              f"[{nt.pgoff(a.start_pgoff)}, {nt.pgoff(a.last_pgoff)}] was "
                              "created"))
        elif (bav[key].start_pgoff, bav[key].last_pgoff) != (a.start_pgoff, a.last_pgoff):
            b = bav[key]
            out.append(Change("changed", name, f"avc {key[0]} -> {key[1]} re-keyed "
                              f"[{nt.pgoff(b.start_pgoff)}, {nt.pgoff(b.last_pgoff)}] -> "
                              f"[{nt.pgoff(a.start_pgoff)}, {nt.pgoff(a.last_pgoff)}]"))
    for key in bav:
        if key not in aav:
            out.append(Change("freed", f"avc:{key[0]}:{key[1]}",
                              f"avc linking {key[0]} to {key[1]} was freed"))
    bavs = {a.label: a for a in before.anon_vmas}
    for av in after.anon_vmas:
        old = bavs.get(av.label)
        if old is None:
            out.append(Change("created", av.label, f"anon_vma {av.label} was created "
                              f"(root {av.root}, parent {av.parent})"))
        elif (old.num_children, old.num_active_vmas, len(old.avcs)) != \
                (av.num_children, av.num_active_vmas, len(av.avcs)):
            out.append(Change("changed", av.label, f"anon_vma {av.label}: avcs {len(old.avcs)} "
                              f"-> {len(av.avcs)}, active VMAs {old.num_active_vmas} -> "
                              f"{av.num_active_vmas}, children {old.num_children} -> "
                              f"{av.num_children}"))
    for label in bavs:
        if label not in {a.label for a in after.anon_vmas}:
            out.append(Change("freed", label, f"anon_vma {label} was freed"))
    bf = {f.label: f for f in before.folios}

    def ix(f):                     # a file folio's index is a file offset: absolute
        return nt.pgoff(f.index) if f.anon else hx(f.index)

    for f in after.folios:
        old = bf.get(f.label)
        if old is None:
            out.append(Change("created", f.label, f"{f.label} (index {ix(f)}, mapping "
                              f"{f.mapping}) was allocated"))
        elif old.mapping != f.mapping:
            out.append(Change("changed", f.label, f"{f.label} moved from {old.mapping} to "
                              f"{f.mapping} (index {ix(f)} kept)"))
        elif old.mapcount != f.mapcount:
            out.append(Change("changed", f.label, f"{f.label} mapcount {old.mapcount} -> "
                              f"{f.mapcount}"))
    for label in bf:
        if label not in {f.label for f in after.folios}:
            out.append(Change("freed", label, f"{label} was freed"))
    return out


def status_roles(changes, side: str) -> dict:
    """PALETTE roles for the objects of one side (``"before"`` or ``"after"``)."""
    roles = {}
    for c in changes:
        if side == "after" and c.kind in ("created", "split", "moved"):
            roles[c.obj] = "created"
        elif side == "before" and c.kind in ("freed", "merged"):
            roles[c.obj] = "freed"
        elif c.kind == "changed":
            roles[c.obj] = "changed"
        if c.kind in ("split", "merged") and c.related and side == ("before" if c.kind ==
                                                                     "split" else "after"):
            roles.setdefault(c.related, "changed")
    return roles


def _notes(changes, side: str) -> dict:
    """A line for each object's label saying what became of it (or where it came from):
    drawn in the label instead of as an arc from one graph to the other, so that no edge
    crosses a title or another object."""
    out = {}
    for c in changes:
        if side == "after" and c.kind == "split":
            out[c.obj] = f"(split off {c.related})"
        elif side == "after" and c.kind == "moved":
            out[c.obj] = f"(moved from {c.related})"
        elif side == "after" and c.kind == "created" and c.obj.startswith("vma") and c.related:
            out[c.obj] = f"(replaced {c.related})"
        elif side == "before" and c.kind == "merged":
            out[c.obj] = f"(merged into {c.related})"
        elif side == "before" and c.kind == "freed" and c.related:
            out[c.obj] = "(freed)"
        elif side == "after" and c.kind == "changed" and not c.obj.startswith(("avc:", "av",
                                                                               "folio")):
            out[c.obj] = "(same struct, changed)"
    return out


def diff_dot(before: Snapshot, after: Snapshot, op: str | None = None, processes=None,
             pages: bool = True, notation: str | None = None) -> str:
    """Both object graphs, before above after: created green, freed red (dashed), changed
    orange; each VMA's label says what became of it (split off, moved from, merged into).
    O(V^2 + A + F)."""
    changes = diff(before, after)
    names = [p.name for p in before.processes] + [p.name for p in after.processes]
    if processes is None:
        procs_b = procs_a = None
    else:
        procs_b = [p for p in processes if p in {x.name for x in before.processes}]
        procs_a = [p for p in processes if p in {x.name for x in after.processes}]
    sb = build_scene(before, procs_b, pages=pages, notation=notation)
    sa = build_scene(after, procs_a, pages=pages, notation=notation)
    title = f"Before and after {op}" if op else "Before and after"
    kinds = {}
    for c in changes:
        kinds.setdefault(c.kind, []).append(c.obj)
    summary = "; ".join(f"{k}: {', '.join(v)}" for k, v in kinds.items()) or "nothing changed"
    desc = f"{title} ({', '.join(dict.fromkeys(names))}). {summary}. " + \
        ". ".join(c.text for c in changes) + ("." if changes else "")
    lines = header(title, desc, name="diff", rankdir="TB", **GRAPH_ORDER)
    for side, scene in (("before", sb), ("after", sa)):
        lines.append(f"  subgraph {q('cluster_' + side)} {{")
        lines.append(f"    graph [label={q(side)}, style=\"dashed\", color=\"#808080\", "
                     f"fontcolor=\"#808080\", labelloc=\"t\"];")
        lines += ["  " + s for s in graph_body(scene, prefix=side + ":",
                                                status=status_roles(changes, side),
                                                notes=_notes(changes, side))]
        lines.append("  }")
    # Stack "after" under "before": every bottom object of before above every top object of
    # after (invisible edges), so the figure is as wide as one graph, not two.
    bottom = [f.label for f in sb.folios] or [a.label for a in sb.anon_vmas] or \
        [vma_key(n, v) for n, vs in sb.processes for v in vs]
    top = [vma_key(n, v) for n, vs in sa.processes for v in vs] or \
        [a.label for a in sa.anon_vmas]
    for b in bottom[:1]:
        for a in top:
            lines.append(edge("before:" + b, "after:" + a, style="invis"))
    lines.append(f"  label={q(summary + chr(10) + legend(sa.nt, bool(sa.ptes or sb.ptes)))};")
    lines.append("}")
    return "\n".join(lines) + "\n"
