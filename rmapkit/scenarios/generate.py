"""Seeded random scenarios for differential testing, and shrinking a failing one.

random_scenario(seed) draws mmap / munmap / mprotect / mremap / madvise / read / write /
fork / exit sequences in a small window (16-24 pages) so that merges, splits and CoW happen
often, and file I/O (pwrite / pread / fallocate / ftruncate / fsync) on a tmpfs file, a
memfd and a file on the disk file system; the same seed always gives the same scenario
(a private ``random.Random``).  The disk file is mapped with ``madvise random``
(VM_RAND_READ), never executable, and written at most a page at a time: then ext4 neither
reads ahead nor makes large folios, neither of which the model models (see
rmapkit.model.filemap).  Ops may
fail (mremap of a hole...): the runners record outcomes and the diff compares them.
shrink() removes ops from a failing scenario while it still fails.
Cost: O(ops) per scenario.
"""

from __future__ import annotations

import random

from rmapkit.scenarios.format import ScenarioError
from rmapkit.scenarios.parser import parse

__all__ = ["random_scenario", "random_scenarios", "random_thp_scenario",
           "random_thp_scenarios", "shrink", "MADVICES", "THP_PRESETS"]

# madvise advice the model implements and the kernel answers deterministically here
# (no KSM, no THP in a window this small, no swap for PAGEOUT: left out).
MADVICES = ("dontneed", "wipeonfork", "keeponfork", "dontfork", "dofork", "dontdump",
            "dodump", "normal", "random", "sequential", "willneed")
# With a disk file mapped, advice that would clear VM_RAND_READ (and let ext4 read ahead)
# is left out.
DISK_MADVICES = tuple(a for a in MADVICES if a not in ("normal", "sequential", "willneed"))
PROTS = ("rw", "rw", "rw", "rw", "r", "r", "rwx", "none", "w", "rx")
# With a disk file in the scenario nothing is executable: filemap_fault() reads ahead
# around a miss in a VM_EXEC mapping even with VM_RAND_READ (do_sync_mmap_readahead(),
# v6.18), and readahead is not modelled.
DISK_PROTS = tuple(p for p in PROTS if "x" not in p)
FILE_PAGES = 12


