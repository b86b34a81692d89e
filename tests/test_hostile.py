"""Hostile input: negative, 64-bit and wrapping arguments, non-integers, huge sizes.

Every syscall argument reaches the model as the C type the kernel gives it
(rmapkit.model.args): ``-4096`` as a length is ``0xfffffffffffff000``, advice ``2**32 + 4``
is ``4``.  Each case below is a sequence of syscalls after a fixed layout::

    B = 0x200000000000: 8 pages, private anon RW, all written
    01234567
    AAAAAAAA

and the answer of its last call, as this machine's Linux 6.18 gave it (the live twin,
``test_table_matches_the_live_kernel``, runs the same table through tests/hostile_probe.py
with raw 64-bit registers and compares the answer and the window's maps).  A failing call
leaves the model byte-identical (maps() and snapshot) unless the kernel itself keeps
partial work, which the case then states.
"""

import errno
import json
import os
import subprocess
import sys
import tempfile

import pytest

from modelhelpers import fingerprint
from rmapkit import Kernel, OutOfMemory
from rmapkit.model.args import c_value

B = 0x200000000000
P = 4096
M = 1 << 64
T = (1 << 47) - P                    # TASK_SIZE
SETUP = [("mmap", B, 8 * P, 3, 0x32, -1, 0), ("write", B, 8 * P)]
F = "{dir}/f"
CREAT = 0o102                        # O_CREAT | O_RDWR

