"""Object graph in Graphviz DOT: VMAs -> anon_vma_chains -> anon_vmas <- folios.

Pure functions from a :class:`~rmapkit.snapshot.Snapshot` to DOT text; nothing here runs
Graphviz (that is :mod:`rmapkit.render.display`).  The other DOT views (address space,
interval tree, before/after) live in :mod:`rmapkit.render.views` and share the helpers here.

Every DOT text starts with two comments that :func:`alt_text` reads back and the SVG writer
turns into ``<title>`` and ``<desc>``::

    // title: Object graph of P0
    // desc: P0 has 2 VMAs: ...

Edges follow the kernel's pointers: ``vma -> avc`` is ``vma->anon_vma_chain`` (the
``same_vma`` list), ``avc -> anon_vma`` is ``avc->anon_vma`` (the avc sits in that anon_vma's
interval tree, keyed ``[start_pgoff, last_pgoff]``), ``folio -> anon_vma`` is
``folio->mapping`` (with ``folio->index``), ``anon_vma -> anon_vma`` are ``parent`` and
``root``, an ``address_space`` points at the VMAs in its ``i_mmap`` and at its page-cache
folios, and a dotted ``vma -> folio`` edge is a page-table entry.

>>> from rmapkit.render.samples import split_after
>>> text = to_dot(split_after())
>>> print(text.splitlines()[0])
// title: Object graph of P0: 2 VMAs, 2 anon_vma_chains, 1 anon_vma, 2 folios
>>> '"vma2" -> "avc:vma2:av1"' in text and '"avc:vma2:av1" -> "av1"' in text
True
"""

from __future__ import annotations

import re

from rmapkit.render.common import (HIGHLIGHT, LINE, PALETTE, Notation, Scene, build_scene,
                                   folio_words, hx, vma_key, vma_pgoff)
from rmapkit.snapshot import Snapshot

__all__ = ["to_dot", "alt_text", "graph_body", "header", "q", "node", "edge", "plural",
           "scene_words", "legend"]

FONT = "Helvetica"
CHANGED = "#d9480f"                 # border of an object an operation changed


