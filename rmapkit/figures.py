"""Regenerate every figure the chapters use, from named scenarios run in the model.

    python -m rmapkit.figures figures/            # write figures/
    python -m rmapkit.figures --check figures/    # exit 1 naming stale files (CI)
    python -m rmapkit.figures --times figures/    # also print build and Graphviz times

For each figure NAME this writes ``NAME.dot`` (the Graphviz source), ``NAME.txt`` (the ASCII
view of the same thing, for email), ``NAME.svg`` (with ``<title>`` and ``<desc>`` alt text)
and ``NAME.pdf`` where ``dot`` can make one, plus ``INDEX.md``: every figure's alt text and
the Graphviz that drew them.  Output depends only on the model, the scenarios and the
Graphviz version, so ``--check`` compares the DOT and text files always, and the SVG and PDF
files when this machine's Graphviz is the one ``INDEX.md`` names (it says so otherwise).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rmapkit.render import display
from rmapkit.uapi import PAGE_SHIFT

__all__ = ["FIGURES", "Figure", "build", "generate", "check", "main"]


@dataclass(frozen=True)
class Figure:
    """One figure: a view of a scenario's snapshot after step ``step`` (-1: the last)."""

    name: str
    scenario: str
    view: str                     # a view of rmapkit.render.display.VIEW_REGISTRY
    title: str                    # the figure's alt-text title
    step: int = -1
    before: int | None = None     # diff: the step compared against
    op: str | None = None         # diff: the operation in words
    pages: bool = True
    page: int | None = None       # tree: the folio mapped at this page of the window

    def focus(self, snap) -> str | None:
        """What the view centres on: the whole graph, the folio at ``page``, or else the
        last process (the child after a fork)."""
        if self.view == "graph":
            return None
        proc = snap.processes[-1].name
        if self.page is None:
            return proc
        addr = snap.window[0] + (self.page << PAGE_SHIFT)
        return next(p for p in snap.process(proc).pages if p.addr == addr).folio


FIGURES = (
    Figure("split-before", "split", "graph", step=1, title="The split example before munmap: "
           "one VMA, its avc, one anon_vma and three folios pointing back at it"),
    Figure("split-after", "split", "graph", title="After munmap of the middle page: two VMAs, "
           "one avc each, both in the one anon_vma"),
    Figure("split-diff", "split", "diff", before=1, op="munmap of the middle page",
           title="Before and after munmap of the middle page: the VMA is split and the "
           "middle struct freed"),
    Figure("split-rmap-walk", "split", "tree", page=2, title="rmap walk for the folio of "
           "page 2 after the split: only the right VMA's avc contains its index"),
    Figure("anon-file", "anon-file", "address", title="The virtual anon file: fresh VMAs sit "
           "at their address, gaps included; the page moved by mremap sits at page 8 but at "
           "pgoff p+1"),
    Figure("mremap-keeps-pgoff", "mremap-faulted", "address", step=3, title="mremap of a "
           "faulted page keeps its vm_pgoff: the moved VMA sits at page 8 but pgoff 2"),
    Figure("mremap-diff", "mremap-faulted", "diff", step=3, before=2,
           op="mremap of faulted page 2 to page 8",
           title="Before and after mremap of a faulted page: split, then moved with its pgoff"),
    Figure("fork-cow", "fork-cow", "graph", title="After fork and a CoW write in the child: "
           "the child's VMA is in both anon_vmas, its copy in its own"),
    Figure("fork-chain", "fork-chain", "graph", pages=False, title="A long fork chain: "
           "anon_vma_fork() reuses an idle ancestor, so the hierarchy stops growing"),
    Figure("remap-pfn", "remap-pfn-private", "address", title="Private remap_pfn_range(): "
           "vm_pgoff is the first PFN, pages are raw PFNs until a write copies one"),
    Figure("remap-pfn-graph", "remap-pfn-private", "graph", title="Private remap_pfn_range() "
           "after a write: the CoW copy is an anon folio in the VMA's anon_vma"),
)


def _runs():
    cache = {}

    def run(name):
        if name not in cache:
            from rmapkit.scenarios import load, run_model   # imports the model
            cache[name] = run_model(load(name))
        return cache[name]
    return run


def build(fig: Figure, run=None) -> tuple[str, str]:
    """(DOT text, ASCII text) of one figure; the DOT's title line is the figure's title."""
    res = (run or _runs())(fig.scenario)
    snap = res.steps[fig.step][1]
    before = res.steps[fig.before][1] if fig.before is not None else None
    view, focus = display.get_view(fig.view), fig.focus(snap)
    dot = view.dot(snap, focus, before, pages=fig.pages, op=fig.op)
    text = view.text(snap, focus, before, pages=fig.pages, op=fig.op)
    first, rest = dot.split("\n", 1)
    assert first.startswith("// title: ")
    return f"// title: {fig.title}\n{rest}", text


