#!/usr/bin/env python3
"""rmapkit benchmark: the model against the running kernel, scaling, and the anon rmap walk.

    python bench/bench.py              # or: make bench
    python bench/bench.py --quick      # smaller sizes, one run: a smoke test
    python bench/bench.py --ratios     # only the model/kernel rates (section 1)
    python bench/bench.py --profile    # where the model's time goes, per operation kind

1. Model rate against the live kernel's (bench/speed.py): the same random trace of
   ``--ops`` (default 100,000) mmap / munmap / mprotect / mremap / madvise / read / write
   operations in a 256-page window, and four single-operation loops (MAP_FIXED mmap +
   munmap of one page; the same with one write fault; mprotect of the middle page of three
   to r and back, a split into three and a merge into one; mremap of one faulted page there
   and back with MREMAP_FIXED).  The model runs in this process, the kernel in a child
   calling libc through ctypes; their chunks alternate so machine load hits both alike.
   Each workload prints model rate, kernel rate and ratio, as the median of ``--runs``
   (default 3) runs with the lowest and highest ratio beside it.  Targets: >= 0.33 on
   the trace and as the loops' geometric mean, >= 0.2 on every loop.  The trace's
   outcomes (success or errno of every op) must be equal in both.
2. Per-operation model cost with 1,000 and with 100,000 VMAs in the address space (target:
   the 100k cost at most 2x the 1k cost: the maple tree and interval trees are O(log n)).
3. rmap walk of folios of one anon_vma holding 10,000 avcs, through its interval tree,
   against a linear scan of every avc (target: >= 50x faster).
4. One playground op plus its freshly rendered diagram (target: well under 100 ms), and
   how long each chapter's cells take top to bottom (target: under 10 s; ``--no-chapters``
   skips it).

Not a test: timings depend on the machine.  Fork is left out of the trace (forking this
Python process 100,000 times measures the interpreter, not the mm).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import speed  # noqa: E402  (bench/speed.py, beside this file)

PAGE = speed.PAGE
PR, PW = speed.PR, speed.PW
MAP_PRIVATE, MAP_FIXED, MAP_ANON = speed.MAP_PRIVATE, speed.MAP_FIXED, speed.MAP_ANON
MADV_DONTNEED = speed.MADV_DONTNEED


# -- 2. scaling with the number of VMAs ----------------------------------------------------
def per_op_cost(nvmas, nops, seed=1):
    """Seconds per op of a fixed op mix among ``nvmas`` one-page VMAs with one-page gaps."""
    from rmapkit import Kernel
    k = Kernel()
    k.sysctl_max_map_count = max(k.sysctl_max_map_count, 4 * nvmas)
    p = k.spawn()
    base = 0x100000000000
    for i in range(nvmas):
        p.mmap(base + 2 * i * PAGE, PAGE, PR | PW, MAP_PRIVATE | MAP_ANON | MAP_FIXED)
    r = random.Random(seed)
    picks = [base + 2 * r.randrange(1, nvmas - 1) * PAGE for _ in range(nops)]
    t = time.perf_counter()
    n = 0
    for a in picks:
        p.mprotect(a, PAGE, PR)                     # flags change, no merge (gaps)
        p.mprotect(a, PAGE, PR | PW)
        p.mmap(a + PAGE, PAGE, PR | PW, MAP_PRIVATE | MAP_ANON | MAP_FIXED)  # 3-way merge
        p.munmap(a + PAGE, PAGE)                    # split again
        p.write(a, PAGE)                            # a fault (anon_vma, folio)
        p.madvise(a, PAGE, MADV_DONTNEED)           # zap it
        n += 6
    dt = time.perf_counter() - t
    assert p.mm.map_count >= nvmas
    return dt / n


# -- 3. rmap walk vs linear scan ---------------------------------------------------------------
def rmap_vs_scan(navcs, nwalks, seed=1):
    """(seconds per rmap walk, seconds per linear scan) over one anon_vma with ``navcs`` avcs."""
    from rmapkit import Kernel, rmap_walk
    k = Kernel()
    k.sysctl_max_map_count = max(k.sysctl_max_map_count, 4 * navcs)
    p = k.spawn()
    base = 0x100000000000
    p.mmap(base, navcs * PAGE, PR | PW, MAP_PRIVATE | MAP_ANON | MAP_FIXED | 0x4000)
    p.write(base, PAGE)                             # one anon_vma for the whole range
    for i in range(1, navcs, 2):                    # alternate r / rw: navcs VMAs
        p.mprotect(base + i * PAGE, PAGE, PR)
    r = random.Random(seed)
    pages = r.sample(range(0, navcs, 2), min(nwalks, navcs // 2))
    for i in pages:
        p.write(base + i * PAGE, PAGE)
    folios = [p.folio_at(base + i * PAGE) for i in pages]
    av = p.mm.vmas[0].anon_vma if p.mm.vmas[0].vm_start >= base else \
        next(v.anon_vma for v in p.mm.vmas if v.anon_vma is not None)
    assert len(av.rb_root) >= navcs, len(av.rb_root)
    avcs = list(av.rb_root)                         # the anon_vma's avcs, as a plain list

    def scan(folio):
        idx = folio.index
        hits = []
        for avc in avcs:                            # every avc, its range from its VMA
            v = avc.vma
            first = v.vm_pgoff
            if first <= idx <= first + ((v.vm_end - v.vm_start) >> 12) - 1:
                a = v.vm_start + ((idx - first) << 12)
                pte = v.vm_mm.pgtable.get(a)
                if pte is not None and pte.folio is folio:
                    hits.append((v, a))
        return hits

    for f in folios[:10]:
        assert [(v.id, a) for v, a in rmap_walk(f)] == [(v.id, a) for v, a in scan(f)]
    t = time.perf_counter()
    for f in folios:
        rmap_walk(f)
    walk = (time.perf_counter() - t) / len(folios)
    t = time.perf_counter()
    for f in folios:
        scan(f)
    lin = (time.perf_counter() - t) / len(folios)
    return walk, lin, len(av.rb_root)


def render_latency(reps=3):
    """Worst and median time of one playground op plus its freshly rendered diagram.

    The widgets' promise (an operation and its re-rendered diagram well under 100 ms):
    each of six ops is applied, drawn as SVG with the render cache cleared, undone and
    applied again ``reps`` times; the best of each op's runs counts (a busy machine's
    hiccups are not the model's).  Returns (median, worst) in seconds, or None without
    Graphviz's dot."""
    import shutil
    if shutil.which("dot") is None:
        return None
    from rmapkit.render import display
    from rmapkit.widgets import Playground
    pg = Playground("split")
    ops = ["P0: munmap 0 1", "P0: mremap 2 1 1 to 5", "P0: fork P1", "P1: write 5",
           "P1: mmap 0 2 rw private anon", "P1: write 0 2"]
    views = ("graph", "address", "tree", "diff", "graph", "address")
    best = []
    for op, view in zip(ops, views):
        runs = []
        for attempt in range(reps):
            if attempt:
                pg.undo()
            display._render.cache_clear()
            t = time.perf_counter()
            pg.apply(op)
            pg.svg(view)
            runs.append(time.perf_counter() - t)
        best.append(min(runs))
    best.sort()
    return best[len(best) // 2], best[-1]


def chapter_times():
    """Seconds each chapter's cells take, top to bottom (kernel start-up excluded), as
    book/build.py runs them; None where nbclient or jupytext is missing."""
    try:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "book"))
        import build
        import jupytext  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError:
        return None
    out = {}
    for stem in build.chapters():
        _, seconds = build.execute(build.read_text(stem))
        out[stem] = seconds
    return out


