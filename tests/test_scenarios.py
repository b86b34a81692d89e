"""The scenario format, the parser's errors, the shipped library, the model runner, the diff
and the command line (everything here runs without the live kernel)."""

import errno
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from rmapkit import cli, uapi
from rmapkit.scenarios import (ScenarioError, compare, load, names, parse, run_model)
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE
from rmapkit.scenarios.generate import random_scenario
from rmapkit.errors import BusError, SegmentationFault
from rmapkit.scenarios.run import FILES_DIR, classify
from rmapkit.snapshot import PageView, ProcessView, Snapshot, VMAView

SEED_EXAMPLES = ["split", "anon0-fd-anon1", "mmap-before", "mremap-faulted", "mremap-unfaulted",
                 "fork-cow", "fork-chain", "mprotect-split-merge", "remap-pfn-private",
                 "remap-pfn-shared"]


# -- parsing ---------------------------------------------------------------------------------
def test_parse_lowers_pages_to_absolute_arguments():
    sc = parse("window 8\nP0: mmap 3 2 rw private anon fixed noreserve\nP0: write 3\n"
               "P0: mremap 3 2 2 to 6 dontunmap\nP0: madvise 6 1 dontneed\n")
    mmap, write, mremap, madv = sc.ops
    assert mmap.args == {"addr": BASE + 3 * PAGE_SIZE, "length": 2 * PAGE_SIZE,
                         "prot": uapi.PROT_READ | uapi.PROT_WRITE,
                         "flags": uapi.MAP_PRIVATE | uapi.MAP_ANONYMOUS | uapi.MAP_FIXED
                         | uapi.MAP_NORESERVE, "fd": None, "offset": 0}
    assert write.args == {"addr": BASE + 3 * PAGE_SIZE, "length": PAGE_SIZE}
    assert mremap.args["flags"] == (uapi.MREMAP_MAYMOVE | uapi.MREMAP_FIXED
                                    | uapi.MREMAP_DONTUNMAP)
    assert mremap.args["new_addr"] == BASE + 6 * PAGE_SIZE
    assert madv.args["advice"] == uapi.MADV_DONTNEED
    assert sc.window == (BASE, BASE + 8 * PAGE_SIZE)


def test_description_expect_and_processes():
    sc = parse("# The title.\n# More.\n\nwindow 4\nP0: mmap 0 1 rw private anon\n"
               "P0: mmap 0 1 rw private anon noreplace\nexpect EEXIST\n"
               "P0: fork child   # a comment\nchild: write 2 expect sigsegv\nchild: exit\n")
    assert sc.description == "The title.\nMore."
    assert [op.expect for op in sc.ops] == [None, "EEXIST", None, "SIGSEGV", None]
    assert sc.processes() == ["P0", "child"]
    again = parse(sc.text())
    assert [(o.text, o.args, o.expect) for o in again.ops] == \
        [(o.text, o.args, o.expect) for o in sc.ops]


def test_file_io_ops_lower_pages_to_bytes_and_disk_files_round_trip():
    sc = parse("file data 4\nfile d 2 disk\nP0: open data rw as F\nP0: pwrite F 1.5 0.25\n"
               "P0: pread F 0 3\nP0: fallocate F 1 2 keep punch\nP0: fsync F\n"
               "P0: ftruncate F 2.5\nP0: fallocate F 0 1 punch expect EOPNOTSUPP\n")
    pw, pr, fa, fs, ft, fa2 = sc.ops[1:]
    assert pw.args == {"fd": "F", "offset": 6144, "length": 1024}
    assert pr.args == {"fd": "F", "offset": 0, "length": 3 * PAGE_SIZE}
    assert fa.args == {"fd": "F", "offset": PAGE_SIZE, "length": 2 * PAGE_SIZE,
                       "mode": uapi.FALLOC_FL_KEEP_SIZE | uapi.FALLOC_FL_PUNCH_HOLE}
    assert fs.args == {"fd": "F"} and ft.args == {"fd": "F", "length": 10240}
    assert fa2.expect == "ENOTSUP"               # errno 95 has one name: EOPNOTSUPP too
    assert sc.file_system("d") == "ext4" and sc.file_system("data") == "tmpfs"
    again = parse(sc.text())
    assert (again.files, again.file_systems) == (sc.files, sc.file_systems)
    assert [[n, sz, fs] for n, sz, fs in sc.program()["files"]] == \
        [["data", 4 * PAGE_SIZE, "tmpfs"], ["d", 2 * PAGE_SIZE, "ext4"]]