def q(s) -> str:
    """A DOT double-quoted string (backslash and quote escaped; ``\\n`` kept as a newline)."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**kw) -> str:
    parts = []
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
            parts.append(f"{k}={v}")           # HTML-like label
        else:
            parts.append(f"{k}={q(v)}")
    return "[" + ", ".join(parts) + "]" if parts else ""


def node(name: str, label: str, role: str, *, highlight=False, shape="box", **kw) -> str:
    """One node line with explicit fill and text colour for ``role`` (see PALETTE)."""
    if role.startswith("changed:"):         # diff view: keep the kind's fill, mark the border
        role = role.split(":", 1)[1]
        kw.setdefault("color", CHANGED)
        kw.setdefault("penwidth", "2.5")
    fill, text = PALETTE[role]
    style = kw.pop("style", "rounded,filled")
    return f"  {q(name)} " + _attrs(
        label=label, shape=shape, style=style, fillcolor=fill, fontcolor=text,
        color=HIGHLIGHT if highlight else kw.pop("color", text),
        penwidth="3" if highlight else kw.pop("penwidth", None), **kw) + ";"


def edge(a: str, b: str, label=None, **kw) -> str:
    kw.setdefault("color", LINE)
    kw.setdefault("fontcolor", LINE)
    return f"  {q(a)} -> {q(b)} " + _attrs(label=label, **kw) + ";"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# Object graphs: dot's final crossing reduction over the expanded clusters (remincross)
# ignores the invisible edges that chain a process's VMAs, so Graphviz 2.43 drew a VMA at
# page 8 left of the one at page 0.  Without that pass (and with a tenth of the iterations)
# the chains hold and the avcs are still sorted under their VMA; tests/test_render_dot.py
# checks every shipped scenario and random ones as dot lays them out.
GRAPH_ORDER = {"mclimit": "0.1", "remincross": "false"}


def header(title: str, desc: str, name: str = "rmap", rankdir: str = "TB",
           **graph: str) -> list[str]:
    """The opening lines every rmapkit DOT text shares (alt text comments, colours, fonts);
    ``graph`` adds graph attributes.  O(1)."""
    return [
        f"// title: {title}",
        f"// desc: {' '.join(desc.split())}",
        f"digraph {q(name)} {{",
        f"  graph {_attrs(rankdir=rankdir, bgcolor='transparent', fontname=FONT, fontsize='11', fontcolor=LINE, nodesep='0.3', ranksep='0.45', labelloc='b', newrank='true', **graph)};",
        f"  node {_attrs(fontname=FONT, fontsize='10', margin='0.08,0.04')};",
        f"  edge {_attrs(fontname=FONT, fontsize='9', arrowsize='0.7')};",
    ]


def alt_text(dot_text: str) -> tuple[str, str]:
    """(title, desc) from the comment lines that start an rmapkit DOT text."""
    t = re.search(r"^// title: (.*)$", dot_text, re.M)
    d = re.search(r"^// desc: (.*)$", dot_text, re.M)
    return (t.group(1) if t else "rmapkit figure", d.group(1) if d else "")


def _vma_label(proc: str, v, nt=None) -> str:
    nt = nt or Notation(None)
    lines = [f"{v.id or proc} {v.perms}", nt.range(v.vm_start, v.vm_end),
             f"vm_pgoff {nt.pgoff(vma_pgoff(v))}"]
    if v.name:
        lines.append(v.name)
    if v.anon_vma and len(v.anon_vma_chain) > 1:
        lines.append(f"anon_vma {v.anon_vma}")
    return "\n".join(lines)


def _av_label(av) -> str:
    lines = [f"anon_vma {av.label}"]
    lines.append("root" if av.root == av.label else f"root {av.root}, parent {av.parent}")
    lines.append(f"children {av.num_children}, active VMAs {av.num_active_vmas}")
    return "\n".join(lines)


def _folio_label(f, nt=None) -> str:
    nt = nt or Notation(None)
    index = nt.pgoff(f.index) if f.anon else hx(f.index)
    large = folio_words(f, nt)
    if large:                    # one box for the whole large folio: head, range, counts
        return "\n".join([f"{f.label} (head pfn {hx(f.pfn)})"] + large +
                         [f"mapping {f.mapping or '-'}"])
    lines = [f.label, f"index {index}", f"mapping {f.mapping or '-'}"]
    if f.mapcount != 1:
        lines.append(f"mapcount {f.mapcount}")
    return "\n".join(lines)


def graph_body(scene: Scene, prefix: str = "", status=None, notes=None) -> list[str]:
    """DOT statements for a scene; ``prefix`` namespaces node names (before/after views),
    ``status`` maps object names to a PALETTE role (``created``/``freed``/``changed``),
    ``notes`` maps object names to a line added to their label (what became of them).

    Layout: each process is a column (a cluster) holding its VMAs, in address order, and
    under them their avcs (``vma->anon_vma_chain``), so processes never interleave; the
    anon_vmas and folios, which processes share, sit below all columns.
    """
    status = status or {}
    notes = notes or {}
    hl = scene.highlight
    nt = scene.nt
    out = []

    def role(name, default):
        r = status.get(name, default)
        return f"changed:{default}" if r == "changed" else r

    def note(name, label):
        return label + ("\n" + notes[name] if name in notes else "")

    for proc, vmas in scene.processes:
        out.append(f"  subgraph {q('cluster_' + prefix + proc)} {{")
        out.append(f"    graph {_attrs(label=proc, color=LINE, fontcolor=LINE, style='rounded', labelloc='t')};")
        for v in vmas:
            k = vma_key(proc, v)
            style = "rounded,filled,dashed" if status.get(k) == "freed" else "rounded,filled"
            out.append("  " + node(prefix + k, note(k, _vma_label(proc, v, nt)),
                                   role(k, "vma"), highlight=k in hl, style=style))
        if len(vmas) > 1:
            # address order, left to right: same rank, chained by invisible edges (dot
            # keeps such a chain when it lies inside one cluster)
            names = [q(prefix + vma_key(proc, v)) for v in vmas]
            out.append("    { rank=same; " + " -> ".join(names) + " [style=invis]; }")
        keys = {vma_key(proc, v) for v in vmas}
        for avc in scene.avcs:
            if avc.vma not in keys:
                continue
            k = f"avc:{avc.vma}:{avc.anon_vma}"
            out.append("  " + node(prefix + k, f"avc -> {avc.anon_vma}\n"
                                   f"[{nt.pgoff(avc.start_pgoff)}, {nt.pgoff(avc.last_pgoff)}]",
                                   role(k, "avc"), highlight=k in hl))
        out.append("  }")
    # Left to right: the processes in order, and below them the anon_vmas in order of
    # creation.  dot ignores a chain of invisible edges that crosses clusters, so each
    # column hangs from an invisible anchor above it, and the anchors (plain nodes, which
    # dot keeps in order) are chained; see GRAPH_ORDER for the rest.
    cols = [(proc, vmas) for proc, vmas in scene.processes if vmas]
    if len(cols) > 1:
        anchors = [q(f"{prefix}_col:{proc}") for proc, _ in cols]
        for a, (proc, vmas) in zip(anchors, cols):
            out.append(f"  {a} [shape=point, width=0, height=0, style=invis];")
            for v in dict.fromkeys((vmas[0], vmas[-1])):
                out.append(f"  {a} -> {q(prefix + vma_key(proc, v))} [style=invis, weight=10];")
        out.append("  { rank=same; " + " -> ".join(anchors) + " [style=invis]; }")
    for row in ([q(prefix + av.label) for av in scene.anon_vmas],
                [q(prefix + f.label) for f in scene.folios if f.anon and f.mapping]):
        if len(row) > 1:       # the anon_vmas, then the anon folios, in order of creation
            out.append("  { rank=same; " + " -> ".join(row) + " [style=invis]; }")
    for avc in scene.avcs:
        k = f"avc:{avc.vma}:{avc.anon_vma}"
        out.append(edge(prefix + avc.vma, prefix + k))
        out.append(edge(prefix + k, prefix + avc.anon_vma))
    for av in scene.anon_vmas:
        out.append(node(prefix + av.label, note(av.label, _av_label(av)),
                        role(av.label, "anon_vma"), highlight=av.label in hl, shape="box"))
    for av in scene.anon_vmas:
        if av.parent != av.label:
            out.append(edge(prefix + av.label, prefix + av.parent, "parent", style="dashed",
                            constraint="false"))
        if av.root != av.label and av.root != av.parent:
            out.append(edge(prefix + av.label, prefix + av.root, "root", style="dotted",
                            constraint="false"))
    for sp in scene.spaces:
        k = "as:" + sp.label
        out.append(node(prefix + k, f"address_space {sp.label}\n{sp.name}",
                        role(sp.label, "address_space"), highlight=sp.label in hl))
        for proc, vid, first, last in sp.i_mmap:
            if any(vma_key(p, v) == vid for p, vs in scene.processes for v in vs):
                out.append(edge(prefix + vid, prefix + k, f"i_mmap [{hx(first)}, {hx(last)}]",
                                dir="back"))
    shown_av = {av.label for av in scene.anon_vmas}
    shown_as = {sp.label for sp in scene.spaces}
    for f in scene.folios:
        r = "folio" if f.anon else "file_folio"
        out.append(node(prefix + f.label, note(f.label, _folio_label(f, nt)),
                        role(f.label, r), highlight=f.label in hl, style="filled"))
        if f.mapping in shown_av:
            out.append(edge(prefix + f.mapping, prefix + f.label, "mapping", dir="back"))
        elif f.mapping in shown_as:
            out.append(edge(prefix + "as:" + f.mapping, prefix + f.label,
                            f"page cache [{hx(f.index)}]", dir="back"))
    shown_f = {f.label for f in scene.folios}
    for vid, folio, addr, what in scene.ptes:
        if folio in shown_f:
            # a page-table entry: dotted and unlabelled (the legend says so), so that
            # no label lands on another object; a huge PMD mapping says "pmd"
            out.append(edge(prefix + vid, prefix + folio, "pmd" if what == "pmd" else None,
                            style="dotted", constraint="false", arrowhead="open"))
    return out


def legend(nt, ptes: bool = False) -> str:
    """The caption line that says which notation a diagram uses (and what dotted means)."""
    return nt.legend() + ("\ndotted arrow: a page-table entry" if ptes else "")


def scene_words(scene: Scene) -> tuple[str, str]:
    """(title tail, description) of a scene in words: the alt text of a graph."""
    nv = sum(len(vs) for _, vs in scene.processes)
    procs = ", ".join(p for p, _ in scene.processes) or "no process"
    parts = [plural(nv, "VMA"), plural(len(scene.avcs), "anon_vma_chain"),
             plural(len(scene.anon_vmas), "anon_vma")]
    if scene.folios:
        parts.append(plural(len(scene.folios), "folio"))
    if scene.spaces:
        parts.append(plural(len(scene.spaces), "address_space"))
    title = f"{procs}: " + ", ".join(parts)
    sent = []
    for proc, vmas in scene.processes:
        for v in vmas:
            k = vma_key(proc, v)
            chain = [a for a in scene.avcs if a.vma == k]
            s = (f"{proc} {k} covers [{v.vm_start:#x}, {v.vm_end:#x}) {v.perms} with vm_pgoff "
                 f"{hx(vma_pgoff(v))}")
            if chain:
                s += "; its anon_vma_chain links it to " + ", ".join(
                    f"{a.anon_vma} keyed [{hx(a.start_pgoff)}, {hx(a.last_pgoff)}]" for a in chain)
            elif v.file:
                s += f"; it maps {v.name or v.file}"
            else:
                s += "; it has no anon_vma yet"
            sent.append(s)
    for av in scene.anon_vmas:
        sent.append(f"anon_vma {av.label} is a root" if av.root == av.label else
                    f"anon_vma {av.label} has parent {av.parent} and root {av.root}")
    for f in scene.folios:
        sent.append(f"{f.label} has index {hx(f.index)} and mapping {f.mapping or 'none'}")
    for sp in scene.spaces:
        sent.append(f"address_space {sp.label} ({sp.name}) has {plural(len(sp.i_mmap), 'VMA')} "
                    f"in i_mmap and {plural(len(sp.pages), 'page')} in its page cache")
    if scene.highlight:
        sent.append("highlighted: " + ", ".join(sorted(scene.highlight)))
    sent += scene.notes
    return title, ". ".join(sent) + "."


def to_dot(snap: Snapshot, processes=None, pages: bool = True, focus=None,
           title: str | None = None, notation: str | None = None) -> str:
    """Object graph of ``snap`` as DOT text.

    ``processes``: names to show (default: all, e.g. parent and child after fork);
    ``pages``: show folios, their ``folio->mapping`` and the page-table links;
    ``focus``: ``"P0"``, ``"vma3"``, ``"av1"``, ``"folio5"`` or ``"file2"``: show only that
    object's neighbourhood and highlight it (for a folio: the avcs rmap_walk_anon() visits).
    ``notation``: ``"window"`` (page numbers and ``p+k``) or ``"hex"``; default: see
    :func:`rmapkit.render.common.set_notation`.  O(V + A + F) in VMAs, avcs and folios shown.
    """
    scene = build_scene(snap, processes=processes, pages=pages, focus=focus,
                        notation=notation)
    tail, desc = scene_words(scene)
    lines = header(title or f"Object graph of {tail}", desc, **GRAPH_ORDER)
    lines += graph_body(scene)
    lines.append(f"  label={q(legend(scene.nt, bool(scene.ptes)))};")
    lines.append("}")
    return "\n".join(lines) + "\n"
