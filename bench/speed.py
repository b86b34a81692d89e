"""The model's rate against the live kernel's, measured side by side, and where it goes.

Used by bench.py (``make bench``).  Five workloads, each run in the model (this process)
and against the running kernel (a child process calling libc through ctypes, page touches
through read(2)/write(2) on a pipe as rmapkit.live does), driven by the same Python code:

* ``trace``: a random trace of mmap / munmap / mprotect / mremap / madvise / read / write
  operations in a 256-page window; both sides must give the same outcome (success or
  errno) for every operation.
* four single-operation loops, each iteration two or three calls on one fixed address:
  ``mmap+munmap`` (MAP_FIXED mmap of one page, munmap), ``mmap+write+munmap`` (the same
  with one write fault), ``mprotect split/merge`` (the middle page of three made read-only
  and back: three VMAs, then one) and ``mremap there+back`` (one faulted page moved away
  and back with MREMAP_FIXED).

Interleaved: each side runs in a worker process of its own, each workload is cut into
chunks and the chunks alternate between the two workers (ABBA order), so a load spike
from other processes on the machine lands on both sides alike and the *ratio* is stable
even when the rates are not.  Each worker times its own chunks, wall-clock and CPU time.
The kernel is given no more work than the model: before the first chunk the model's
process gets as many extra VMAs as the kernel worker's address space holds (its Python,
libraries and heap), so both search trees are about the same size.

``profile()`` runs the same workloads in the model under cProfile, one profile per
operation kind, and prints each kind's share of the time and its costliest functions.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PAGE = 4096
BASE = 0x200000000000           # the trace's window
LOOP_BASE = 0x300000000000      # the loops' pages (never touched by the trace)
FILL_BASE = 0x380000000000      # the model's stand-ins for the child's own VMAs
WINDOW = 256
PR, PW = 0x1, 0x2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANON = 0x01, 0x02, 0x10, 0x20
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
MADV_DONTNEED = 4
KINDS = ("mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write")
ANON_FIXED = MAP_PRIVATE | MAP_ANON | MAP_FIXED


# -- the trace ---------------------------------------------------------------------------
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
            out.append((kind, addr, length, arg, ANON_FIXED))
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
    """PROT_NONE pages around the window, so nothing else is ever placed next to it."""
    for g in (BASE - PAGE, BASE + WINDOW * PAGE):
        mmap(g, PAGE, 0, MAP_SHARED | MAP_ANON | MAP_FIXED)


def trace_calls(sys_):
    """kind -> f(addr, length, arg, arg2) for a model Process or a ``_Kernel`` (below)."""
    return {"mmap": lambda a, l, x, y: sys_.mmap(a, l, x, y),
            "munmap": lambda a, l, x, y: sys_.munmap(a, l),
            "mprotect": lambda a, l, x, y: sys_.mprotect(a, l, x),
            "mremap": lambda a, l, x, y: sys_.mremap(a, l, x, MREMAP_MAYMOVE | MREMAP_FIXED, y)
            if y else sys_.mremap(a, l, x),
            "madvise": lambda a, l, x, y: sys_.madvise(a, l, x),
            "read": lambda a, l, x, y: sys_.read(a, l),
            "write": lambda a, l, x, y: sys_.write(a, l)}


def replay(trace, calls, fault, per_kind=None):
    """Run ``trace`` through ``calls``: ((wall s, CPU s), outcomes: 0, an errno, or -11 for
    a fault).

    The model and the kernel child time exactly this loop, so their rates compare.  With
    a ``per_kind`` dict, each kind's own time is added to it (that costs two clock reads
    per op, so the plain timing leaves it out)."""
    outcomes = []
    append = outcomes.append
    clock = time.perf_counter
    t = _clock()
    for kind, a, l, x, y in trace:
        if per_kind is not None:
            t0 = clock()
        try:
            calls[kind](a, l, x, y)
            append(0)
        except OSError as e:
            append(e.errno)
        except fault:
            append(-11)
        if per_kind is not None:
            per_kind[kind] = per_kind.get(kind, 0.0) + clock() - t0
    return _since(t), outcomes


def _clock():
    return time.perf_counter(), time.process_time()


def _since(t):
    """(wall seconds, CPU seconds of this process) since ``t = _clock()``."""
    return time.perf_counter() - t[0], time.process_time() - t[1]


# -- the four loops ------------------------------------------------------------------------
# Each loop has a setup (not timed), a body timed for ``n`` iterations on one fixed address,
# and a teardown; the same functions drive the model and the kernel.
A, B = LOOP_BASE, LOOP_BASE + 64 * PAGE


def _setup_none(s):
    pass


def _setup_three(s):
    s.mmap(A, 3 * PAGE, PR | PW, ANON_FIXED)


def _setup_faulted(s):
    s.mmap(A, PAGE, PR | PW, ANON_FIXED)
    s.write(A, PAGE)


def _body_mmap_munmap(s, n):
    mmap, munmap = s.mmap, s.munmap
    t = _clock()
    for _ in range(n):
        mmap(A, PAGE, PR | PW, ANON_FIXED)
        munmap(A, PAGE)
    return _since(t)


def _body_mmap_write_munmap(s, n):
    mmap, write, munmap = s.mmap, s.write, s.munmap
    t = _clock()
    for _ in range(n):
        mmap(A, PAGE, PR | PW, ANON_FIXED)
        write(A, PAGE)
        munmap(A, PAGE)
    return _since(t)


def _body_mprotect(s, n):
    mprotect, mid = s.mprotect, A + PAGE
    t = _clock()
    for _ in range(n):
        mprotect(mid, PAGE, PR)          # [A, A+3P) splits into three VMAs
        mprotect(mid, PAGE, PR | PW)     # and merges back into one
    return _since(t)


def _body_mremap(s, n):
    mremap, flags = s.mremap, MREMAP_MAYMOVE | MREMAP_FIXED
    t = _clock()
    for _ in range(n):
        mremap(A, PAGE, PAGE, flags, B)
        mremap(B, PAGE, PAGE, flags, A)
    return _since(t)


def _teardown(s):
    s.munmap(LOOP_BASE, 128 * PAGE)


# name -> (setup, body, calls per iteration)
LOOPS = {
    "mmap+munmap": (_setup_none, _body_mmap_munmap, 2),
    "mmap+write+munmap": (_setup_none, _body_mmap_write_munmap, 3),
    "mprotect split/merge": (_setup_three, _body_mprotect, 2),
    "mremap there+back": (_setup_faulted, _body_mremap, 2),
}


# -- the two sides: worker processes serving chunks ---------------------------------------------
class _Kernel:
    """The live syscalls with the model Process's signatures (read/write touch pages)."""

    def __init__(self, libc):
        self.mmap, self.munmap, self.mprotect = libc.mmap, libc.munmap, libc.mprotect
        self.mremap, self.madvise = libc.mremap, libc.madvise
        self.read = functools.partial(libc.touch, write=False)
        self.write = functools.partial(libc.touch, write=True)


