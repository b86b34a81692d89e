"""The live side of large folios: reading the running kernel's THP settings, changing them
for a test and always putting them back, and what the kernel shows of a large folio.

The settings fixture ``thp_settings`` sets sysfs values as root through
rmapkit.live.thp.configured(), which restores every value it changed when the test ends,
also when it fails; without root (or without THP) the test is skipped with the reason.
"""

import os

import pytest

from rmapkit import Kernel
from rmapkit.live import thp as live_thp
from rmapkit.scenarios import parse, run_live, run_model, compare_runs

HAVE_THP = os.path.isdir(live_thp.SYSFS)
ROOT = os.geteuid() == 0
pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not HAVE_THP, reason=f"{live_thp.SYSFS} does not exist")]


@pytest.fixture
def thp_settings():
    """``with thp_settings({...}):`` the kernel runs with those values; all restored after."""
    if not ROOT:
        pytest.skip("changing /sys/kernel/mm/transparent_hugepage needs root")
    return live_thp.configured


def test_read_settings_gives_what_kernel_accepts():
    s = live_thp.read_settings()
    assert s["enabled"] in ("always", "madvise", "never")
    k = Kernel(thp=s)                       # configure the model like the kernel in front of it
    assert k.thp["hugepages-2048kB/enabled"] == s["hugepages-2048kB/enabled"]


def test_settings_are_restored_even_when_the_body_fails(thp_settings):
    with live_thp.machine_lock():            # no other test run changes them meanwhile
        before = live_thp.read_settings()
        with pytest.raises(RuntimeError):
            with thp_settings({"hugepages-64kB/enabled": "madvise", "use_zero_page": "0"}):
                now = live_thp.read_settings()
                assert now["hugepages-64kB/enabled"] == "madvise"
                assert now["use_zero_page"] == "0"
                assert now[live_thp.SCAN_SLEEP] == live_thp._PARKED_SLEEP   # parked
                raise RuntimeError("a failing test")
        assert live_thp.read_settings() == before


@pytest.mark.parametrize("bad", [{"enabled": "always"}, {"hugepages-64kB/enabled": "always"},
                                 {"shmem_enabled": "advise"}, {"enabled": "sometimes"}])
def test_unsafe_or_invalid_settings_are_refused_before_anything_changes(bad):
    with live_thp.machine_lock():
        before = live_thp.read_settings()
        with pytest.raises(live_thp.ThpSettingsRefused):
            with live_thp.configured(bad):
                pass
        assert live_thp.read_settings() == before


def test_a_64k_folio_as_the_kernel_shows_it(thp_settings):
    """kpageflags COMPOUND_HEAD/TAIL and THP on every page, folio order 4, not PMD-mapped,
    counters per size; the model says the same."""
    sc = parse("window 32\nthp hugepages-64kB/enabled=madvise\n"
               "P0: mmap 0 32 rw private anon fixed\nP0: madvise 0 32 hugepage\n"
               "P0: write 5\n", name="mthp64")
    lv = run_live(sc)
    if lv.skipped:
        pytest.skip(lv.skipped)
    pages = lv.snapshot.processes[0].pages
    assert [(g.compound, g.order, g.thp, g.pmd) for g in pages[:2]] == \
        [("head", 4, True, False), ("tail", 4, True, False)]
    assert not pages[16].present
    assert lv.snapshot.counters["hugepages-64kB/anon_fault_alloc"] == 1
    assert not compare_runs(run_model(sc), lv)


def test_a_pmd_thp_as_the_kernel_shows_it():
    sc = parse("window 512\nP0: mmap 0 512 rw private anon fixed\n"
               "P0: madvise 0 512 hugepage\nP0: write 0\n", name="pmd")
    lv = run_live(sc)
    if lv.skipped or not ROOT:
        pytest.skip(lv.skipped or "PFNs and kpageflags need root")
    snap = lv.snapshot
    assert snap.processes[0].vmas[0].anon_huge_pages == 2048
    assert all(g.pmd and g.order == 9 for g in snap.processes[0].pages)
    assert not compare_runs(run_model(sc), lv)
