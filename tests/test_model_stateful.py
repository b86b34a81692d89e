"""A hypothesis state machine over a tiny window, so that merges, splits, CoW and anon_vma
reuse happen all the time, checking ``k.validate()`` after every step and that a failed
call changed nothing (docs/testing.md).

The window is 20 pages::

    0123456789abcdefghij
    AA.BBBB..CCC.DD.....    (one of the layouts it walks through)

Rules: file I/O on a tmpfs and an ext4 file (pwrite, pread, fallocate: allocate, KEEP_SIZE,
punch hole and refused modes; fsync; ftruncate), mmap (private/shared anon, MAP_NORESERVE, MAP_POPULATE, private and shared file,
private /dev/zero; MAP_FIXED, MAP_FIXED_NOREPLACE or a hint), munmap, mprotect, mremap (in
place, MAYMOVE, FIXED, DONTUNMAP, multi-VMA moves), madvise, read, write, fork, exit, and
deliberately bad calls.  After every step ``k.validate()`` checks every invariant of the
model (VMA tree, avc keys, anon_vma counters, folio index == linear_page_index, rmap
completeness), and every failing call is checked against what the kernel does on failure:
the errno is one the syscall can return, and the model is exactly unchanged, except in the
documented partial cases (mprotect/madvise across a hole or a refusing VMA, a multi-VMA
mremap failing on a later piece, a memory access faulting after touching earlier pages).
A failure prints as a replayable list of these rules.
"""

import errno
import os

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition,
                                 rule)

from modelhelpers import PS, W, draw, fingerprint
from rmapkit import Kernel, Process
from rmapkit.errors import SegmentationFault
from rmapkit.model.args import PAGE_ALIGN, c_value
from rmapkit.uapi import (MADV_DODUMP, MADV_DOFORK, MADV_DONTDUMP, MADV_DONTFORK,
                          MADV_DONTNEED, MADV_FREE, MADV_KEEPONFORK, MADV_NORMAL, MADV_RANDOM,
                          MADV_SEQUENTIAL, MADV_WILLNEED, MADV_WIPEONFORK, MAP_ANONYMOUS,
                          MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_POPULATE,
                          MAP_PRIVATE, MAP_SHARED, MREMAP_DONTUNMAP, MREMAP_FIXED,
                          MREMAP_MAYMOVE, O_RDONLY, O_RDWR, PROT_EXEC, PROT_NONE, PROT_READ,
                          PROT_WRITE, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE,
                          FALLOC_FL_ZERO_RANGE)

NPAGES = 20
MAX_PROCS = 4
RW = PROT_READ | PROT_WRITE

page = st.integers(0, NPAGES - 1)
npages = st.integers(1, 6)
prots = st.sampled_from([RW, RW, PROT_READ, PROT_NONE, RW | PROT_EXEC, PROT_READ | PROT_EXEC])
proc_ix = st.integers(0, MAX_PROCS - 1)

# What each syscall may answer on bad input in this setting (v6.18: do_mmap(),
# do_vmi_munmap(), do_mprotect_pkey(), do_mremap(), do_madvise()).
ALLOWED = {
    "mmap": {errno.EINVAL, errno.ENOMEM, errno.EEXIST, errno.EACCES, errno.EBADF,
             errno.EOVERFLOW, errno.EOPNOTSUPP, 4095},   # 4095: MAP_FIXED at -4095 (IS_ERR_VALUE)
    "munmap": {errno.EINVAL},
    "mprotect": {errno.EINVAL, errno.ENOMEM, errno.EACCES},
    "mremap": {errno.EINVAL, errno.EFAULT, errno.ENOMEM},
    "madvise": {errno.EINVAL, errno.ENOMEM},
    "pwrite": {errno.EBADF, errno.EINVAL, errno.EFBIG, errno.EFAULT},
    "pread": {errno.EBADF, errno.EINVAL, errno.EFAULT},
    "fallocate": {errno.EBADF, errno.EINVAL, errno.EOPNOTSUPP, errno.EFBIG, errno.ENODEV},
    "fsync": {errno.EBADF, errno.EINVAL},
}
PARTIAL_ERRNOS = {("mprotect", errno.ENOMEM), ("mprotect", errno.EACCES),
                  ("madvise", errno.ENOMEM), ("madvise", errno.EINVAL),
                  ("mremap", errno.EFAULT), ("mremap", errno.EINVAL)}