def worker(side):
    """Body of a worker: one JSON request per line on stdin, one reply per line on stdout.

    ``side`` "kernel" drives the live kernel (rmapkit.live only: the boot line below gives
    it a stand-in rmapkit package, so it never imports the model); "model" drives a model
    process.  Both run the same replay() and loop bodies."""
    if side == "kernel":
        from rmapkit.live.syscalls import Fault, Libc
        s = _Kernel(Libc())
        _guards(s.mmap)
    else:
        from rmapkit import SegmentationFault as Fault
        s = None
    calls = trace_calls(s) if s is not None else None
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "start":
            if side == "model":
                s = model_process(req["map_count"])
                calls = trace_calls(s)
            with open("/proc/self/maps") as f:
                reply = {"map_count": sum(1 for _ in f)}
        elif op == "trace":
            seconds, outcomes = replay(req["ops"], calls, Fault)
            reply = {"seconds": seconds, "outcomes": outcomes}
        elif op == "setup":
            LOOPS[req["loop"]][0](s)
            reply = {}
        elif op == "run":
            reply = {"seconds": LOOPS[req["loop"]][1](s, req["n"])}
        elif op == "teardown":
            _teardown(s)
            reply = {}
        else:
            raise ValueError(op)
        out.write(json.dumps(reply) + "\n")
        out.flush()


_BOOT = {
    "kernel": ("import sys, types; m = types.ModuleType('rmapkit'); m.__path__ = [{pkg!r}]; "
               "sys.modules['rmapkit'] = m; sys.path.insert(0, {bench!r}); "
               "import speed; speed.worker('kernel')"),
    "model": ("import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r}); "
              "import speed; speed.worker('model')"),
}


class Worker:
    """One side in its own process: runs the chunks it is sent and times them itself.

    Model and kernel are alike here: each sleeps on its pipe while the other runs, so the
    scheduler treats them the same (a model timed in the parent, which never sleeps,
    would wait longer for a CPU on a busy machine than a kernel child that mostly does)."""

    def __init__(self, side):
        boot = _BOOT[side].format(pkg=os.path.join(ROOT, "rmapkit"), root=ROOT,
                                  bench=os.path.dirname(os.path.abspath(__file__)))
        self.side = side
        self.proc = subprocess.Popen([sys.executable, "-c", boot], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, start_new_session=True,
                                     text=True, bufsize=1)

    def ask(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.side} worker died (status {self.proc.wait()})")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def model_process(map_count=0):
    """A fresh model process with the trace's guards and filler VMAs up to ``map_count``."""
    from rmapkit import Kernel
    p = Kernel().spawn()
    _guards(p.mmap)
    for i in range(max(0, map_count - p.mm.map_count)):
        p.mmap(FILL_BASE + 2 * i * PAGE, PAGE, PR, ANON_FIXED)
    return p


# -- one interleaved measurement -------------------------------------------------------------
def _chunks(total, size):
    return [min(size, total - i) for i in range(0, total, size)]


