"""The running kernel's THP settings and counters, and a safe way to change them for a test.

/sys/kernel/mm/transparent_hugepage/ is global to the machine: every process on it faults
under the same settings.  ``configured()`` therefore (1) holds a machine-wide lock
(``flock`` on LOCK_PATH) so two test runs never interleave their writes, (2) refuses any
setting that would hand THPs to processes that did not ask for them (``enabled`` or a size
at ``always``, any shmem THP), (3) records every value before writing and restores all of
them in a ``finally``, also when the test fails, and (4) keeps khugepaged from collapsing
the test's memory behind its back: it raises ``khugepaged/scan_sleep_millisecs`` and keeps
one small process registered with khugepaged meanwhile, so a test process's own
MADV_HUGEPAGE never finds the khugepaged list empty and never wakes it
(mm/khugepaged.c: __khugepaged_enter(), khugepaged_wait_work()).

This module never imports rmapkit.model.  Cost: a few sysfs reads and writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time

from rmapkit.uapi import THP_ANON_KEYS, THP_ANON_ORDERS, THP_DEFAULTS, check_thp_value, \
    thp_size_key

__all__ = ["SYSFS", "LOCK_PATH", "read_settings", "read_counters", "COUNTERS",
           "configured", "machine_lock", "unsafe_settings", "settings_needed",
           "ThpSettingsRefused"]

SYSFS = "/sys/kernel/mm/transparent_hugepage"
LOCK_PATH = "/tmp/rmapkit-thp-sysfs.lock"
SCAN_SLEEP = "khugepaged/scan_sleep_millisecs"
_PARKED_SLEEP = "3600000"       # one hour: khugepaged sleeps through any test


class ThpSettingsRefused(Exception):
    """The settings cannot be applied here (not root, unsafe on a shared machine, ...)."""


def _read(key):
    with open(os.path.join(SYSFS, key)) as f:
        text = f.read().strip()
    if "[" in text:                                  # "always [madvise] never"
        return text[text.index("[") + 1:text.index("]")]
    return text


def read_settings():
    """The running kernel's values of every file rmapkit knows (missing files are left out),
    as the strings ``Kernel(thp=...)`` takes.  Cost: ~35 sysfs reads.

    >>> s = read_settings()                                 # doctest: +SKIP
    >>> s["enabled"], s["hugepages-2048kB/enabled"]         # doctest: +SKIP
    ('madvise', 'inherit')
    """
    out = {}
    for key in THP_DEFAULTS:
        try:
            out[key] = _read(key)
        except OSError:
            continue
    return out


# The counters compared after every step: per-size hugepages-<N>kB/stats/ and two vmstat
# lines (mm/huge_memory.c: count_mthp_stat(), mm/vmstat.c).
COUNTERS = tuple(thp_size_key(o, n) for o in THP_ANON_ORDERS
                 for n in ("anon_fault_alloc", "split_deferred", "nr_anon",
                           "nr_anon_partially_mapped")) + ("thp_split_pmd",
                                                          "thp_collapse_alloc")


def read_counters():
    """Current values of COUNTERS ({} if the files are not there).  Cost: ~34 reads."""
    out = {}
    for name in COUNTERS:
        if name.startswith("hugepages-"):
            d, n = name.split("/")
            try:
                with open(os.path.join(SYSFS, d, "stats", n)) as f:
                    out[name] = int(f.read())
            except (OSError, ValueError):
                continue
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k in ("thp_split_pmd", "thp_collapse_alloc"):
                    out[k] = int(v)
    except OSError:
        pass
    return out


def unsafe_settings(settings):
    """Why ``settings`` must not be written on a shared machine ('' if they may): a global
    or per-size ``always`` gives THPs to every process, shmem THP to every shmem user."""
    for key, value in settings.items():
        if key == "enabled" and value == "always":
            return "enabled=always would give every process on this machine THPs"
        if key.startswith("hugepages-") and key.endswith("/enabled") and value == "always":
            return f"{key}=always would give every process on this machine THPs"
        if "shmem_enabled" in key and value not in ("never", "deny", "inherit"):
            return f"{key}={value} would give every shmem user on this machine THPs"
    return ""


def settings_needed(wanted):
    """The fault-relevant settings (THP_ANON_KEYS) of THP_DEFAULTS overlaid with ``wanted``
    that the running kernel does not have: {key: value} to write."""
    full = dict(THP_DEFAULTS)
    full.update(wanted)
    now = read_settings()
    return {k: full[k] for k in THP_ANON_KEYS if k in now and now[k] != full[k]}


def _write(key, value):
    with open(os.path.join(SYSFS, key), "w") as f:
        f.write(value)


_ANCHOR = r"""
import ctypes, mmap, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
n = 4 << 20
a = libc.mmap(None, n, 3, 0x22, -1, 0)
a2 = (a + (2 << 20) - 1) & ~((2 << 20) - 1)
ctypes.memset(a2, 1, 1)                 # an anon_vma: khugepaged_enter_vma() needs one
libc.madvise(a2, 2 << 20, 14)           # MADV_HUGEPAGE registers this mm with khugepaged
sys.stdout.write("ready\n"); sys.stdout.flush()
sys.stdin.read()
"""


@contextlib.contextmanager
def _khugepaged_parked():
    """khugepaged asleep for the duration, with this anchor process on its list."""
    old = _read(SCAN_SLEEP)
    before = read_counters().get("thp_collapse_alloc")
    anchor = None
    try:
        # Writing scan_sleep_millisecs wakes khugepaged once: do it while no test process
        # is registered.
        _write(SCAN_SLEEP, _PARKED_SLEEP)
        anchor = subprocess.Popen([sys.executable, "-c", _ANCHOR], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, start_new_session=True)
        anchor.stdout.readline()
        # If the list was empty, the anchor woke khugepaged: let it finish that pass
        # (it collapses the anchor's block) before any test process registers.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if read_counters().get("thp_collapse_alloc") != before:
                break
            time.sleep(0.02)
        time.sleep(0.05)
        yield
    finally:
        try:
            _write(SCAN_SLEEP, old)
        finally:
            if anchor is not None:
                anchor.stdin.close()
                anchor.wait(timeout=10)


_local = threading.local()      # machine_lock() depth per thread (reentrant in a thread)


@contextlib.contextmanager
def machine_lock():
    """Hold the machine-wide THP lock (``flock`` on LOCK_PATH).  Reentrant within one
    thread, so a test can read the settings and then call configured() under one lock;
    other threads and processes wait (each takes its own flock)."""
    depth = getattr(_local, "depth", 0)
    if depth:
        _local.depth = depth + 1
        try:
            yield
        finally:
            _local.depth = depth
        return
    with open(LOCK_PATH, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _local.depth = 1
        try:
            yield
        finally:
            _local.depth = 0
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def configured(wanted, park=True):
    """Run the body with the running kernel's THP settings set as ``wanted`` (on top of
    THP_DEFAULTS, fault-relevant keys only), then restore every value it had.

    Raises ThpSettingsRefused (before changing anything) when a value is invalid, would
    have to be written and is unsafe on a shared machine (unsafe_settings(): a kernel that
    already runs with ``enabled=always`` is compared as it is), or needs writing without
    root.  Holds the
    machine-wide lock LOCK_PATH for the whole body.  As root (and with ``park``) khugepaged
    is parked for the body (see the module doc): MADV_HUGEPAGE of a faulted region would
    otherwise wake it and it would collapse the test's memory within milliseconds.
    Cost: ~40 sysfs reads, a few writes, up to 1 s to park khugepaged.
    """
    for key, value in wanted.items():
        _, why = check_thp_value(key, value)
        if why:
            raise ThpSettingsRefused(why)
    if not os.path.isdir(SYSFS):
        raise ThpSettingsRefused(f"{SYSFS} does not exist (no THP on this kernel)")
    with machine_lock():
        todo = settings_needed(wanted)
        why = unsafe_settings(todo)          # only what would be written matters
        if why:
            raise ThpSettingsRefused(why)
        if todo and os.geteuid() != 0:
            raise ThpSettingsRefused(
                "writing " + ", ".join(f"{k}={v}" for k, v in todo.items())
                + " needs root")
        old = {k: _read(k) for k in todo}
        try:
            for k, v in todo.items():
                _write(k, v)
            if os.geteuid() == 0 and park:
                with _khugepaged_parked():
                    yield
            else:
                yield
        finally:
            for k, v in old.items():
                _write(k, v)
