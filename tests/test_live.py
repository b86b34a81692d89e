"""rmapkit.live: real processes driven by commands, read through /proc (needs the kernel)."""

import subprocess
import sys

import pytest

from rmapkit import live, uapi
from rmapkit.live import procfs
from rmapkit.scenarios import ScenarioError, load, parse, run_live
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE

LIVE_OK, LIVE_WHY = live.available()
needs_live = pytest.mark.skipif(not LIVE_OK, reason=f"live kernel not observable: {LIVE_WHY}")
pytestmark = pytest.mark.live

RW = uapi.PROT_READ | uapi.PROT_WRITE
PA = uapi.MAP_PRIVATE | uapi.MAP_ANONYMOUS | uapi.MAP_FIXED


def _prog(*ops, window=8):
    return {"window": [BASE, BASE + window * PAGE_SIZE], "steps": True, "files": [],
            "ops": [{"proc": p, "kind": k, "args": a} for p, k, a in ops]}


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "X"
    except FileNotFoundError:
        return True


# -- no kernel needed --------------------------------------------------------------------------
def test_live_driver_never_loads_the_model():
    """The driver's interpreter never loads rmapkit.model (tests/test_layers.py checks the
    imports of every layer on the source; this checks what actually runs)."""
    boot = live._driver_cmd()[2].replace("main(); ", "").replace("; main()", "")
    out = subprocess.run([sys.executable, "-c", boot + "; import sys; print(sorted(m for m in "
                          "sys.modules if m.startswith('rmapkit')))"],
                         capture_output=True, text=True, check=True).stdout
    assert "rmapkit.model" not in out and "rmapkit.live.child" in out


def test_hidden_pfn_is_unknown_not_guessed():
    unknown = {}
    page = procfs._page(BASE, procfs.PM_PRESENT | procfs.PM_MMAP_EXCLUSIVE, None, unknown)
    assert page.present and page.exclusive and page.frame is None and page.anon is None
    assert "CAP_SYS_ADMIN" in unknown["frame"]


# -- the kernel --------------------------------------------------------------------------------
@needs_live
def test_pages_frames_and_flags():
    r = live.run_program(_prog(
        ("P0", "mmap", {"addr": BASE, "length": 3 * PAGE_SIZE, "prot": RW, "flags": PA,
                        "fd": None, "offset": 0}),
        ("P0", "write", {"addr": BASE, "length": PAGE_SIZE}),
        ("P0", "read", {"addr": BASE + PAGE_SIZE, "length": PAGE_SIZE}),
        ("P0", "fork", {"child": "P1"}),
        ("P1", "write", {"addr": BASE + 2 * PAGE_SIZE, "length": PAGE_SIZE}),
        ("P1", "read", {"addr": BASE + 4 * PAGE_SIZE, "length": PAGE_SIZE}),
    ))
    assert r["error"] is None
    assert r["outcomes"] == [None, None, None, None, None, "SIGSEGV"]
    snap = r["snapshots"][-1]
    assert snap.source == "live" and snap.window == (BASE, BASE + 8 * PAGE_SIZE)
    p0, p1 = snap.processes
    assert [(v.vm_start, v.vm_end, v.perms, v.offset, v.name) for v in p0.vmas] == \
        [(BASE, BASE + 3 * PAGE_SIZE, "rw-p", 0, "")]
    assert {"rd", "wr", "mr", "mw", "ac"} <= set(p0.vmas[0].vm_flags)
    a0, z0, n0 = p0.pages
    a1, z1, w1 = p1.pages
    assert (a0.frame, a0.anon, a0.exclusive, a0.mapcount) == ("f0", True, False, 2)
    assert a1.frame == "f0"
    assert (z0.frame, z0.zero_page, z0.anon, z0.mapcount) == ("zero", True, False, 0)
    assert not n0.present
    assert (w1.frame, w1.anon, w1.exclusive, w1.mapcount) == ("f1", True, True, 1)
    assert "anon_vma" in snap.unknown and "vm_pgoff" in snap.unknown
    assert all(_gone(pid) for pid in r["pids"]) and len(r["pids"]) == 2


