"""Model vs live kernel: every shipped scenario, and >= 300 seeded random scenarios, must
agree on everything the kernel lets us observe.  The random ones include file I/O
(pwrite/pread/fallocate/ftruncate/fsync) on a tmpfs file, a memfd and a file on the disk
file system (ext4: run only where a writable ext4 directory exists, see
rmapkit.live.disk_dir()).

On a disagreement the test shrinks it and prints the smallest failing scenario as a file
(its ``expect`` lines are the kernel's outcomes) that `rmapkit diff FILE` replays.  The
random seeds are 1..320 unless RMAPKIT_DIFF_SEED / RMAPKIT_DIFF_COUNT say otherwise.
"""

import os
import time

import pytest

from rmapkit import live
from rmapkit.scenarios import compare_runs, load, names, run_live_many, run_model
from rmapkit.scenarios.differential import agree, minimal_failure, report
from rmapkit.scenarios.generate import random_scenarios, random_thp_scenarios

LIVE_OK, LIVE_WHY = live.available()
DISK_DIR = live.disk_dir() if LIVE_OK else None
NO_DISK = "no writable ext4 directory for disk files (set RMAPKIT_DISK_DIR)"
FILE_IO = ("pwrite", "pread", "fallocate", "ftruncate", "fsync")
pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not LIVE_OK, reason=f"live kernel not observable: {LIVE_WHY}")]

FIRST_SEED = int(os.environ.get("RMAPKIT_DIFF_SEED", "1"))
COUNT = int(os.environ.get("RMAPKIT_DIFF_COUNT", "320"))
THP_COUNT = int(os.environ.get("RMAPKIT_DIFF_THP_COUNT", "120"))
SHOWN = 3           # disagreements shrunk and printed per failing run


@pytest.fixture(scope="module")
def shipped_live():
    scs = [load(n) for n in names()]
    return {r.scenario.name: r for r in run_live_many(scs, strict=False)}


@pytest.mark.parametrize("name", names())
def test_shipped_scenario_agrees_with_the_kernel(name, shipped_live):
    lv = shipped_live[name]
    if lv.scenario.file_systems and DISK_DIR is None:
        pytest.skip(NO_DISK)
    if lv.skipped:
        pytest.skip(lv.skipped)
    assert lv.error is None, lv.error
    assert not lv.problems, [f"line {op.line}: {why}" for op, why in lv.problems]
    m = run_model(load(name), strict=False, validate=True)
    d = compare_runs(m, lv)
    assert not d, f"{name}:\n{d.text()}"


def test_random_scenarios_agree_with_the_kernel():
    t0 = time.monotonic()
    scs = random_scenarios(FIRST_SEED, COUNT)
    assert len(scs) >= 300
    if DISK_DIR is None:
        print(f"\nleft out {sum(bool(s.file_systems) for s in scs)} scenarios: {NO_DISK}")
        scs = [s for s in scs if not s.file_systems]
    io = [s for s in scs if any(op.kind in FILE_IO for op in s.ops)]
    disk = [s for s in io if s.file_systems]
    if COUNT >= 300:        # the default run must keep exercising files, on both kinds
        assert len(io) >= 100 and (DISK_DIR is None or len(disk) >= 50), (len(io), len(disk))
    found = agree(scs)
    took = time.monotonic() - t0
    print(f"\n{len(scs)} random scenarios (seeds {FIRST_SEED}..{FIRST_SEED + COUNT - 1}, "
          f"{sum(len(s.ops) for s in scs)} ops; {len(io)} with file I/O, {len(disk)} of "
          f"them with a disk file) in {took:.1f} s: {len(found)} disagree")
    if found:
        shown = [report(minimal_failure(d)) for d in found[:SHOWN]]
        pytest.fail(f"{len(found)} of {COUNT} random scenarios disagree "
                    f"({', '.join(d.scenario.name for d in found)}); the smallest failing "
                    f"prefix of the first {len(shown)}, as scenario files:\n\n"
                    + "\n\n".join(shown))


def test_random_thp_scenarios_agree_with_the_kernel():
    """>= 100 random scenarios around 2 MiB blocks under the THP presets of
    rmapkit.scenarios.generate.THP_PRESETS (PMD THP, 16K-256K mTHP, use_zero_page=0):
    every op's outcome and the final state (pages, folio orders, head/tail, PMD mappings,
    AnonHugePages, the THP counters) must agree.  They run as root with the kernel set as
    each scenario says (rmapkit.live.thp.configured(): restored afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("THP scenarios set /sys/kernel/mm/transparent_hugepage: needs root")
    from rmapkit.live.thp import SYSFS
    if not os.path.isdir(SYSFS):
        pytest.skip(f"{SYSFS} does not exist: this kernel has no THP")
    t0 = time.monotonic()
    scs = random_thp_scenarios(FIRST_SEED, THP_COUNT)
    assert len(scs) >= 100
    found = agree(scs, steps=False)
    took = time.monotonic() - t0
    print(f"\n{THP_COUNT} random THP scenarios ({sum(len(s.ops) for s in scs)} ops) in "
          f"{took:.1f} s: {len(found)} disagree")
    if found:
        shown = [report(minimal_failure(d)) for d in found[:SHOWN]]
        pytest.fail(f"{len(found)} of {THP_COUNT} random THP scenarios disagree "
                    f"({', '.join(d.scenario.name for d in found)}):\n\n"
                    + "\n\n".join(shown))