def measure(trace, loop_iters, chunk_ops=2_000, chunk_iters=500):
    """One run: the trace and every loop, model and kernel chunks alternating (ABBA).

    Returns {workload: Timing} and the trace's outcome lists (model, kernel).  Each side's
    time is the sum of its chunks' timed loops, as wall-clock and as CPU time."""
    kernel, model = Worker("kernel"), Worker("model")
    try:
        mc = kernel.ask(op="start")["map_count"]
        model.ask(op="start", map_count=mc)
        sides = (model, kernel)
        res, outcomes = {}, {model: [], kernel: []}
        t = Timing(len(trace))
        for i, lo in enumerate(range(0, len(trace), chunk_ops)):
            part = trace[lo:lo + chunk_ops]
            for w in (sides if i % 2 == 0 else sides[::-1]):
                r = w.ask(op="trace", ops=part)
                t.add(w is model, r["seconds"])
                outcomes[w] += r["outcomes"]
        res["trace"] = t
        for name, (_setup, _body, per) in LOOPS.items():
            for w in sides:
                w.ask(op="setup", loop=name)
            t = Timing(loop_iters * per)
            for i, n in enumerate(_chunks(loop_iters, chunk_iters)):
                for w in (sides if i % 2 == 0 else sides[::-1]):
                    t.add(w is model, w.ask(op="run", loop=name, n=n)["seconds"])
            for w in sides:
                w.ask(op="teardown")
            res[name] = t
        return res, (outcomes[model], outcomes[kernel])
    finally:
        kernel.close()
        model.close()


class Timing:
    """Model and kernel time of one workload of ``calls`` calls: wall-clock and CPU."""

    def __init__(self, calls):
        self.calls = calls
        self.model = [0.0, 0.0]            # wall, CPU
        self.kernel = [0.0, 0.0]

    def add(self, is_model, t):
        side = self.model if is_model else self.kernel
        side[0] += t[0]
        side[1] += t[1]

    def rates(self, cpu=True):
        """(model calls/s, kernel calls/s)."""
        i = 1 if cpu else 0
        return self.calls / self.model[i], self.calls / self.kernel[i]

    def ratio(self, cpu=True):
        """Model rate / kernel rate."""
        m, k = self.rates(cpu)
        return m / k


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


# -- --profile ----------------------------------------------------------------------------------
def _profile_rows(prof, top):
    import pstats
    st = pstats.Stats(prof).stats
    total = sum(v[2] for v in st.values()) or 1e-12
    rows = sorted(st.items(), key=lambda kv: -kv[1][2])[:top]
    by_file = {}
    for (fn, _line, _name), v in st.items():
        f = "builtins" if fn == "~" else os.path.basename(fn)
        by_file[f] = by_file.get(f, 0.0) + v[2]
    files = sorted(by_file.items(), key=lambda kv: -kv[1])[:8]
    out = ["    by file: " + ", ".join(f"{f} {100 * t / total:.0f}%" for f, t in files)]
    for (fn, line, name), (_cc, nc, tt, ct, _callers) in rows:
        where = f"{os.path.basename(fn)}:{name}" if fn != "~" else name
        out.append(f"    {100 * tt / total:5.1f}%  {nc:>8}  {1e6 * tt / max(nc, 1):6.2f} us"
                   f"  {1e6 * ct / max(nc, 1):7.2f} us  {where}")
    return out


def profile(trace, loop_iters, top=12):
    """Print where the model's time goes: per trace op kind, then per loop."""
    import cProfile
    from rmapkit import SegmentationFault
    # Plain times per kind first (no profiler: the profiler's overhead is uneven).
    p = model_process()
    per_kind = {}
    (total, _cpu), _ = replay(trace, trace_calls(p), SegmentationFault, per_kind)
    counts = {k: 0 for k in KINDS}
    for op in trace:
        counts[op[0]] += 1
    print(f"model, trace of {len(trace):,} ops: {total:.2f} s, {len(trace) / total:,.0f} ops/s")
    for k in KINDS:
        if counts[k]:
            print(f"  {k:<9} {100 * per_kind[k] / total:5.1f}% of the time  "
                  f"{1e6 * per_kind[k] / counts[k]:7.1f} us/op  ({counts[k]:,} ops)")
    print("\nper kind, under cProfile: own time share, calls, own us/call, cumulative "
          "us/call, function")
    profs = {k: cProfile.Profile() for k in KINDS}
    p = model_process()
    calls = trace_calls(p)
    for kind, a, l, x, y in trace:
        pr = profs[kind]
        pr.enable()
        try:
            calls[kind](a, l, x, y)
        except (OSError, SegmentationFault):
            pass
        pr.disable()
    for k in KINDS:
        if counts[k]:
            print(f"  trace {k}:")
            print("\n".join(_profile_rows(profs[k], top)))
    for name, (setup, body, per) in LOOPS.items():
        p = model_process()
        setup(p)
        pr = cProfile.Profile()
        pr.enable()
        body(p, loop_iters)
        pr.disable()
        t, _cpu = body(p, loop_iters)
        print(f"  loop {name}: {1e6 * t / loop_iters:.1f} us/iteration without the profiler")
        print("\n".join(_profile_rows(pr, top)))