def model_vs_kernel(rows, nops, loop_iters, runs, seed):
    """Section 1: ``runs`` interleaved runs; rows of median rates and the ratio spread.

    Rates are calls per CPU second of each side's own process (user + system time):
    on a machine shared with other work, wall-clock time also counts the moments a side
    waited for a CPU, which lands on model and kernel unevenly however finely they
    alternate.  The wall-clock ratio is printed beside it."""
    trace = speed.make_trace(seed, nops)
    names = ["trace", *speed.LOOPS]
    gm = "loops, geometric mean"
    per_run = []
    for i in range(runs):
        res, (om, ok) = speed.measure(trace, loop_iters)
        same = sum(a == b for a, b in zip(om, ok))
        first = next((j for j, (a, b) in enumerate(zip(om, ok)) if a != b), None)
        r = {n: res[n].ratio() for n in names}
        r[gm] = speed.geomean([r[n] for n in speed.LOOPS])
        w = {n: res[n].ratio(cpu=False) for n in names}
        w[gm] = speed.geomean([w[n] for n in speed.LOOPS])
        per_run.append((res, r, w))
        print(f"run {i + 1}/{runs}: trace outcomes equal for {same}/{nops}"
              + ("" if first is None else f" (first difference at op {first}: "
                 f"{trace[first]}, model {om[first]}, kernel {ok[first]})")
              + "; ratios " + ", ".join(f"{v:.3f}" for v in r.values())
              + " (wall-clock " + ", ".join(f"{v:.3f}" for v in w.values()) + ")", flush=True)
    label = f"median of {runs}" if runs > 1 else "1 run"
    rows.append((f"model / kernel rate ({label}, CPU time)", "model/s   kernel/s",
                 "ratio [min-max]       wall-clock ratio"))
    for name in names + [gm]:
        rs = sorted(r[name] for _, r, _ in per_run)
        med = statistics.median(rs)
        wall = statistics.median(w[name] for _, _, w in per_run)
        if name == gm:
            rates = ""
        else:
            mr = statistics.median(res[name].rates()[0] for res, _, _ in per_run)
            kr = statistics.median(res[name].rates()[1] for res, _, _ in per_run)
            rates = f"{mr:>8,.0f} {kr:>10,.0f}"
        goal = 0.2 if name in speed.LOOPS else 0.33
        rows.append((f"  {name}", rates, f"{med:.3f} [{rs[0]:.3f}-{rs[-1]:.3f}]  {wall:.3f}  "
                     + _target(med >= goal, f">= {goal}")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=100_000, help="trace length (default 100000)")
    ap.add_argument("--loops", type=int, default=20_000,
                    help="iterations of each single-operation loop (default 20000)")
    ap.add_argument("--runs", type=int, default=3,
                    help="model/kernel runs; the median counts (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke test)")
    ap.add_argument("--ratios", action="store_true", help="only section 1 (model/kernel rates)")
    ap.add_argument("--profile", action="store_true",
                    help="print where the model's time goes per operation kind, and stop")
    ap.add_argument("--no-chapters", action="store_true",
                    help="skip running the notebooks (about 15 s)")
    args = ap.parse_args()
    nops = 5_000 if args.quick else args.ops
    loop_iters = 1_000 if args.quick else args.loops
    runs = 1 if args.quick else args.runs
    small, big = (100, 2_000) if args.quick else (1_000, 100_000)
    navcs = 1_000 if args.quick else 10_000
    if args.profile:
        speed.profile(speed.make_trace(args.seed, nops), loop_iters)
        return
    rows = []
    model_vs_kernel(rows, nops, loop_iters, runs, args.seed)
    if args.ratios:
        _print(rows)
        return

    reps = 200 if args.quick else 2_000
    c_small = min(per_op_cost(small, reps) for _ in range(2))
    c_big = min(per_op_cost(big, reps) for _ in range(2))
    scale = c_big / c_small
    rows.append((f"model s/op at {small:,} VMAs", f"{c_small * 1e6:.1f} us", ""))
    rows.append((f"model s/op at {big:,} VMAs", f"{c_big * 1e6:.1f} us", ""))
    rows.append((f"{big:,} / {small:,} cost ratio", f"{scale:.2f}", _target(scale <= 2, "<= 2")))

    walk, lin, n = rmap_vs_scan(navcs, 500)
    ratio = lin / walk
    rows.append((f"rmap walk, anon_vma with {n:,} avcs", f"{walk * 1e6:.1f} us", ""))
    rows.append(("linear scan of the avcs", f"{lin * 1e6:.1f} us", ""))
    rows.append(("scan / walk", f"{ratio:.0f}x", _target(ratio >= 50, ">= 50x")))

    lat = render_latency()
    if lat is None:
        rows.append(("op + diagram (Playground)", "no dot", ""))
    else:
        med, worst = lat
        rows.append(("op + diagram, median", f"{med * 1e3:.1f} ms", ""))
        rows.append(("op + diagram, worst of 6", f"{worst * 1e3:.1f} ms",
                     _target(worst < 0.1, "< 100 ms")))

    if not (args.quick or args.no_chapters):
        times = chapter_times()
        if times is None:
            rows.append(("chapters", "no nbclient", ""))
        else:
            for stem, sec in times.items():
                rows.append((f"chapter {stem}", f"{sec:.1f} s", _target(sec < 10, "< 10 s")))
    _print(rows)


def _print(rows):
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    print()
    for name, val, target in rows:
        print(f"{name:<{w}}  {val:>{v}}  {target}")


def _target(ok, text):
    return f"target {text}: {'met' if ok else 'NOT MET'}"


if __name__ == "__main__":
    main()
