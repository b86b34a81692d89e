#!/usr/bin/env python3
"""rmapkit benchmark: the model against the running kernel, scaling, and the anon rmap walk.

    python bench/bench.py            # or: make bench
    python bench/bench.py --quick    # smaller sizes, for a smoke test

Three measurements, printed as a table with the targets of issue 3:

1. The same random trace of ``--ops`` (default 100,000) mmap / munmap / mprotect / mremap /
   madvise / read / write operations in a 256-page window, replayed in the model (this
   process) and against the live kernel (a child process calling libc through ctypes, touches
   through read(2)/write(2) on a pipe as rmapkit.live does).  Prints ops/s of both and the
   ratio (target: model >= 1/10 of the kernel), and checks that both gave the same outcome
   (success or errno) for every operation.
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
import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PAGE = 4096
BASE = 0x200000000000
WINDOW = 256
PR, PW = 0x1, 0x2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANON = 0x01, 0x02, 0x10, 0x20
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
MADV_DONTNEED = 4
KINDS = ("mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write")


# -- 1. the trace ------------------------------------------------------------------------------
def make_trace(seed, n, window=WINDOW):
    """``n`` ops as (kind, addr, length, arg, arg2) tuples of plain ints (JSON-able)."""
    r = random.Random(seed)
    out = []
    weights = (25, 12, 20, 10, 5, 10, 18)
    for kind in r.choices(KINDS, weights, k=n):
        npg = r.randint(1, 6)
        page = r.randrange(0, window - npg)
        addr, length = BASE + page * PAGE, npg * PAGE
        if kind == "mmap":
            arg = r.choice((PR | PW, PR | PW, PR))
            out.append((kind, addr, length, arg, MAP_PRIVATE | MAP_ANON | MAP_FIXED))
        elif kind == "mprotect":
            out.append((kind, addr, length, r.choice((PR, PR | PW)), 0))
        elif kind == "mremap":
            if r.random() < 0.4:
                new = max(1, min(npg + r.randint(-2, 3), window - page)) * PAGE
                out.append((kind, addr, length, new, 0))
            else:
                dest = r.randrange(0, window - npg)
                out.append((kind, addr, length, length, BASE + dest * PAGE))
        elif kind == "madvise":
            out.append((kind, addr, length, MADV_DONTNEED, 0))
        else:
            out.append((kind, addr, length, 0, 0))
    return out


def _guards(mmap):
    for g in (BASE - PAGE, BASE + WINDOW * PAGE):
        mmap(g, PAGE, 0, MAP_SHARED | MAP_ANON | MAP_FIXED)


def replay_model(trace):
    """Replay in a fresh model Kernel; return (seconds, outcomes)."""
    from rmapkit import Kernel, SegmentationFault
    p = Kernel().spawn()
    _guards(p.mmap)
    calls = {"mmap": lambda a, l, x, y: p.mmap(a, l, x, y),
             "munmap": lambda a, l, x, y: p.munmap(a, l),
             "mprotect": lambda a, l, x, y: p.mprotect(a, l, x),
             "mremap": lambda a, l, x, y: p.mremap(a, l, x, MREMAP_MAYMOVE | MREMAP_FIXED, y)
             if y else p.mremap(a, l, x),
             "madvise": lambda a, l, x, y: p.madvise(a, l, x),
             "read": lambda a, l, x, y: p.read(a, l),
             "write": lambda a, l, x, y: p.write(a, l)}
    return _replay(trace, calls, SegmentationFault)


def _replay(trace, calls, fault):
    """Run ``trace`` through ``calls``; (seconds, outcomes: 0, an errno, or -11 for a fault).

    The model and the kernel child time exactly this loop, so their rates compare."""
    outcomes = []
    t = time.perf_counter()
    for kind, a, l, x, y in trace:
        try:
            calls[kind](a, l, x, y)
            outcomes.append(0)
        except OSError as e:
            outcomes.append(e.errno)
        except fault:
            outcomes.append(-11)
    return time.perf_counter() - t, outcomes


def kernel_child():
    """Body of the kernel replay child: trace on stdin, {"seconds", "outcomes"} on stdout."""
    from rmapkit.live.syscalls import Fault, Libc
    trace = json.load(sys.stdin)
    c = Libc()
    _guards(c.mmap)
    calls = {"mmap": lambda a, l, x, y: c.mmap(a, l, x, y),
             "munmap": lambda a, l, x, y: c.munmap(a, l),
             "mprotect": lambda a, l, x, y: c.mprotect(a, l, x),
             "mremap": lambda a, l, x, y: c.mremap(a, l, x, MREMAP_MAYMOVE | MREMAP_FIXED, y)
             if y else c.mremap(a, l, x),
             "madvise": lambda a, l, x, y: c.madvise(a, l, x),
             "read": lambda a, l, x, y: c.touch(a, l, False),
             "write": lambda a, l, x, y: c.touch(a, l, True)}
    seconds, outcomes = _replay(trace, calls, Fault)
    json.dump({"seconds": seconds, "outcomes": outcomes}, sys.stdout)


# The child gets a stand-in rmapkit package so it never imports the model (as rmapkit.live).
_BOOT = ("import sys, types; m = types.ModuleType('rmapkit'); m.__path__ = [{pkg!r}]; "
         "sys.modules['rmapkit'] = m; sys.path.insert(0, {bench!r}); "
         "import bench; bench.kernel_child()")


def replay_kernel(trace, timeout=600):
    """Replay against the kernel in a child process; return (seconds, outcomes)."""
    boot = _BOOT.format(pkg=os.path.join(ROOT, "rmapkit"), bench=os.path.dirname(__file__))
    r = subprocess.run([sys.executable, "-c", boot], input=json.dumps(trace).encode(),
                       capture_output=True, timeout=timeout, start_new_session=True)
    if r.returncode:
        raise RuntimeError(f"kernel replay failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    out = json.loads(r.stdout)
    return out["seconds"], out["outcomes"]


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
    views = ("graph", "addrspace", "tree", "diff", "graph", "addrspace")
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=100_000, help="trace length (default 100000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--no-chapters", action="store_true",
                    help="skip running the notebooks (about 15 s)")
    args = ap.parse_args()
    nops = 5_000 if args.quick else args.ops
    small, big = (100, 2_000) if args.quick else (1_000, 100_000)
    navcs = 1_000 if args.quick else 10_000
    rows = []

    trace = make_trace(args.seed, nops)
    tm, om = replay_model(trace)
    tk, ok = replay_kernel(trace)
    same = sum(a == b for a, b in zip(om, ok))
    first = next((i for i, (a, b) in enumerate(zip(om, ok)) if a != b), None)
    ratio = (nops / tm) / (nops / tk)
    print(f"trace: {nops} ops (seed {args.seed}), outcomes equal for {same}/{nops}"
          + ("" if first is None else f" (first difference at op {first}: {trace[first]}, "
             f"model {om[first]}, kernel {ok[first]})"))
    rows.append(("model ops/s", f"{nops / tm:,.0f}", ""))
    rows.append(("kernel ops/s (ctypes)", f"{nops / tk:,.0f}", ""))
    rows.append(("model / kernel rate", f"{ratio:.3f}", _target(ratio >= 0.1, ">= 0.1")))

    reps = 200 if args.quick else 2_000
    c_small = min(per_op_cost(small, reps) for _ in range(2))
    c_big = min(per_op_cost(big, reps) for _ in range(2))
    scale = c_big / c_small
    rows.append((f"model s/op at {small:,} VMAs", f"{c_small * 1e6:.1f} us", ""))
    rows.append((f"model s/op at {big:,} VMAs", f"{c_big * 1e6:.1f} us", ""))
    rows.append((f"{big:,} / {small:,} cost ratio", f"{scale:.2f}", _target(scale <= 2, "<= 2")))

    walk, lin, n = rmap_vs_scan(navcs, 500)
    speed = lin / walk
    rows.append((f"rmap walk, anon_vma with {n:,} avcs", f"{walk * 1e6:.1f} us", ""))
    rows.append(("linear scan of the avcs", f"{lin * 1e6:.1f} us", ""))
    rows.append(("scan / walk", f"{speed:.0f}x", _target(speed >= 50, ">= 50x")))

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

    w = max(len(r[0]) for r in rows)
    for name, val, target in rows:
        print(f"{name:<{w}}  {val:>14}  {target}")


def _target(ok, text):
    return f"target {text}: {'met' if ok else 'NOT MET'}"


if __name__ == "__main__":
    main()