# (id, steps after SETUP, answer of the last step: "ok", an errno, or a number for the
#  IS_ERR_VALUE case; "partial" marks the kernel's own partial work on failure)
CASES = [
    # -- the corrupting inputs -------------------------------------------------
    ("mmap length -4097", [("mmap", B + 0x20000, -4097, 3, 0x22, -1, 0)], errno.ENOMEM),
    ("mmap MAP_FIXED at -4096", [("mmap", -4096, P, 3, 0x32, -1, 0)], errno.ENOMEM),
    ("mmap MAP_FIXED at -4095 is an error value", [("mmap", -4095, P, 3, 0x32, -1, 0)], 4095),
    ("mmap MAP_FIXED at -1 is EPERM (errno 1)", [("mmap", -1, P, 3, 0x32, -1, 0)], errno.EPERM),
    ("mmap MAP_FIXED unaligned beyond TASK_SIZE", [("mmap", (1 << 47) + 1, P, 3, 0x32, -1, 0)],
     errno.ENOMEM),
    ("mmap MAP_FIXED unaligned", [("mmap", B + 0x30001, P, 3, 0x32, -1, 0)], errno.EINVAL),
    ("munmap length -4096", [("munmap", B + 0x2000, -4096)], errno.EINVAL),
    ("munmap at -4096", [("munmap", -4096, P)], errno.EINVAL),
    ("mremap new_addr -4096", [("mremap", B, 4 * P, P, 3, -4096)], errno.EINVAL),
    ("mremap old_len -4097", [("mremap", B + 6 * P, -4097, 9 * P, 1, 0)], errno.EINVAL),
    ("mremap new_len -4096", [("mremap", B, 8 * P, -4096, 0, 0)], errno.EINVAL),
    ("mremap new_len -4096 MAYMOVE", [("mremap", B, 8 * P, -4096, 1, 0)], errno.EINVAL),
    ("mremap FIXED new_len -4096", [("mremap", B, P, -4096, 3, B + 0x40000)], errno.EINVAL),
    ("mremap old_len 2**64-4096", [("mremap", B, M - 4096, P, 0, 0)], errno.EINVAL),
    ("mremap new_len 2**64-1 aligns to 0", [("mremap", B, P, M - 1, 0, 0)], errno.EINVAL),
    ("mremap new_len 1<<47", [("mremap", B, 8 * P, 1 << 47, 0, 0)], errno.EINVAL),
    ("mremap new_len TASK_SIZE", [("mremap", B, 8 * P, T, 1, 0)], errno.ENOMEM),
    ("mremap grow in place 1<<46", [("mremap", B, 8 * P, 1 << 46, 0, 0)], errno.ENOMEM),
    ("mremap unmapped, new_len huge", [("mremap", B + 0x100000, P, -4096, 0, 0)],
     errno.EINVAL),
    ("mremap flags 2**32+1", [("mremap", B, P, 2 * P, (1 << 32) + 1, 0)], errno.EINVAL),
    ("mremap DONTUNMAP 4096 -> 4095 (equal once aligned)",
     [("mremap", B, P, P - 1, 7, B + 0x100000)], "ok"),
    ("mremap DONTUNMAP 4096 -> 4097", [("mremap", B, P, P + 1, 7, B + 0x100000)],
     errno.EINVAL),
    # vrm_overlaps() wraps: no overlap, so the destination is unmapped before the shrink
    # (munmap of a 2**64-sized tail) fails: the kernel's own partial work.
    ("mremap FIXED old_len 2**64-4096 unmaps the destination first",
     [("mmap", B + 0x100000, P, 3, 0x32, -1, 0),
      ("mremap", B, M - 4096, P, 3, B + 0x100000)], (errno.EINVAL, "partial")),
    ("shared anon: mremap old_len 0 duplicates",
     [("mmap", B + 0x40000, 8 * P, 3, 0x31, -1, 0), ("mremap", B + 0x40000 + P, 0, 2 * P, 1, 0)],
     "ok"),
    ("shared anon: mremap old_len 0 without MAYMOVE",
     [("mmap", B + 0x40000, 8 * P, 3, 0x31, -1, 0), ("mremap", B + 0x40000 + P, 0, 2 * P, 0, 0)],
     errno.ENOMEM),
    ("private anon: mremap old_len 0", [("mremap", B + P, 0, 2 * P, 1, 0)], errno.EINVAL),
    # -- placement -------------------------------------------------------------------------
    ("hint B+0x10011 rounds down (taken)", [("mmap", B + 0x10011, P, 3, 0x22, -1, 0)], "ok"),
    ("hint B+0x100011 rounds down (free)", [("mmap", B + 0x100011, P, 3, 0x22, -1, 0)], "ok"),
    ("hint -4096 is ignored", [("mmap", -4096, P, 3, 0x22, -1, 0)], "ok"),
    # -- madvise -----------------------------------------------------------------------------
    ("madvise 5", [("madvise", B, P, 5)], errno.EINVAL),
    ("madvise 6", [("madvise", B, P, 6)], errno.EINVAL),
    ("madvise 7", [("madvise", B, P, 7)], errno.EINVAL),
    ("madvise 26", [("madvise", B, P, 26)], errno.EINVAL),
    ("madvise 100 (no CONFIG_MEMORY_FAILURE)", [("madvise", B, 0, 100)], errno.EINVAL),
    ("madvise 104", [("madvise", B, P, 104)], errno.EINVAL),
    ("madvise COLD unaligned", [("madvise", B + 1, P, 20)], errno.EINVAL),
    ("madvise COLD length 0", [("madvise", B, 0, 20)], "ok"),
    ("madvise at -4096", [("madvise", -4096, 2 * P, 4)], errno.EINVAL),
    ("madvise at -4096 length 0", [("madvise", -4096, 0, 4)], "ok"),
    ("madvise advice 2**32+4 is DONTNEED", [("madvise", B, 2 * P, (1 << 32) + 4)], "ok"),
    ("madvise advice -1", [("madvise", B, P, -1)], errno.EINVAL),
    ("madvise length -1", [("madvise", B, -1, 4)], errno.EINVAL),
    ("madvise length -4096", [("madvise", B, -4096, 4)], errno.EINVAL),
    # -- mprotect ----------------------------------------------------------------------------
    ("mprotect length 0, bad prot", [("mprotect", B, 0, 0x10)], "ok"),
    ("mprotect wrapping, bad prot", [("mprotect", -4096, 2 * P, 0x10)], errno.ENOMEM),
    ("mprotect unaligned, bad prot", [("mprotect", B + 1, P, 0x10)], errno.EINVAL),
    ("mprotect prot 2**32+1", [("mprotect", B, P, (1 << 32) + 1)], errno.EINVAL),
    ("mprotect GROWSDOWN|GROWSUP", [("mprotect", B + 1, P, 0x03000000)], errno.EINVAL),
    ("mprotect GROWSDOWN", [("mprotect", B, P, 0x01000003)], errno.EINVAL),
    ("mprotect GROWSUP", [("mprotect", B, P, 0x02000003)], errno.EINVAL),
    ("mprotect GROWSDOWN unmapped", [("mprotect", B + 0x100000, P, 0x01000003)], errno.ENOMEM),
    ("mprotect length -1", [("mprotect", B, -1, 1)], errno.ENOMEM),
    ("mprotect length 2**64-8192", [("mprotect", B, M - 8192, 1)], errno.ENOMEM),
    # -- mmap flags and types ----------------------------------------------------------------
    ("anon MAP_SHARED_VALIDATE", [("mmap", 0, P, 3, 0x23, -1, 0)], errno.EINVAL),
    ("anon MAP_SHARED_VALIDATE|unknown", [("mmap", 0, P, 3, 0x23 | 0x800000, -1, 0)],
     errno.EINVAL),
    ("anon MAP_SHARED|MAP_SYNC", [("mmap", 0, P, 3, 0x21 | 0x80000, -1, 0)], "ok"),
    ("anon type 0", [("mmap", 0, P, 3, 0x20, -1, 0)], errno.EINVAL),
    ("anon type 0, length -1", [("mmap", 0, -1, 3, 0x20, -1, 0)], errno.ENOMEM),
    ("anon fd 2**32-1 is ignored", [("mmap", 0, P, 3, 0x22, (1 << 32) - 1, 0)], "ok"),
    ("length 2**64-4095", [("mmap", 0, M - 4095, 3, 0x22, -1, 0)], errno.ENOMEM),
    ("length 0", [("mmap", 0, 0, 3, 0x22, -1, 0)], errno.EINVAL),
    ("anon offset -4096 is ignored", [("mmap", 0, P, 3, 0x22, -1, -4096)], "ok"),
    ("file mapping with fd 77", [("mmap", 0, P, 3, 0x02, 77, 0)], errno.EBADF),
    ("file mapping with fd -1", [("mmap", 0, P, 3, 0x02, -1, 0)], errno.EBADF),
    # -- memory size: the machine's RAM (no swap) bounds what may be committed ----------------
    ("1 TiB populate", [("mmap", 0, 1 << 40, 3, 0x8022, -1, 0)], errno.ENOMEM),
    ("1 TiB MAP_NORESERVE", [("mmap", 0, 1 << 40, 3, 0x4022, -1, 0)], "ok"),
    ("1 TiB shared anon", [("mmap", 0, 1 << 40, 3, 0x21, -1, 0)], errno.ENOMEM),
    ("1 TiB shared anon MAP_NORESERVE", [("mmap", 0, 1 << 40, 3, 0x4021, -1, 0)], "ok"),
    # -- files -------------------------------------------------------------------------------
    ("memfd name of 249 bytes", [("memfd_create", "a" * 249, 0)], "ok"),
    ("memfd name of 250 bytes", [("memfd_create", "a" * 250, 0)], errno.EINVAL),
    ("memfd unknown flags", [("memfd_create", "x", 0x100)], errno.EINVAL),
    ("memfd flags 2**32 are 0", [("memfd_create", "x", 1 << 32)], "ok"),
    ("ftruncate 2**63", [("memfd_create", "x", 0), ("ftruncate", "$2", 1 << 63)], errno.EINVAL),
    ("ftruncate -1", [("memfd_create", "x", 0), ("ftruncate", "$2", -1)], errno.EINVAL),
    ("ftruncate 2**62", [("memfd_create", "x", 0), ("ftruncate", "$2", 1 << 62)], "ok"),
    ("ftruncate -1 on a bad fd: EINVAL first", [("ftruncate", 999, -1)], errno.EINVAL),
    ("ftruncate fd 2**32+3 is fd 3", [("memfd_create", "x", 0), ("ftruncate", (1 << 32) + 3, P)],
     "ok"),
    ("open O_CREAT|O_EXCL of an existing file", [("open", F, CREAT, 0o600),
                                                  ("open", F, 0o302, 0o600)], errno.EEXIST),
    ("open O_EXCL without O_CREAT", [("open", F, CREAT, 0o600), ("open", F, 0o202, 0)], "ok"),
    ("open access mode 3, then mmap", [("open", F, CREAT, 0o600), ("open", F, 3, 0),
                                       ("mmap", 0, P, 1, 2, "$3", 0)], errno.EACCES),
    ("file mmap, bad type, huge offset", [("open", F, CREAT, 0o600),
                                          ("mmap", 0, P, 1, 0, "$2", M - P)], errno.EOVERFLOW),
    ("file mmap, bad type", [("open", F, CREAT, 0o600), ("mmap", 0, P, 1, 0, "$2", 0)],
     errno.EINVAL),
    ("file mmap, offset 2**63", [("open", F, CREAT, 0o600), ("mmap", 0, P, 1, 2, "$2", 1 << 63)],
     errno.EOVERFLOW),
    ("file MAP_SHARED_VALIDATE|unknown", [("open", F, CREAT, 0o600),
                                           ("mmap", 0, P, 1, 3 | 0x800000, "$2", 0)],
     errno.EOPNOTSUPP),
    ("file MAP_SHARED_VALIDATE|MAP_SYNC", [("open", F, CREAT, 0o600),
                                            ("mmap", 0, P, 1, 3 | 0x80000, "$2", 0)],
     errno.EOPNOTSUPP),
    ("file MAP_SHARED|MAP_SYNC is ignored", [("open", F, CREAT, 0o600),
                                             ("mmap", 0, P, 1, 1 | 0x80000, "$2", 0)], "ok"),
    ("file MAP_PRIVATE|MAP_SYNC is ignored", [("open", F, CREAT, 0o600),
                                              ("mmap", 0, P, 1, 2 | 0x80000, "$2", 0)], "ok"),
    ("file MAP_SHARED_VALIDATE|MAP_FIXED_NOREPLACE",
     [("open", F, CREAT, 0o600), ("mmap", B + 0x80000, P, 1, 3 | 0x100000, "$2", 0)],
     errno.EOPNOTSUPP),
    ("file MAP_SHARED|MAP_FIXED_NOREPLACE", [("open", F, CREAT, 0o600),
                                             ("mmap", B + 0x80000, P, 1, 1 | 0x100000, "$2", 0)],
     "ok"),
    ("memfd MAP_SHARED_VALIDATE|MAP_SYNC", [("memfd_create", "x", 0),
                                             ("mmap", 0, P, 1, 3 | 0x80000, "$2", 0)],
     errno.EOPNOTSUPP),
    ("/dev/zero MAP_SHARED_VALIDATE", [("open", "/dev/zero", 2, 0), ("mmap", 0, P, 3, 3, "$2", 0)],
     "ok"),
    ("/dev/zero MAP_SHARED_VALIDATE|MAP_SYNC", [("open", "/dev/zero", 2, 0),
                                                 ("mmap", 0, P, 3, 3 | 0x80000, "$2", 0)],
     errno.EOPNOTSUPP),
]