@pytest.mark.parametrize("text, line, problem", [
    ("file f 1\nP0: open f rw as F\nP0: pwrite F 0", 3, "usage: pwrite FD OFFSET LENGTH"),
    ("file f 1\nP0: open f rw as F\nP0: pread F 0 1/3", 3, "not a whole number of bytes"),
    ("file f 1\nP0: open f rw as F\nP0: pread F x 1", 3, "offset must be a number of pages"),
    ("file f 1\nP0: open f rw as F\nP0: fallocate F 0 1 sideways", 3,
     "unknown fallocate word 'sideways'"),
    ("file f 1 nfs\nP0: munmap 0 1", 1, "usage: file NAME PAGES [tmpfs|disk]"),
    ("P0: fsync G", 1, "P0 has no file descriptor 'G'"),
    ("P0: mmap 0 3 rw privte anon", 1, "unknown mmap word 'privte'"),
    ("window 4\nP0: mmap 3 2 rw private anon", 2, "outside the 4-page window"),
    ("P0: mmap 0 1 rq private anon", 1, "bad protection 'rq'"),
    ("P0: mmap 0 1 rw private", 1, "say what is mapped"),
    ("P0: munmap 0", 1, "expected 2 argument(s)"),
    ("P1: write 0", 1, "process P1 does not exist"),
    ("P0: fork P1\nP1: exit\nP1: write 0", 3, "process P1 has exited"),
    ("P0: mmap 0 1 rw private fd=F", 1, "P0 has no file descriptor 'F'"),
    ("P0: open data rw as F", 1, "no file 'data'"),
    ("P0: mremap 0 1 2 maymove", 1, "a move needs a destination inside the window"),
    ("P0: mremap 0 1 1 dontunmap", 1, "a move needs a destination"),
    ("P0: munmap 0 1\nexpect EWHAT", 2, "unknown errno 'EWHAT'"),
    ("expect EINVAL\nP0: munmap 0 1", 1, "`expect` must follow the op"),
    ("P0: munmap 0 1\nwindow 8", 2, "`window` must come once, before the first op"),
    ("P0: frobnicate 1", 1, "unknown op 'frobnicate'"),
    ("wibble", 1, "unknown line 'wibble'"),
    ("P0: madvise 0 1 sideways", 1, "unknown advice 'sideways'"),
    ("window 9999\nP0: munmap 0 1", 1, "at most 2048 pages"),
    ("P0: munmap x 1", 1, "page number must be a whole number, not 'x'"),
    ("device d 4 pfn=16\nP0: open d rw as D", 2, "exists only in the model"),
    ("# only a comment", None, "the scenario has no ops"),
])
def test_parse_errors_name_line_and_problem(text, line, problem):
    with pytest.raises(ScenarioError) as e:
        parse(text, name="t.scn")
    assert e.value.line == line
    assert problem in str(e.value)
    if line:
        assert str(e.value).startswith(f"t.scn:{line}: ")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(
    ["P0:", "P1:", "mmap", "munmap", "mremap", "fork", "exit", "expect", "to", "0", "1", "3",
     "-1", "99", "rw", "r-x", "private", "shared", "anon", "fd=F", "off=2", "fixed", "window",
     "file", "open", "memfd", "as", "F", "dontunmap", "#", "\n", "write", "EINVAL", "x=",
     "device", "pfn=1", "model-only", "pwrite", "pread", "fallocate", "fsync", "1.5",
     "punch", "keep", "disk"]), max_size=30))