def _index(figs, texts, backend, version) -> str:
    drawn = f"Graphviz {version}" if backend == "dot" else (backend or "no Graphviz")
    out = ["# Figures", "",
           "Generated by `python -m rmapkit.figures figures/` from the scenarios in",
           "`rmapkit/scenarios/library/`; do not edit by hand (`--check` compares).", "",
           f"drawn-with: {drawn}", ""]
    for fig in figs:
        title, desc = display.alt_text(texts[fig.name])
        out += [f"## {fig.name}", "", f"scenario `{fig.scenario}`, view `{fig.view}`", "",
                f"**{title}**", "", desc, ""]
    return "\n".join(out)


def _outputs(figs, times=None):
    """{file name: bytes} for every figure, and the drawing backend/version used."""
    backend, version = display.svg_backend(), display.graphviz_version()
    run, files, dots = _runs(), {}, {}
    for fig in figs:
        t0 = time.perf_counter()
        dot, text = build(fig, run)
        t1 = time.perf_counter()
        svg = display.to_svg(dot, fallback_text=text)
        t2 = time.perf_counter()
        pdf = display.to_pdf(dot) if backend == "dot" else None
        t3 = time.perf_counter()
        dots[fig.name] = dot
        files[f"{fig.name}.dot"] = dot.encode()
        files[f"{fig.name}.txt"] = text.encode()
        files[f"{fig.name}.svg"] = svg.encode()
        if pdf is not None:
            files[f"{fig.name}.pdf"] = pdf
        if times is not None:
            times.append((fig.name, t1 - t0, t2 - t1, t3 - t2))
    files["INDEX.md"] = _index(figs, dots, backend, version).encode()
    return files, backend, version


def generate(outdir, figs=FIGURES, times=None) -> list[Path]:
    """Write every figure into ``outdir``; return the paths written."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files, _, _ = _outputs(figs, times)
    written = []
    for name, data in files.items():
        (out / name).write_bytes(data)
        written.append(out / name)
    return written


def check(outdir, figs=FIGURES) -> tuple[list[str], list[str]]:
    """(stale files, notes): files missing or different from what would be generated."""
    out = Path(outdir)
    files, backend, version = _outputs(figs)
    notes, stale = [], []
    index = out / "INDEX.md"
    recorded = None
    if index.exists():
        line = next((x for x in index.read_text().splitlines() if x.startswith("drawn-with:")),
                    "")
        recorded = line.removeprefix("drawn-with: ").strip()
    here = f"Graphviz {version}" if backend == "dot" else (backend or "no Graphviz")
    same_drawing = recorded == here
    if not same_drawing:
        notes.append(f"SVG/PDF not compared: figures were drawn with {recorded or 'unknown'}, "
                     f"this machine has {here}")
    for name, data in sorted(files.items()):
        if name.endswith((".svg", ".pdf")) and not same_drawing:
            continue
        if name == "INDEX.md" and not same_drawing:
            data = data.replace(f"drawn-with: {here}".encode(),
                                f"drawn-with: {recorded}".encode())
        path = out / name
        if not path.exists() or path.read_bytes() != data:
            stale.append(str(path))
    expected = set(files)
    for path in sorted(out.glob("*")):
        if path.suffix in (".dot", ".txt", ".svg", ".pdf") and path.name not in expected:
            if path.suffix == ".pdf" and backend != "dot":
                continue
            stale.append(f"{path} (no figure makes it any more)")
    return stale, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rmapkit.figures", description=__doc__.split(
        "\n")[0])
    ap.add_argument("outdir", nargs="?", default="figures")
    ap.add_argument("--check", action="store_true", help="exit 1 if a figure is out of date")
    ap.add_argument("--times", action="store_true", help="print build/Graphviz times")
    args = ap.parse_args(argv)
    if args.check:
        stale, notes = check(args.outdir)
        for n in notes:
            print(f"note: {n}")
        for s in stale:
            print(f"stale: {s}")
        if stale:
            print(f"{len(stale)} stale; run: python -m rmapkit.figures {args.outdir}")
            return 1
        print(f"figures in {args.outdir} are up to date")
        return 0
    times = [] if args.times else None
    written = generate(args.outdir, times=times)
    print(f"wrote {len(written)} files to {args.outdir}")
    for name, tb, ts, tp in times or ():
        print(f"{name:20s} build {tb * 1000:7.1f} ms  svg {ts * 1000:7.1f} ms  "
              f"pdf {tp * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