def _model_args(args, results):
    out = []
    for a in args:
        if isinstance(a, str) and a.startswith("$"):
            a = results[int(a[1:])]
        elif isinstance(a, str):
            a = a.replace("{dir}", "")
        out.append(a)
    return out


def run_model(steps, k=None):
    """Run ``SETUP + steps`` in a fresh model; return (last answer, process, kernel, state
    before the last step)."""
    k = k or Kernel()
    p = k.spawn()
    results, before, answer = [], None, None
    steps = SETUP + steps
    for i, (call, *args) in enumerate(steps):
        args = _model_args(args, results)
        if call == "open":
            args = args[:2]
        if i == len(steps) - 1:
            before = (fingerprint(k), p.maps(), k.snapshot())
        try:
            r = getattr(p, call)(*args)
            answer = "ok"
        except OSError as e:
            r, answer = -e.errno, e.errno
        results.append(0 if r is None else r)
        k.validate()
    return answer, p, k, before


def _expected(want):
    return want if not isinstance(want, tuple) else want[0]


@pytest.mark.parametrize("name, steps, want", CASES, ids=[c[0] for c in CASES])
def test_model_answers_as_the_kernel(name, steps, want):
    answer, p, k, before = run_model(steps)
    assert answer == _expected(want), f"{name}: model says {answer}, kernel says {want}"
    partial = isinstance(want, tuple) and "partial" in want
    if answer != "ok" and not partial:
        fp, maps, snap = before
        assert fingerprint(k) == fp and p.maps() == maps and k.snapshot() == snap, \
            f"{name}: the failing call changed the model"