def test_parser_never_raises_anything_else(words):
    """Any text either parses, and then round-trips through Scenario.text(), or raises
    ScenarioError (and nothing else)."""
    try:
        sc = parse(" ".join(words))
    except ScenarioError:
        return
    again = parse(sc.text())
    assert [(o.proc, o.kind, o.args, o.expect) for o in again.ops] == \
        [(o.proc, o.kind, o.args, o.expect) for o in sc.ops]


def test_load_errors_are_scenario_errors(tmp_path):
    with pytest.raises(ScenarioError, match="no shipped scenario named 'nope'"):
        load("nope")
    with pytest.raises(ScenarioError, match="cannot read"):
        load(str(tmp_path / "missing.scn"))
    bad = tmp_path / "bad.scn"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(ScenarioError):
        load(str(bad))


# -- the library -------------------------------------------------------------------------------
def test_library_has_the_seed_examples_and_selftests():
    have = set(names())
    assert set(SEED_EXAMPLES) <= have
    assert sum(n.startswith("selftest-") for n in have) >= 15
    assert names() == sorted(names())


@pytest.mark.parametrize("name", names())
def test_shipped_scenario_is_documented_and_round_trips(name):
    sc = load(name)
    assert sc.description, f"{name} needs a description comment"
    again = parse(sc.text(), name=name)
    assert [(o.text, o.kind, o.args, o.expect) for o in again.ops] == \
        [(o.text, o.kind, o.args, o.expect) for o in sc.ops]
    assert (again.window, again.files, again.devices, again.model_only,
            again.file_systems) == \
        (sc.window, sc.files, sc.devices, sc.model_only, sc.file_systems)


@pytest.mark.parametrize("name", names())
def test_shipped_scenario_runs_in_the_model_as_written(name):
    res = run_model(load(name), validate=True)          # strict: raises on a broken expect
    assert res.snapshot.source == "model"
    assert len(res.steps) == len(res.scenario.ops)
    assert [op.expect for op, _ in res.errors] == [o for o in res.outcomes if o]