class _Gen:
    def __init__(self, seed, n_ops, window):
        self.r = random.Random(seed)
        self.window = window or self.r.randint(16, 24)
        self.n_ops = n_ops or self.r.randint(12, 28)
        self.alive = ["P0"]
        self.next_child = 1
        self.lines = []
        self.files = self.r.random() < 0.4
        self.memfd = self.r.random() < 0.25
        self.disk = self.r.random() < 0.3
        self.prots = DISK_PROTS if self.disk else PROTS
        self.fds = [f for f, ok in (("F", self.files), ("M", self.memfd), ("D", self.disk))
                    if ok]
        self.mapped = set()         # pages some mmap probably mapped: aim ops there

    def rng(self, max_len=5, aim=0.0):
        """A (page, count) inside the window; with probability ``aim`` starting at a page
        an earlier mmap probably mapped (so that ops hit VMAs more often than holes)."""
        n = self.r.randint(1, max_len)
        hits = sorted(p for p in self.mapped if p <= self.window - n)
        if hits and self.r.random() < aim:
            return self.r.choice(hits), n
        page = self.r.randint(0, self.window - n)
        return page, n

    def op(self):
        r = self.r
        proc = r.choice(self.alive)
        io = 1 if self.fds else 0
        kind = r.choices(
            ["mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write", "fork",
             "exit", "ftruncate", "pwrite", "pread", "fallocate", "fsync"],
            [28, 10, 16, 14, 6, 9, 15, 4 if len(self.alive) < 4 else 0,
             2 if len(self.alive) > 1 else 0, 2 * io, 6 * io, 2 * io, 3 * io, io // 2])[0]
        return getattr(self, "g_" + kind)(proc)

    def g_mmap(self, proc):
        r = self.r
        page, n = self.rng()
        self.mapped.update(range(page, page + n))
        prot = r.choice(self.prots)
        src = r.choices(["private anon", "shared anon", "private fd=F", "shared fd=F",
                         "private fd=Z", "private fd=M", "shared fd=M", "private fd=D",
                         "shared fd=D"],
                        [80, 6, 10 if self.files else 0, 8 if self.files else 0, 3,
                         5 if self.memfd else 0, 6 if self.memfd else 0,
                         8 if self.disk else 0, 8 if self.disk else 0])[0]
        words = [f"{proc}: mmap {page} {n} {prot} {src}"]
        disk = "fd=D" in src
        if "fd=F" in src or "fd=M" in src or disk:
            words.append(f"off={r.randint(0, FILE_PAGES - 2)}")
        # The disk file's mapping must be VM_RAND_READ before its first fault: fixed, so
        # the madvise below hits it, and never populated.
        where = "fixed" if disk else r.choices(["fixed", "", "noreplace"], [70, 25, 5])[0]
        if where:
            words.append(where)
        if r.random() < 0.2:
            words.append("noreserve")
        if r.random() < 0.08 and not disk:
            words.append("populate")
        line = " ".join(words)
        if disk:
            line += f"\n{proc}: madvise {page} {n} random"
        return line

    def g_munmap(self, proc):
        page, n = self.rng(6, aim=0.5)
        self.mapped.difference_update(range(page, page + n))
        return f"{proc}: munmap {page} {n}"

    def g_mprotect(self, proc):
        page, n = self.rng(6, aim=0.7)
        return f"{proc}: mprotect {page} {n} {self.r.choice(self.prots)}"

    def g_mremap(self, proc):
        r = self.r
        page, n = self.rng(aim=0.7)
        how = r.choices(["grow", "shrink", "move", "move-resize", "dontunmap"],
                        [20, 12, 45, 13, 10])[0]
        if how == "grow":
            new = r.randint(n + 1, n + 4)
            if page + new > self.window:
                new = self.window - page
            return f"{proc}: mremap {page} {n} {new}"
        if how == "shrink":
            return f"{proc}: mremap {page} {n} {r.randint(1, n)}"
        new = n if how in ("move", "dontunmap") else r.randint(1, 6)
        dest = r.randint(0, self.window - new)
        extra = " dontunmap" if how == "dontunmap" else ""
        return f"{proc}: mremap {page} {n} {new} to {dest}{extra}"

    def g_madvise(self, proc):
        page, n = self.rng(6, aim=0.7)
        advice = self.r.choice(DISK_MADVICES if self.disk else MADVICES)
        return f"{proc}: madvise {page} {n} {advice}"

    def g_read(self, proc):
        page, n = self.rng(4, aim=0.7)
        return f"{proc}: read {page} {n}"

    def g_write(self, proc):
        page, n = self.rng(4, aim=0.7)
        return f"{proc}: write {page} {n}"

    def pages(self, lo, hi, whole=False):
        """A file offset or length in pages in [lo, hi]: mostly whole pages, sometimes a
        quarter page off (partial pages)."""
        v = self.r.randint(lo, hi)
        if not whole and self.r.random() < 0.25:
            v = max(lo, v - self.r.choice((0.25, 0.5, 0.75)))
        return f"{v:g}"

    def g_ftruncate(self, proc):
        fd = self.r.choice(self.fds)
        return f"{proc}: ftruncate {fd} {self.pages(0, FILE_PAGES)}"

    def g_pwrite(self, proc):
        fd = self.r.choice(self.fds)
        # ext4 makes a large folio of a multi-page write (not modelled): one page at most.
        length = self.pages(0, 1 if fd == "D" else 4)
        return f"{proc}: pwrite {fd} {self.pages(0, FILE_PAGES + 2)} {length}"

    def g_pread(self, proc):
        fd = self.r.choice(self.fds)
        return f"{proc}: pread {fd} {self.pages(0, FILE_PAGES + 1)} {self.pages(0, 4)}"

    def g_fallocate(self, proc):
        r = self.r
        fd = r.choice(self.fds)
        mode = r.choices(["", " keep", " keep punch", " punch"], [4, 4, 8, 1])[0]
        return (f"{proc}: fallocate {fd} {self.pages(0, FILE_PAGES)} "
                f"{self.pages(1, 5)}{mode}")

    def g_fsync(self, proc):
        return f"{proc}: fsync {self.r.choice(self.fds)}"

    def g_fork(self, proc):
        child = f"P{self.next_child}"
        self.next_child += 1
        self.alive.append(child)
        return f"{proc}: fork {child}"

    def g_exit(self, proc):
        self.alive.remove(proc)
        return f"{proc}: exit"

    def text(self, seed):
        head = [f"# random scenario, seed {seed}", f"window {self.window}"]
        if self.files:
            head.append(f"file data {FILE_PAGES}")
        if self.disk:
            head.append(f"file disk {FILE_PAGES} disk")
        if self.files:
            head.append("P0: open data rw as F")
        if self.memfd:
            head += ["P0: memfd buf as M", f"P0: ftruncate M {FILE_PAGES}"]
        if self.disk:
            head.append("P0: open disk rw as D")
        head.append("P0: open /dev/zero rw as Z")
        body = [self.op() for _ in range(self.n_ops)]
        return "\n".join(head + body) + "\n"


# THP settings a live run may use on a shared machine: only MADV_HUGEPAGE regions (which
# nothing else here uses) are affected; never ``always`` (rmapkit.live.thp.unsafe_settings).
THP_PRESETS = (
    (),                                                          # stock: PMD THP with the hint
    (("hugepages-64kB/enabled", "madvise"),),
    (("hugepages-16kB/enabled", "madvise"), ("hugepages-128kB/enabled", "madvise"),
     ("hugepages-2048kB/enabled", "never")),
    (("hugepages-32kB/enabled", "madvise"), ("use_zero_page", "0")),
    (("hugepages-64kB/enabled", "inherit"), ("hugepages-256kB/enabled", "madvise")),
)
_BLOCK = 512


class _ThpGen(_Gen):
    """Random scenarios around 2 MiB blocks: big mappings, MADV_HUGEPAGE/NOHUGEPAGE/
    COLLAPSE, faults that pick a folio order, partial unmaps and mprotects, aligned and
    misaligned mremaps, fork and CoW."""

    def __init__(self, seed, n_ops):
        super().__init__(seed, n_ops, 3 * _BLOCK)
        self.files = self.memfd = False
        self.preset = self.r.choice(THP_PRESETS)

    def rng(self, max_len=5, aim=0.0):
        r = self.r
        if r.random() < 0.3:                     # whole blocks, aligned
            b = r.randint(0, 2)
            return b * _BLOCK, r.randint(1, 3 - b) * _BLOCK
        n = r.choice([1, 1, 2, 3, 8, 16, 40, 100, 300])
        hits = sorted(p for p in self.mapped if p <= self.window - n)
        if hits and r.random() < max(aim, 0.6):
            return r.choice(hits), n
        return r.randint(0, self.window - n), n

    def op(self):
        r = self.r
        proc = r.choice(self.alive)
        kind = r.choices(
            ["mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write", "fork",
             "exit"],
            [12, 7, 6, 8, 18, 10, 26, 5 if len(self.alive) < 3 else 0,
             2 if len(self.alive) > 1 else 0])[0]
        return getattr(self, "g_" + kind)(proc)

    def g_mmap(self, proc):
        page, n = self.rng()
        if self.r.random() < 0.5:
            page, n = 0, self.window
        self.mapped.update(range(page, page + n))
        prot = self.r.choice(("rw", "rw", "rw", "r"))
        pop = " populate" if self.r.random() < 0.05 else ""
        return f"{proc}: mmap {page} {n} {prot} private anon fixed{pop}"

    def g_madvise(self, proc):
        page, n = self.rng(aim=0.8)
        adv = self.r.choices(["hugepage", "nohugepage", "collapse", "dontneed"],
                             [50, 10, 15, 25])[0]
        return f"{proc}: madvise {page} {n} {adv}"

    def g_mprotect(self, proc):
        page, n = self.rng(aim=0.8)
        return f"{proc}: mprotect {page} {n} {self.r.choice(('r', 'rw'))}"

    def g_mremap(self, proc):
        r = self.r
        page, n = self.rng(aim=0.8)
        dest = r.choice([0, _BLOCK, 2 * _BLOCK, r.randint(0, self.window - n)])
        dest = min(dest, self.window - n)
        if dest < page + n and page < dest + n:
            return f"{proc}: mremap {page} {n} {max(1, n // 2)}"
        return f"{proc}: mremap {page} {n} {n} to {dest}"

    def g_read(self, proc):
        page, n = self.rng(aim=0.8)
        return f"{proc}: read {page} {min(n, 4)}"

    def g_write(self, proc):
        page, n = self.rng(aim=0.8)
        return f"{proc}: write {page} {min(n, 4)}"

    def text(self, seed):
        head = [f"# random THP scenario, seed {seed}", f"window {self.window}"]
        head += [f"thp {k}={v}" for k, v in self.preset]
        head += [f"P0: mmap 0 {self.window} rw private anon fixed",
                 f"P0: madvise 0 {self.window} hugepage"]
        self.mapped.update(range(self.window))
        body = [self.op() for _ in range(self.n_ops)]
        return "\n".join(head + body) + "\n"


def random_thp_scenario(seed, n_ops=None):
    """The random THP scenario of ``seed`` (named ``random-thp-SEED``): a 3-block window,
    one of THP_PRESETS, ops biased towards large folios."""
    g = _ThpGen(seed, n_ops)
    return parse(g.text(seed), name=f"random-thp-{seed}")


def random_thp_scenarios(first_seed, count, **kw):
    """``count`` random THP scenarios with consecutive seeds."""
    return [random_thp_scenario(s, **kw) for s in range(first_seed, first_seed + count)]


def random_scenario(seed, n_ops=None, window=None):
    """The random scenario of ``seed`` (a Scenario named ``random-SEED``)."""
    g = _Gen(seed, n_ops, window)
    return parse(g.text(seed), name=f"random-{seed}")


def random_scenarios(first_seed, count, **kw):
    """``count`` random scenarios with consecutive seeds."""
    return [random_scenario(s, **kw) for s in range(first_seed, first_seed + count)]


def shrink(sc, fails, max_rounds=50):
    """Remove ops from ``sc`` while ``fails(list of candidates)`` finds one still failing.

    ``fails(candidates)`` gets a list of Scenarios and returns the first that still fails,
    or None (so a caller can run a whole round in one live batch).  Ops whose removal makes
    the scenario invalid (a child's ops after its fork is removed) are kept.
    Cost: O(rounds * ops) scenario runs.
    """
    for _ in range(max_rounds):
        candidates = []
        for i in range(len(sc.ops) - 1, -1, -1):
            ops = sc.ops[:i] + sc.ops[i + 1:]
            if not ops:
                continue
            text = sc.prefix(0).text() + "".join(
                op.text + "\n" + (f"expect {op.expect}\n" if op.expect else "") for op in ops)
            try:
                candidates.append(parse(text, name=sc.name))
            except ScenarioError:
                continue
        smaller = fails(candidates) if candidates else None
        if smaller is None:
            return sc
        sc = smaller
    return sc