def test_partial_destination_unmap_is_what_the_kernel_keeps():
    """The MREMAP_FIXED case above: the destination page is gone, the source intact."""
    answer, p, k, _ = run_model(CASES[[c[0] for c in CASES].index(
        "mremap FIXED old_len 2**64-4096 unmaps the destination first")][1])
    assert answer == errno.EINVAL
    assert p.maps() == "200000000000-200000008000 rw-p 00000000 00:00 0 \n"


# --------------------------------------------------------------------------------------
# The same table on this machine's kernel
# --------------------------------------------------------------------------------------

def _window_maps(lines):
    """(start, end, perms) of each maps line: inode and device numbers differ by machine."""
    out = []
    for line in lines:
        rng, perms = line.split()[:2]
        a, b = (int(x, 16) for x in rng.split("-"))
        out.append((a, b, perms))
    return out


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                    reason="the table is x86-64 Linux's answers")
def test_table_matches_the_live_kernel():
    """Each case in a forked child of a throwaway process, raw 64-bit syscall arguments;
    the answer and the window's maps (B .. B + 1 GiB) must be the model's."""
    window = [B, B + (1 << 30)]
    # The model's files live on tmpfs (no DAX, no MAP_SYNC), as the live scenarios' do.
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as d:
        out = []
        for _, steps, _ in CASES:
            if os.path.exists(d + "/f"):
                os.unlink(d + "/f")
            req = {"window": window, "dir": d, "cases": [[list(s) for s in SETUP + steps]]}
            r = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__),
                                                             "hostile_probe.py")],
                               input=json.dumps(req), capture_output=True, text=True,
                               timeout=60)
            out.append(json.loads(r.stdout)[0])
    bad = []
    for (name, steps, want), (res, maps) in zip(CASES, out):
        if res and res[0] in ("error", "signal"):
            bad.append(f"{name}: the probe failed: {res}")
            continue
        last = res[-1]
        live = "ok" if last >= 0 and last < M - 4095 else (M - last if last >= M - 4095
                                                               else -last)
        live = -last if last < 0 else live
        if live != _expected(want):
            bad.append(f"{name}: kernel {live}, table {want}")
            continue
        _, p, _, _ = run_model(steps)
        mine = [(v.vm_start, v.vm_end) for v in p.mm.vmas if v.vm_start < window[1]
                and v.vm_end > window[0]]
        if mine != [(a, b) for a, b, _ in _window_maps(maps)]:
            bad.append(f"{name}: window maps differ: kernel {maps}, model {p.maps()}")
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------------------
# Non-integers, exited processes, RAM
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, args", [
    ("mmap", (None, P, 3, 0x22)), ("mmap", (0, 4096.0, 3, 0x22)), ("mmap", (0, "4096", 3, 0x22)),
    ("mmap", (0, P, 3, 0x22, None)), ("mmap", (0, True, 3, 0x22)),
    ("munmap", (B, None)), ("mprotect", (B, P, 1.0)), ("mremap", (B, P, 2 * P, None)),
    ("madvise", (B, P, 4.0)), ("read", (B, None)), ("write", (None, P)),
    ("memfd_create", (None,)), ("memfd_create", (b"x",)), ("memfd_create", ("x", 0.0)),
    ("open", (None,)), ("open", ("/dev/zero", "rw")), ("ftruncate", (3, 4096.0)),
    ("close", (None,)),
])
def test_non_integers_are_type_errors_before_any_change(call, args):
    k = Kernel()
    p = k.spawn()
    p.mmap(B, 8 * P, 3, 0x32)
    p.write(B, 8 * P)
    before = fingerprint(k)
    with pytest.raises(TypeError, match=call):
        getattr(p, call)(*args)
    assert fingerprint(k) == before