@needs_live
def test_exit_and_grandchildren_are_reaped():
    sc = parse("P0: mmap 0 1 rw private anon\nP0: write 0\nP0: fork P1\nP1: fork P2\n"
               "P1: exit\nP2: fork P3\nP0: exit\nP3: write 0\n")
    r = live.run_program(sc.program())
    assert r["error"] is None and len(r["pids"]) == 4
    assert [p.name for p in r["snapshots"][-1].processes] == ["P2", "P3"]
    assert [p.name for p in r["snapshots"][4].processes] == ["P0", "P2"]
    assert all(_gone(pid) for pid in r["pids"])


@needs_live
def test_a_crashing_process_is_contained_and_the_batch_goes_on():
    crash = _prog(("P0", "munmap", {"addr": PAGE_SIZE, "length": BASE - 2 * PAGE_SIZE}),
                  ("P0", "munmap", {"addr": BASE + 16 * PAGE_SIZE, "length": 1 << 46}))
    fine = _prog(("P0", "mmap", {"addr": BASE, "length": PAGE_SIZE, "prot": RW, "flags": PA,
                                 "fd": None, "offset": 0}))
    r1, r2 = live.run_programs([crash, fine])
    assert r1["error"] and "P0" in r1["error"]
    assert r2["error"] is None and r2["outcomes"] == [None]


@needs_live
def test_time_limit_kills_the_driver():
    slow = _prog(*[("P0", "read", {"addr": BASE, "length": PAGE_SIZE})] * 2000, window=8)
    r = live.run_programs([slow], timeout=0.05)[0]
    assert "timed out" in r["error"]


@needs_live
def test_files_memfd_and_dev_zero_names():
    r = run_live(load("memfd-shared"))
    names = {v.name for p in r.snapshot.processes for v in p.vmas}
    assert names == {"/memfd:buf (deleted)"}
    r = run_live(load("file-private-cow"))
    assert {v.name for v in r.snapshot.process("P0").vmas} == {"/tmp/rmapkit/data"}
    r = run_live(load("dev-zero-private"))
    assert r.errors and r.errors[0][1] == "SIGSEGV"
    assert [v.name for v in r.snapshot.process("P0").vmas] == ["", "/dev/zero"]


def test_fs_type_reads_mountinfo():
    assert live.fs_type("/proc/self") == "proc"
    d = live.disk_dir()
    assert d is None or live.fs_type(d) == "ext4"


@needs_live
def test_file_io_ops_and_disk_files_in_real_processes():
    """pwrite/pread return the byte counts; a ``disk`` file lives on ext4 (maps shows the
    scenario's name for it); errnos come back as names."""
    if live.disk_dir() is None:
        pytest.skip("no writable ext4 directory")
    sc = parse("file d 2 disk\nfile t 0\nP0: open d rw as D\nP0: open t rw as T\n"
               "P0: pwrite D 0.5 1\nP0: pread D 1 4\nP0: pwrite T 0 3\n"
               "P0: fallocate T 0 1 punch\nexpect EOPNOTSUPP\nP0: fsync D\n"
               "P0: mmap 0 2 r shared fd=D\n", name="io")
    r = run_live(sc)
    assert r.rets[2:5] == [PAGE_SIZE, PAGE_SIZE, 3 * PAGE_SIZE]
    assert r.outcomes[5] == "ENOTSUP"
    assert [v.name for v in r.snapshot.process("P0").vmas] == ["/tmp/rmapkit/d"]


@needs_live
def test_live_checks_expectations():
    sc = parse("P0: mmap 0 1 rw private anon\nP0: munmap 0 1\nexpect EINVAL\n", name="x")
    with pytest.raises(ScenarioError, match="x:2: succeeded but `expect EINVAL`"):
        run_live(sc)
    res = run_live(load("remap-pfn-private"))
    assert res.skipped.startswith("model-only")


@needs_live
def test_compare_with_kernel_in_one_call():
    from rmapkit.scenarios import compare_with_kernel
    d = compare_with_kernel("fork-cow")
    assert not d and "agree" in d.text() and "<table" in d._repr_html_()
    d = compare_with_kernel("P0: mmap 0 2 rw private anon\nP0: write 0 2\nP0: fork P1\n")
    assert not d