def test_model_result_of_split():
    res = run_model(load("split"))
    assert set(res.procs) == {"P0"}
    p = res.procs["P0"]
    (left, right) = [v for v in p.mm.vmas if BASE <= v.vm_start < BASE + 8 * PAGE_SIZE]
    assert right.vm_pgoff == left.vm_pgoff + 2
    assert left.anon_vma is right.anon_vma
    views = res.snapshot.process("P0").vmas
    assert [(v.vm_start - BASE) // PAGE_SIZE for v in views] == [0, 2]
    assert [t for t, _ in res.steps] == [op.text for op in res.scenario.ops]


def test_model_processes_get_scenario_names():
    sc = parse("P0: mmap 0 1 rw private anon\nP0: write 0\nP0: fork kid\nkid: write 0\n")
    res = run_model(sc)
    assert [p.name for p in res.snapshot.processes] == ["P0", "kid"]
    assert {c.process for av in res.snapshot.anon_vmas for c in av.avcs} == {"P0", "kid"}


def test_unexpected_failure_names_the_line():
    sc = parse("P0: mmap 0 1 rw private anon\nP0: munmap 0 0\n", name="x")
    with pytest.raises(ScenarioError, match=r"x:2: failed with EINVAL .*expect EINVAL"):
        run_model(sc)
    res = run_model(sc, strict=False)
    assert res.outcomes == [None, "EINVAL"] and res.problems


def test_taken_hint_is_required():
    sc = parse("P0: mmap 0 2 rw private anon\nP0: mmap 1 2 rw private anon\n")
    with pytest.raises(ScenarioError, match="the hint was not free"):
        run_model(sc)


def test_files_get_the_same_path_in_model_and_live():
    from rmapkit.live.child import FILES_DIR as LIVE_FILES_DIR
    assert FILES_DIR == LIVE_FILES_DIR
    res = run_model(load("file-private-cow"))
    assert {v.name for v in res.snapshot.process("P0").vmas} == {f"{FILES_DIR}/data"}


def test_random_scenarios_are_reproducible():
    a, b = random_scenario(7), random_scenario(7)
    assert a.text() == b.text() and a.text() != random_scenario(8).text()
    assert 16 <= a.window_pages <= 24


# -- the diff on hand-made snapshots -----------------------------------------------------------
def _snap(source, pages, flags=("rd", "wr", "mr", "mw", "me", "ac"), end=3, unknown=None):
    vmas = (VMAView(BASE, BASE + end * PAGE_SIZE, "rw-p", 0, "", tuple(flags)),)
    pv = tuple(PageView(BASE + i * PAGE_SIZE, present=f is not None, frame=f, anon=f is not None,
                        zero_page=False, exclusive=f is not None, mapcount=1 if f else None)
               for i, f in enumerate(pages))
    return Snapshot(source=source, processes=(ProcessView("P0", vmas, pv),),
                    window=(BASE, BASE + 8 * PAGE_SIZE), unknown=unknown or {})


def test_diff_of_equal_snapshots_is_empty():
    d = compare(_snap("model", ["f0", None, "f1"]), _snap("live", ["f0", None, "f1"]))
    assert not d and len(d) == 0
    assert "agree" in d.text()


def test_diff_names_each_difference():
    d = compare(_snap("model", ["f0", None, "f1"]),
                _snap("live", ["f0", "f1", "f0"], flags=("rd", "wr", "mr", "mw", "me")))
    text = d.text()
    assert d
    assert "P0 VMA [0,3): VmFlags differ: only the model has ac" in text
    assert "P0 page 1: not present in the model, present in the kernel" in text
    assert "P0 page 2: the kernel maps the same frame as P0 page 0, the model a different " \
           "one" in text
    html = d._repr_html_()
    assert "<table" in html and "only the model has ac" in html


def test_diff_reports_vma_layout_and_skips_unknown_fields():
    d = compare(_snap("model", ["f0", None, "f1"]),
                _snap("live", ["f0", None], end=2, unknown={"frame": "not root"}))
    assert "the model has VMA [0,3) rw-p" in d.text() and "the kernel has [0,2)" in d.text()
    assert d.not_compared == {"frame": "not root"}


# -- the command line --------------------------------------------------------------------------
def test_cli_list_run_show(capsys):
    assert cli.main(["list"]) == 0
    assert "split" in capsys.readouterr().out
    assert cli.main(["run", "split"]) == 0
    out = capsys.readouterr().out
    assert "200000000000-200000001000 rw-p" in out and "anon_vma" in out
    assert cli.main(["show", "split"]) == 0
    assert "P0: munmap 1 1" in capsys.readouterr().out
    assert cli.main(["format"]) == 0


def test_cli_errors_exit_2(capsys, tmp_path):
    assert cli.main(["run", "no-such-scenario"]) == 2
    assert "no shipped scenario" in capsys.readouterr().err
    bad = tmp_path / "bad.scn"
    bad.write_text("P0: mmap 0 1 rw private anon\nP0: munmap 0 0\n")
    assert cli.main(["run", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    assert "A scenario is a short text file" in capsys.readouterr().out


def _present(snap, proc, first, n):
    """``P``/``C`` (page cache / anon copy) or ``.`` for window pages [first, first+n)."""
    pages = {(pv.addr - BASE) // PAGE_SIZE: pv for pv in snap.process(proc).pages}
    out = ""
    for i in range(first, first + n):
        pv = pages.get(i)
        out += "." if pv is None or not pv.present else ("C" if pv.anon else "P")
    return out


def _after(res, text, last=False):
    """The snapshot after the (first or last) op whose text starts with ``text``."""
    steps = reversed(res.steps) if last else res.steps
    return next(s for t, s in steps if t.startswith(text))


def test_file_scenarios_show_what_their_comments_say():
    """The shipped file-*.scn scenarios, checked page by page in the model (the
    differential tests check the same snapshots against the kernel)."""
    r = run_model(load("file-write-then-map"))
    assert _present(_after(r, "P0: read 1"), "P0", 0, 4) == "PPPP"
    assert _present(r.snapshot, "P0", 8, 4) == ".P.."
    r = run_model(load("file-write-then-map-disk"))
    assert _present(_after(r, "P0: read 1"), "P0", 0, 8) == "PPP....."
    assert _present(_after(r, "P0: read 5"), "P0", 0, 8) == "PPP..P.."
    assert _present(r.snapshot, "P0", 0, 8) == "PPP..PPP"
    r = run_model(load("file-pread-holes"))
    assert _present(r.snapshot, "P0", 0, 4) + _present(r.snapshot, "P0", 8, 4) == "P...PPPP"
    assert r.rets[-1] == 0
    r = run_model(load("file-fault-around-past-eof"))
    assert _present(r.snapshot, "P0", 0, 16) == "PPP......P......"
    r = run_model(load("file-private-sees-pwrite"))
    before, after = _after(r, "P0: write 1"), _after(r, "P0: pwrite F 0 4", last=True)
    assert _present(after, "P0", 0, 4) == "PCPP"
    assert [p.frame for p in before.process("P0").pages] == \
        [p.frame for p in after.process("P0").pages]
    r = run_model(load("file-truncate-everywhere"))
    assert _present(_after(r, "P1: read 8"), "P0", 0, 8) == "PPCPPPCP"
    assert _present(_after(r, "P0: ftruncate"), "P0", 0, 8) == "PPCPPP.."
    assert _present(_after(r, "P0: ftruncate"), "P1", 8, 8) == "PPPPPP.."
    r = run_model(load("file-punch-hole"))
    assert _present(_after(r, "P0: fallocate F 0.5 3 keep"), "P0", 0, 16) == \
        "P.CPPPPPP..PPPPP"
    assert _present(r.snapshot, "P0", 8, 8) == "PP.PPPPP"
    r = run_model(load("file-fallocate-keep-size"))
    assert _present(_after(r, "P0: read 0"), "P0", 0, 8) == "P......."
    assert _present(_after(r, "P0: read 5"), "P0", 0, 8) == "P....P.."
    assert r.outcomes[-1] == "SIGSEGV"


# -- one classifier for run_model() and the Playground's Session -------------------------------
def test_session_and_run_model_agree_on_every_shipped_op():
    """Both run an op through apply_op() and classify(): the same outcome for every op."""
    from rmapkit.widgets.session import Session
    for name in names():
        sc = load(name)
        res = run_model(sc, strict=False)
        s = Session(replace(sc, ops=()))
        assert [s.step(op).outcome for op in sc.ops] == res.outcomes, name


@pytest.mark.parametrize("exc, name, signal", [
    (ProcessLookupError(errno.ESRCH, "P1 has exited"), "ESRCH", None),
    (OSError(errno.EEXIST, "mmap: taken"), "EEXIST", None),
    (SegmentationFault(BASE, "no VMA"), "SIGSEGV", "SIGSEGV"),
    (BusError(BASE, "past the end of the file"), "SIGSEGV", "SIGBUS"),
])
def test_classify_reads_errno_and_signal_not_text(exc, name, signal):
    out = classify(exc)
    assert (out.name, out.signal) == (name, signal)


def test_an_exception_without_errno_is_a_bug_in_both_runners(monkeypatch):
    """An OSError with no errno is no syscall's answer: reported as a model bug by both
    runners (it once read as EINVAL in the widget and "None" in run_model)."""
    import rmapkit.scenarios.run as run_mod
    import rmapkit.widgets.session as session_mod
    sc = parse("window 4\nP0: mmap 0 1 rw private anon\n")
    for exc, want in ((ProcessLookupError("gone"), None),
                      (ProcessLookupError(errno.ESRCH, "gone"), "ESRCH")):
        def boom(*a, exc=exc):
            raise exc
        s = session_mod.Session(replace(sc, ops=()))
        monkeypatch.setattr(session_mod, "apply_op", boom)
        monkeypatch.setattr(run_mod, "apply_op", boom)
        r = s.step(sc.ops[0])
        res = run_mod.run_model(sc, strict=False)
        if want is None:
            assert r.outcome == "BUG" and res.outcomes == [] and "ProcessLookupError" in res.error
        else:
            assert r.outcome == want and res.outcomes == [want]
        monkeypatch.undo()