def test_c_conversions():
    assert c_value(-1, "unsigned long") == M - 1
    assert c_value(M + 5, "size_t") == 5
    assert c_value((1 << 32) + 4, "int") == 4
    assert c_value((1 << 31), "int") == -(1 << 31)
    assert c_value(-1, "unsigned int") == (1 << 32) - 1
    assert c_value(1 << 63, "off_t") == -(1 << 63)


def test_an_exited_process_answers_esrch():
    k = Kernel()
    p = k.spawn()
    child = p.fork()
    child.exit()
    for call, args in [("mmap", (0, P, 3, 0x22)), ("munmap", (B, P)), ("read", (B, P)),
                       ("fork", ()), ("exit", ()), ("close", (3,)), ("memfd_create", ("x",))]:
        with pytest.raises(ProcessLookupError) as e:
            getattr(child, call)(*args)
        assert e.value.errno == errno.ESRCH and call in str(e.value)
    with pytest.raises(OSError) as e:                 # what classify() and widgets see
        child.mmap(0, P, 3, 0x22)
    assert e.value.errno == errno.ESRCH


def test_ram_size_bounds_commit_and_faults():
    """vm_enough_memory() in OVERCOMMIT_GUESS: one request may not exceed RAM; with
    MAP_NORESERVE the mapping is made and faults stop when RAM runs out."""
    k = Kernel(totalram_pages=64)
    p = k.spawn()
    with pytest.raises(OSError) as e:
        p.mmap(0, 65 * P, 3, 0x8022)               # MAP_POPULATE: refused at once
    assert e.value.errno == errno.ENOMEM
    a = p.mmap(0, 64 * P, 3, 0x22)                  # exactly RAM: allowed
    b = p.mmap(0, 100 * P, 3, 0x4022 | 0x8000)      # NORESERVE|POPULATE: stops at RAM
    k.validate()
    assert k.physmem.nr_allocated == 64
    with pytest.raises(OutOfMemory):
        p.write(a, P)
    k.validate()
    # mprotect making a huge read-only private mapping writable commits it: ENOMEM
    c = p.mmap(0, 1000 * P, 1, 0x22)
    with pytest.raises(OSError) as e:
        p.mprotect(c, 1000 * P, 3)
    assert e.value.errno == errno.ENOMEM
    # mremap growing an accounted mapping past RAM
    with pytest.raises(OSError) as e:
        p.mremap(a, 64 * P, 1000 * P, 1)
    assert e.value.errno == errno.ENOMEM
    k.validate()
    assert b