MAPPINGS = ["anon", "anon", "anon", "anon noreserve", "anon populate", "shared anon",
            "file private", "file shared", "file shared ro", "dev zero", "ext4 private",
            "ext4 shared"]
FALLOC_MODES = [0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
                FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, FALLOC_FL_PUNCH_HOLE,
                FALLOC_FL_ZERO_RANGE, 0x1000]
# A file offset or length in bytes: whole pages, or a little past a page boundary.
file_bytes = st.builds(lambda n, extra: n * PS + extra, st.integers(0, 14),
                       st.sampled_from([0, 0, 0, 100, PS // 2]))
ADVICE = [MADV_DONTNEED, MADV_DONTNEED, MADV_FREE, MADV_WILLNEED, MADV_DONTFORK, MADV_DOFORK,
          MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL,
          MADV_DONTDUMP, MADV_DODUMP]


def pg(i):
    return W + i * PS


# Hostile values: what C would wrap (negative, 2**64 and above), what only just fits, what
# aliases through a 32-bit int, mixed with the window's own pages so that some succeed.
_EDGE = [0, 1, -1, -PS, -PS - 1, -(PS - 1), 2**64, 2**64 + PS, 2**64 - PS, 2**63, 2**63 - PS,
         2**47, 2**47 - PS, 2**46, 2**32, 2**32 + 4, 2**31, -(2**31), PS - 1, PS + 1,
         2**40, 1 << 62]
hostile = st.one_of(st.sampled_from(_EDGE),
                    st.builds(lambda i, d: W + i * PS + d, page,
                              st.sampled_from([0, 0, 0, 1, -1, 2**64, -2**64])),
                    st.builds(lambda n: n * PS, st.integers(0, NPAGES)),
                    st.integers(-2**65, 2**65))
C_TYPES = {call: [t for t, _ in getattr(Process, call).__c_params__]
           for call in ("mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write")}


class MMMachine(RuleBasedStateMachine):
    """Random syscalls of up to four processes in one 20-page window."""

    @initialize()
    def setup(self):
        # A small machine, so that huge hostile mappings and touches reach its RAM and
        # page-table bound quickly (and commit accounting refuses more than it holds).
        self.k = Kernel(totalram_pages=2048)
        p0 = self.k.spawn()
        self.k.create_file("/f", 12 * PS)
        self.k.create_file("/e", 12 * PS, fs="ext4")
        self.fd_rw = p0.open("/f", O_RDWR)
        self.fd_ro = p0.open("/f", O_RDONLY)
        self.fd_e = p0.open("/e", O_RDWR)
        self.fds = [self.fd_rw, self.fd_ro, self.fd_e, None]   # None: /dev/zero
        self.fd_zero = p0.open("/dev/zero", O_RDWR)
        self.procs = [p0]
        self.steps = 0

    # -- the property: a call either succeeds or fails as the kernel fails ------------
    def _proc(self, ix):
        return self.procs[ix % len(self.procs)]

    def _partial_scope(self, call, args, p):
        args = [c_value(a, t) for a, t in zip(args, C_TYPES.get(call, ()))] or list(args)
        return self._partial_scope_c(call, args, p)

    def _partial_scope_c(self, call, args, p):
        """Before a call: could a failure of it legitimately keep partial work?

        The documented cases where the kernel keeps what it did before failing: memory
        accesses (earlier pages stay touched), mprotect and madvise whose range starts in a
        VMA (they walk VMAs in order; a hole or a refusing VMA stops/flags them later), a
        same-size MREMAP_FIXED move over several VMAs (remap_move() moves piece by piece).
        """
        mm = p.mm
        if call in ("read", "write"):
            return True
        if call == "mprotect":
            return mm.vma_lookup(args[0]) is not None
        if call == "madvise":
            return bool(mm.vmas_in(args[0], args[0] + args[1]))
        if call == "mremap" and args[3] & MREMAP_FIXED and args[1] == args[2]:
            return len(mm.vmas_in(args[0], args[0] + args[1])) > 1
        if call == "mremap" and args[3] & MREMAP_FIXED:
            # mremap_to() unmaps the destination before the later checks (the source
            # range, the shrink) can fail: that unmap stays, as in the kernel.
            return bool(mm.vmas_in(args[4], args[4] + PAGE_ALIGN(args[2])))
        return False

    def _call(self, p, call, *args):
        before = fingerprint(self.k)
        snap_before = self.k.snapshot()
        partial = self._partial_scope(call, args, p)
        try:
            ret = getattr(p, call)(*args)
        except OSError as e:
            self.k.validate()
            # A MAP_FIXED address in the last page of the address space comes back as the
            # "errno" -addr (IS_ERR_VALUE()), whatever that number is.
            err_value = call == "mmap" and c_value(args[0], "unsigned long") > 2**64 - 4096
            assert e.errno in ALLOWED[call] or err_value, f"{call}{args}: unexpected errno {e}"
            assert call in str(e), f"the message names the call: {e}"
            if not (partial and (call, e.errno) in PARTIAL_ERRNOS):
                after = fingerprint(self.k)
                changed = [key for key in before if before[key] != after[key]]
                assert not changed, (f"failing {call}{tuple(hex(a) for a in args)} changed "
                                     f"{changed}\n{draw(p, NPAGES)}")
                assert self.k.snapshot() == snap_before
            return None
        except SegmentationFault:
            self.k.validate()
            assert partial
            return None
        except NotImplementedError as e:
            self.k.validate()
            assert fingerprint(self.k) == before, f"{call}{args} raised {e} after changes"
            return None
        self.k.validate()
        if call in ("mmap", "mremap"):
            assert ret % PS == 0
            v = p.mm.vma_lookup(ret)
            assert v is not None
        return ret

    # -- rules ---------------------------------------------------------------------------
    @rule(ix=proc_ix, first=page, n=npages, prot=prots, kind=st.sampled_from(MAPPINGS),
          how=st.sampled_from(["fixed", "fixed", "fixed", "noreplace", "hint"]),
          off=st.integers(0, 8))
    def mmap(self, ix, first, n, prot, kind, how, off):
        p = self._proc(ix)
        flags = {"fixed": MAP_FIXED, "noreplace": MAP_FIXED_NOREPLACE, "hint": 0}[how]
        fd, offset = -1, 0
        if kind.startswith("anon"):
            flags |= MAP_PRIVATE | MAP_ANONYMOUS
            flags |= MAP_NORESERVE if "noreserve" in kind else 0
            flags |= MAP_POPULATE if "populate" in kind else 0
        elif kind == "shared anon":
            flags |= MAP_SHARED | MAP_ANONYMOUS
        elif kind == "dev zero":
            flags |= MAP_PRIVATE
            fd, offset = self.fd_zero, off * PS
        elif kind.startswith("ext4"):
            flags |= MAP_SHARED if "shared" in kind else MAP_PRIVATE
            fd, offset = self.fd_e, off * PS
        else:
            flags |= MAP_SHARED if "shared" in kind else MAP_PRIVATE
            fd, offset = (self.fd_ro if kind.endswith("ro") else self.fd_rw), off * PS
            if fd not in p.fds:
                return
        self._call(p, "mmap", pg(first), n * PS, prot, flags, fd, offset)

    @rule(ix=proc_ix, first=page, n=npages)
    def munmap(self, ix, first, n):
        self._call(self._proc(ix), "munmap", pg(first), n * PS)

    @rule(ix=proc_ix, first=page, n=npages, prot=prots)
    def mprotect(self, ix, first, n, prot):
        self._call(self._proc(ix), "mprotect", pg(first), n * PS, prot)

    @rule(ix=proc_ix, first=page, n=npages, new_n=npages, dest=page,
          how=st.sampled_from(["in place", "maymove", "fixed", "fixed same", "dontunmap"]))
    def mremap(self, ix, first, n, new_n, dest, how):
        flags = {"in place": 0, "maymove": MREMAP_MAYMOVE, "fixed": MREMAP_MAYMOVE | MREMAP_FIXED,
                 "fixed same": MREMAP_MAYMOVE | MREMAP_FIXED,
                 "dontunmap": MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP}[how]
        if how in ("fixed same", "dontunmap"):
            new_n = n
        self._call(self._proc(ix), "mremap", pg(first), n * PS, new_n * PS, flags, pg(dest))

    @rule(ix=proc_ix, first=page, n=npages, advice=st.sampled_from(ADVICE))
    def madvise(self, ix, first, n, advice):
        self._call(self._proc(ix), "madvise", pg(first), n * PS, advice)

    @rule(ix=proc_ix, first=page, n=npages)
    def read(self, ix, first, n):
        self._call(self._proc(ix), "read", pg(first), n * PS)

    @rule(ix=proc_ix, first=page, n=npages)
    def write(self, ix, first, n):
        self._call(self._proc(ix), "write", pg(first), n * PS)

    @rule(ix=proc_ix, size=st.integers(0, 14), extra=st.sampled_from([0, 0, 100]))
    def ftruncate(self, ix, size, extra):
        """Truncation zaps every mapping of the pages past the new end, CoW copies too
        (unmap_mapping_range(even_cows=1)); growing it back brings zero-filled pages."""
        p = self._proc(ix)
        if self.fd_rw in p.fds:
            p.ftruncate(self.fd_rw, size * PS + extra)
            self.k.validate()

    def _fd(self, which):
        fd = self.fds[which]
        return self.fd_zero if fd is None else fd

    @rule(ix=proc_ix, which=st.integers(0, 3), offset=file_bytes, length=file_bytes,
          call=st.sampled_from(["pwrite", "pwrite", "pread"]))
    def file_rw(self, ix, which, offset, length, call):
        """pwrite fills the page cache (mapped pages see it, CoW copies do not), pread of a
        tmpfs hole allocates nothing, of an ext4 page reads it in; the O_RDONLY fd refuses
        pwrite (EBADF), /dev/zero takes anything."""
        p = self._proc(ix)
        fd = self._fd(which)
        if fd in p.fds:
            ret = self._call(p, call, fd, offset, length)
            assert ret is None or 0 <= ret <= length

    @rule(ix=proc_ix, which=st.integers(0, 3), mode=st.sampled_from(FALLOC_MODES),
          offset=file_bytes, length=file_bytes)
    def fallocate(self, ix, which, mode, offset, length):
        """Allocate (tmpfs: !uptodate folios that fault-around skips) or punch (page-cache
        pages leave every mapping, CoW copies stay); refused modes change nothing."""
        p = self._proc(ix)
        fd = self._fd(which)
        if fd in p.fds:
            self._call(p, "fallocate", fd, mode, offset, length)

    @rule(ix=proc_ix, which=st.integers(0, 3))
    def fsync(self, ix, which):
        p = self._proc(ix)
        fd = self._fd(which)
        if fd in p.fds:
            self._call(p, "fsync", fd)

    @precondition(lambda self: len(self.procs) < MAX_PROCS)
    @rule(ix=proc_ix)
    def fork(self, ix):
        child = self._proc(ix).fork()
        self.k.validate()
        self.procs.append(child)

    @precondition(lambda self: len(self.procs) > 1)
    @rule(ix=proc_ix)
    def exit(self, ix):
        p = self._proc(ix)
        p.exit()
        self.procs.remove(p)
        self.k.validate()

    @rule(ix=proc_ix, first=page, bad=st.sampled_from([
        ("mmap", "unaligned"), ("mmap", "zero length"), ("mmap", "no type"),
        ("munmap", "unaligned"), ("munmap", "zero length"), ("mprotect", "unaligned"),
        ("mprotect", "bad prot"), ("mremap", "zero new length"), ("mremap", "overlap"),
        ("mremap", "fixed without maymove"), ("madvise", "bad advice"),
        ("madvise", "unaligned")]))
    def bad_call(self, ix, first, bad):
        """Arguments every syscall refuses up front: EINVAL, nothing changed."""
        p = self._proc(ix)
        a = pg(first)
        call, what = bad
        args = {
            ("mmap", "unaligned"): (a + 1, PS, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            ("mmap", "zero length"): (a, 0, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED),
            ("mmap", "no type"): (a, PS, RW, MAP_ANONYMOUS | MAP_FIXED),
            ("munmap", "unaligned"): (a + 1, PS), ("munmap", "zero length"): (a, 0),
            ("mprotect", "unaligned"): (a + 1, PS, RW),
            ("mprotect", "bad prot"): (a, PS, 0x10),
            ("mremap", "zero new length"): (a, PS, 0, MREMAP_MAYMOVE, 0),
            ("mremap", "overlap"): (a, 2 * PS, 2 * PS, MREMAP_MAYMOVE | MREMAP_FIXED, a + PS),
            ("mremap", "fixed without maymove"): (a, PS, PS, MREMAP_FIXED, a + 4 * PS),
            ("madvise", "bad advice"): (a, PS, 999), ("madvise", "unaligned"): (a + 1, PS, 4),
        }[bad]
        before = fingerprint(self.k)
        try:
            getattr(p, call)(*args)
        except OSError as e:
            assert e.errno == errno.EINVAL, f"{call} {what}: {e}"
        else:
            raise AssertionError(f"{call} {what} succeeded")
        self.k.validate()
        assert fingerprint(self.k) == before

    @rule(ix=proc_ix, call=st.sampled_from(["mmap", "munmap", "mprotect", "mremap", "madvise",
                                            "read", "write"]),
          args=st.lists(hostile, min_size=5, max_size=5), extra=st.integers(0, 0x10_0000),
          kind=st.sampled_from(["anon", "shared anon", "file", "bad fd"]))
    def hostile_call(self, ix, call, args, extra, kind):
        """Any syscall with arguments drawn from negative, huge, wrapping and 2**32-aliased
        values mixed with ordinary ones: the kernel's errno, or success, and a failed call
        changes nothing (outside the kernel's own partial cases)."""
        p = self._proc(ix)
        a0, a1, a2, a3, a4 = args
        if call == "mmap":
            flags = (a3 & ~0xf) | {"anon": 0x22, "shared anon": 0x21, "file": 0x2,
                                   "bad fd": 0x2}[kind]
            flags &= ~(0x40000 | 0x100 | 0x8)    # hugetlb, growsdown, droppable: not modelled
            fd = self.fd_rw if kind == "file" and self.fd_rw in p.fds else a4 if kind == "bad fd" \
                else -1
            self._call(p, "mmap", a0, a1, a2 & 0xf, flags, fd, extra & ~0xfff)
        elif call == "munmap":
            self._call(p, "munmap", a0, a1)
        elif call == "mprotect":
            self._call(p, "mprotect", a0, a1, a2 & 0x3000007 if a2 & 1 else a2)
        elif call == "mremap":
            self._call(p, "mremap", a0, a1, a2, a3 & 0x7 if a3 & 8 else a3, a4)
        elif call == "madvise":
            self._call(p, "madvise", a0, a1, a2 & 0x1f if a2 & 0x100 else a2)
        else:
            # A user access of a huge range stops at the first unmapped page (SIGSEGV)
            # or at the machine's page-table bound (OutOfMemory): both bounded.
            self._call(p, call, a0, a1 & 0xffff_ffff)

    @invariant()
    def every_process_is_valid(self):
        if hasattr(self, "k"):
            self.k.validate()
            for p in self.procs:
                assert p.mm.map_count == len(p.mm.vmas)
                for v in p.mm.vmas:
                    if v.anon_vma is not None:
                        assert v.anon_vma.root.root is v.anon_vma.root


# Derandomized so that CI runs the same sequences every time; set RMAPKIT_FUZZ=N to explore
# N random examples instead (e.g. RMAPKIT_FUZZ=2000 python3 -m pytest tests/test_model_stateful.py).
_FUZZ = int(os.environ.get("RMAPKIT_FUZZ", "0"))
MMMachine.TestCase.settings = settings(
    max_examples=_FUZZ or 150, stateful_step_count=40, deadline=None, derandomize=not _FUZZ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TestModelStateMachine = MMMachine.TestCase