def test_overcommit_always_and_bad_settings():
    k = Kernel(totalram_pages=64, overcommit_memory=1)
    k.spawn().mmap(0, 1 << 40, 3, 0x22)
    with pytest.raises(ValueError, match="not modelled"):
        Kernel(overcommit_memory=2)
    with pytest.raises(TypeError):
        Kernel(totalram_pages=-1)


def test_huge_populate_and_reads_fail_fast():
    """The default machine: 1 TiB MAP_POPULATE is ENOMEM at once; reading a 1 TiB
    MAP_NORESERVE mapping stops at the page-table bound (totalram_pages PTEs)."""
    k = Kernel(totalram_pages=4096)
    p = k.spawn()
    with pytest.raises(OSError) as e:
        p.mmap(0, 1 << 40, 3, 0x8022)
    assert e.value.errno == errno.ENOMEM
    a = p.mmap(0, 1 << 40, 1, 0x4022)
    with pytest.raises(OutOfMemory):
        p.read(a, 1 << 40)
    assert len(p.mm.pgtable) == 4096
    k.validate()


def test_setup_arguments_are_checked():
    k = Kernel()
    with pytest.raises(TypeError):
        k.create_file(None, 10)
    with pytest.raises(ValueError):
        k.create_file("/f", -1)
    with pytest.raises(ValueError, match="overlap"):
        k.create_device("/d1", 0x100000, 16) and k.create_device("/d2", 0x100008, 16)
    with pytest.raises(ValueError, match="highest physical frame"):
        k.create_device("/d3", 1 << 40, 1)


# --------------------------------------------------------------------------------------
# Scenario files and the CLI
# --------------------------------------------------------------------------------------

def test_cli_reads_only_regular_files_of_bounded_size(tmp_path, capsys):
    from rmapkit import cli
    from rmapkit.scenarios.library import MAX_SCENARIO_BYTES
    zero = tmp_path / "zero.scn"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.scn"
    os.mkfifo(fifo)
    big = tmp_path / "big.scn"
    big.write_text("P0: mmap 0 1 rw private anon\n" * (MAX_SCENARIO_BYTES // 28 + 10))
    for path, why in ((zero, "not a regular file"), (fifo, "not a regular file"),
                      (big, "a scenario file may have at most"), (tmp_path, "not a regular")):
        for cmd in ("show", "run", "diff"):
            assert cli.main([cmd, str(path)]) == 2, (cmd, path)
            assert why in capsys.readouterr().err


@pytest.mark.parametrize("text, problem", [
    ("P0: line write 0", "unknown op 'line'"),
    ("P0: run 0", "unknown op 'run'"),
    ("P0: fail x", "unknown op 'fail'"),
    ("device a 4 pfn=0x100000\ndevice b 4 pfn=0x100002\nmodel-only x\nP0: munmap 0 1",
     "overlap device a's"),
    ("device a 0 pfn=0x100000\nmodel-only x\nP0: munmap 0 1", "at least 1"),
])
def test_parser_refuses_its_own_methods_and_overlapping_devices(text, problem):
    from rmapkit.scenarios import ScenarioError, parse
    with pytest.raises(ScenarioError, match=problem):
        parse(text)


@pytest.mark.parametrize("device", ["pfn=16", "pfn=14", f"pfn={1 << 40}"])
def test_a_device_the_model_refuses_is_a_clean_exit_2(tmp_path, capsys, device):
    from rmapkit import cli
    f = tmp_path / "dev.scn"
    f.write_text(f"device d 4 {device}\nmodel-only devices\nP0: munmap 0 1\n")
    assert cli.main(["run", str(f)]) == 2
    err = capsys.readouterr().err
    assert "device d:" in err and "Traceback" not in err


def test_diff_exits_2_when_an_expect_fails_even_if_both_agree(tmp_path, capsys, monkeypatch):
    """Model and 'kernel' agree (the live side replaced by a second model run), but the
    scenario's expect did not hold: 2, as `run` gives."""
    import rmapkit.scenarios as scenarios
    from rmapkit import cli
    f = tmp_path / "e.scn"
    f.write_text("P0: mmap 0 1 rw private anon\nexpect EINVAL\n")

    def fake_live(sc, strict=False, **kw):
        res = scenarios.run_model(sc, strict=False)
        res.source = "live"
        return res
    monkeypatch.setattr(scenarios, "run_live", fake_live)
    assert cli.main(["run", str(f)]) == 2
    capsys.readouterr()
    assert cli.main(["diff", str(f)]) == 2
    assert "expect" in capsys.readouterr().err.lower()


def test_diff_of_a_live_driver_timeout_is_cannot_run(capsys, monkeypatch):
    """A live driver that times out (here: given 10 ms) is "cannot run" (2), not "differ"."""
    from rmapkit import cli, live
    monkeypatch.setattr(live, "BATCH_TIMEOUT", 0.01)
    monkeypatch.setattr(live, "PROGRAM_TIMEOUT", 0.0)
    assert cli.main(["diff", "split"]) == 2
    err = capsys.readouterr().err
    assert "cannot run split on the live kernel" in err


# --------------------------------------------------------------------------------------
# Views of crowded and huge layouts
# --------------------------------------------------------------------------------------

def _many_vmas(n, write=True):
    """``n`` one-page VMAs side by side (alternating protections, so none merge)."""
    k = Kernel()
    p = k.spawn()
    for i in range(n):
        p.mmap(B + i * P, P, 3 if i % 2 == 0 else 1, 0x32)
        if write and i % 2 == 0:
            p.write(B + i * P, P)
    return k, p


def test_letters_run_on_past_z():
    from rmapkit.render import ruler, vma_letters
    from rmapkit.render.ruler import LETTERS
    k, p = _many_vmas(64)
    snap = k.snapshot(window=(B, B + 64 * P))
    line = vma_letters(snap)
    assert len(line) == 64 and len(set(line)) == 64 and line.startswith("ABC")
    assert line[52:] == LETTERS[52:64]                     # Greek after z
    assert "z" in ruler(snap) and "Traceback" not in ruler(snap)


def test_a_view_with_more_vmas_than_letters_says_so():
    from rmapkit.render.ascii import address_space_ascii, diff_ascii
    from rmapkit.render.ruler import LETTERS
    k, p = _many_vmas(len(LETTERS) + 8, write=False)
    before = k.snapshot()
    p.munmap(B, 2 * P)
    text = diff_ascii(before, k.snapshot())
    assert text.startswith("(too crowded to draw:") and "narrower window" in text
    assert "Greek" not in address_space_ascii(before, npages=64)   # 64 columns still draw


@pytest.mark.skipif(not __import__("shutil").which("dot"), reason="needs Graphviz dot")
def test_svg_of_a_crowded_graph_is_never_empty():
    """~100 written VMAs: the alt text passes 16 KiB, which made dot 2.43 print nothing;
    the alt text now goes to <desc> only, and an empty answer falls back to text."""
    from rmapkit.render import to_dot
    from rmapkit.render.display import to_svg
    k, p = _many_vmas(200)
    dot = to_dot(k.snapshot())
    assert len(dot) > 16384
    svg = to_svg(dot)
    assert "<g id=\"graph0\"" in svg and "<desc" in svg


def test_svg_falls_back_to_text_when_dot_draws_nothing(monkeypatch):
    from rmapkit.render import display
    monkeypatch.setattr(display, "svg_backend", lambda dot_text=None: "dot")
    monkeypatch.setattr(display, "_render", lambda dot_text, backend: "")
    svg = display.to_svg("// title: t\n// desc: d\ndigraph { a }", fallback_text="TEXT VIEW")
    assert "produced no picture" in svg and "TEXT VIEW" in svg and "<svg" in svg


def test_open_o_trunc_empties_the_file_and_its_mappings():
    """open(O_TRUNC) of a written, mapped file: i_size 0, the page cache and every PTE gone.

    fs/namei.c: do_open() -> handle_truncate() -> do_truncate(); the mapped pages go
    through truncate_pagecache(), so a later access is SIGBUS (checked on 6.18.44: the
    mapping stays in maps, its pages leave pagemap).
    """
    from rmapkit import BusError
    k = Kernel()
    k.create_file("/t", 0)
    p = k.spawn()
    fd = p.open("/t", 0o2)                       # O_RDWR
    assert p.pwrite(fd, 0, 2 * P) == 2 * P
    a = p.mmap(0, 2 * P, 3, 0x01, fd)            # MAP_SHARED
    p.read(a, 2 * P)
    assert p.page_at(a) is not None and k.inodes["/t"].size == 2 * P
    maps_before = p.maps()
    fd2 = p.open("/t", 0o1002)                   # O_RDWR | O_TRUNC
    assert fd2 != fd and k.inodes["/t"].size == 0
    assert p.page_at(a) is None and p.page_at(a + P) is None
    assert p.maps() == maps_before               # the VMA stays; only its pages go
    with pytest.raises(BusError):
        p.read(a, P)
    k.validate()
    # a second O_TRUNC of the now empty file changes nothing
    p.open("/t", 0o1002)
    assert k.inodes["/t"].size == 0


# MAP_SYNC on tmpfs and ext4 (no DAX here), each map type, read-write and read-only fds.
# do_mmap() sets VM_SYNC before it looks at the map type (so MAP_SHARED keeps it though it
# drops the bit from the flags it checks); ext4 is FOP_MMAP_SYNC, so MAP_SHARED_VALIDATE
# passes the flag check and ext4_file_mmap_prepare() refuses, after the fmode checks.
_SYNC_TYPES = [("PRIVATE", 0x02), ("SHARED", 0x01), ("SHARED_VALIDATE", 0x03)]


def _map_sync_model(fs):
    from rmapkit.model.vmflags import VM_SYNC
    k = Kernel()
    p = k.spawn()
    k.create_file("/tmp/rmapkit/sync", 4 * P, fs=fs)
    out = {}
    for mode in (os.O_RDWR, os.O_RDONLY):
        fd = p.open("/tmp/rmapkit/sync", mode)
        for name, maptype in _SYNC_TYPES:
            try:
                a = p.mmap(0, P, 3, maptype | 0x80000, fd, 0)
                out[mode, name] = "sf" if p.mm.find_vma(a).vm_flags & VM_SYNC else "ok"
            except OSError as e:
                out[mode, name] = errno.errorcode[e.errno]
    k.validate()
    return out


def _map_sync_live(directory):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    fd0, path = tempfile.mkstemp(dir=directory)
    out = {}
    try:
        os.write(fd0, b"\0" * 4 * P)
        for mode in (os.O_RDWR, os.O_RDONLY):
            fd = os.open(path, mode)
            try:
                for name, maptype in _SYNC_TYPES:
                    a = libc.mmap(None, P, 3, maptype | 0x80000, fd, 0)
                    if a == ctypes.c_void_p(-1).value:
                        out[mode, name] = errno.errorcode[ctypes.get_errno()]
                        continue
                    with open("/proc/self/smaps") as f:
                        smaps = f.read().split("\n")
                    i = next(i for i, line in enumerate(smaps) if line.startswith(f"{a:x}-"))
                    flags = next(line for line in smaps[i:] if line.startswith("VmFlags:"))
                    out[mode, name] = "sf" if " sf" in flags else "ok"
                    libc.munmap(a, P)
            finally:
                os.close(fd)
    finally:
        os.close(fd0)
        os.unlink(path)
    return out


def test_map_sync_as_the_kernel_answers_it():
    tmpfs, ext4 = _map_sync_model("tmpfs"), _map_sync_model("ext4")
    rw, ro = os.O_RDWR, os.O_RDONLY
    NS = errno.errorcode[errno.EOPNOTSUPP]        # "ENOTSUP": the same number on Linux
    assert tmpfs == {(rw, "PRIVATE"): "sf", (rw, "SHARED"): "sf",
                     (rw, "SHARED_VALIDATE"): NS, (ro, "PRIVATE"): "sf",
                     (ro, "SHARED"): "EACCES", (ro, "SHARED_VALIDATE"): NS}
    assert ext4 == {(rw, "PRIVATE"): NS, (rw, "SHARED"): NS,
                    (rw, "SHARED_VALIDATE"): NS, (ro, "PRIVATE"): NS,
                    (ro, "SHARED"): "EACCES", (ro, "SHARED_VALIDATE"): "EACCES"}


@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux /proc/self/smaps")
@pytest.mark.parametrize("fs", ["tmpfs", "ext4"])
def test_map_sync_matches_the_live_kernel(fs):
    from rmapkit.live import disk_dir, fs_type
    if fs == "ext4":
        directory = disk_dir()
        if directory is None:
            pytest.skip("no writable ext4 directory here (set RMAPKIT_DISK_DIR)")
    else:
        directory = "/dev/shm"
        if not os.access(directory, os.W_OK) or fs_type(directory) != "tmpfs":
            pytest.skip("/dev/shm is not a writable tmpfs here")
    assert _map_sync_live(directory) == _map_sync_model(fs)
