"""The running kernel as an oracle: run programs of syscalls in real, disposable processes.

Each batch of programs runs in a fresh driver, rmapkit.live.child (its own session);
each program there gets fresh forked processes.  A crash, hang or SIGSEGV in them never
reaches the caller: the batch has a time limit, and the whole process group is killed when
it runs out.  Results come back as plain dicts with rmapkit.snapshot.Snapshot objects.

This package never imports rmapkit.model: scenarios are lowered to programs by
rmapkit.scenarios, and the comparison lives there too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from rmapkit import uapi
from rmapkit.live import wire

__all__ = ["observability", "available", "run_programs", "run_program", "FILES_DIR",
           "GUARD_FLAGS", "disk_dir", "fs_type"]

# The two conventions a scenario shares with its live run (rmapkit.scenarios imports them
# from here; this package never imports rmapkit.scenarios): the fixed directory name its
# files get, and the guard pages around the window, each its own shmem object so that
# nothing ever merges with them.
FILES_DIR = "/tmp/rmapkit"
GUARD_FLAGS = uapi.MAP_SHARED | uapi.MAP_ANONYMOUS | uapi.MAP_FIXED      # with PROT_NONE

BATCH_TIMEOUT = 20.0        # seconds for starting a driver
PROGRAM_TIMEOUT = 30.0      # seconds added per program in a batch


def observability():
    """Return {what: why} for everything this machine will not let the live side see.

    Empty means: Linux, /proc/self/pagemap with PFNs, /proc/kpageflags, /proc/kpagecount.
    """
    why = {}
    if not sys.platform.startswith("linux"):
        return {"everything": f"not Linux (sys.platform is {sys.platform!r})"}
    if not os.path.exists("/proc/self/pagemap"):
        return {"everything": "/proc/self/pagemap does not exist"}
    for path, fields in (("/proc/kpageflags", ("anon", "zero_page", "frame")),
                         ("/proc/kpagecount", ("mapcount",))):
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as e:
            for f in fields:
                why[f] = f"{path}: {e.strerror} (reading it needs root)"
    if os.geteuid() != 0:
        why.setdefault("frame", "pagemap shows PFNs only to CAP_SYS_ADMIN (not root)")
    return why


def available():
    """(True, "") if live runs can observe everything compared, else (False, reason)."""
    why = observability()
    if not why:
        return True, ""
    return False, "; ".join(f"{k}: {v}" for k, v in sorted(why.items()))


# The driver is started with a bare stand-in for the rmapkit package, so that running it
# never executes rmapkit/__init__.py (which imports the model): the live side stays
# independent of the model, and the driver starts faster.
_BOOT = ("import sys, types; m = types.ModuleType('rmapkit'); m.__path__ = [{pkg!r}]; "
         "sys.modules['rmapkit'] = m; from rmapkit.live.child import main; main()")


def _driver_cmd():
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [sys.executable, "-c", _BOOT.format(pkg=pkg)]


def _files_parent():
    """A writable directory on a mount without noexec (scenario files may be mapped
    PROT_EXEC, and noexec would also drop VM_MAYEXEC): /dev/shm, else $TMPDIR."""
    for d in ("/dev/shm", tempfile.gettempdir()):
        try:
            if os.access(d, os.W_OK) and not os.statvfs(d).f_flag & os.ST_NOEXEC:
                return d
        except OSError:
            continue
    return None


def fs_type(path):
    """The file system type of the mount holding ``path`` ("ext4", "tmpfs"...), from
    /proc/self/mountinfo (the longest mount point that contains it); None if unknown."""
    path = os.path.realpath(path)
    best, fstype = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mnt = fields[4].replace("\\040", " ")
                sep = fields.index("-")
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best):
                    best, fstype = mnt, fields[sep + 1]
    except (OSError, ValueError, IndexError):
        return None
    return fstype


DISK_FS = "ext4"            # the disk file system the model knows (rmapkit.model.file.EXT4)


def disk_dir():
    """A writable directory on an ext4 file system for a scenario's ``disk`` files, or None:
    $RMAPKIT_DISK_DIR, /var/tmp, the temporary directory, the home directory."""
    for d in (os.environ.get("RMAPKIT_DISK_DIR"), "/var/tmp", tempfile.gettempdir(),
              os.path.expanduser("~")):
        try:
            if d and os.access(d, os.W_OK) and fs_type(d) == DISK_FS and \
                    not os.statvfs(d).f_flag & os.ST_NOEXEC:
                return d
        except OSError:
            continue
    return None


def _run_batch(programs, timeout):
    """Run programs in one driver; return (results so far, error or None)."""
    tmp = tempfile.mkdtemp(prefix="rmapkit-live-", dir=_files_parent())
    disk = disk_dir()
    if disk is not None and any(f[2] != "tmpfs" for p in programs for f in p.get("files", ())
                                if len(f) > 2):
        disk = tempfile.mkdtemp(prefix="rmapkit-live-", dir=disk)
    else:
        disk = None
    proc = subprocess.Popen(_driver_cmd(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    data = json.dumps({"programs": programs, "tmpdir": tmp, "diskdir": disk}).encode()
    error = None
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        out, err = proc.communicate()
        error = f"the live driver timed out after {timeout:.0f} s"
    finally:
        _kill_group(proc.pid)       # nothing of the batch may outlive it
        shutil.rmtree(tmp, ignore_errors=True)
        if disk is not None:
            shutil.rmtree(disk, ignore_errors=True)
    results = []
    for line in out.decode(errors="replace").splitlines():
        try:
            results.append(json.loads(line))
        except ValueError:
            break
    if error is None and len(results) < len(programs):
        rc = proc.returncode
        how = f"signal {-rc}" if rc and rc < 0 else f"exit status {rc}"
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        error = f"the live driver died ({how}): {' | '.join(tail)}"
    return results, error


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_programs(programs, timeout=None):
    """Run ``programs`` (see rmapkit.live.child) and return one result dict per program.

    Snapshots in the results are rmapkit.snapshot.Snapshot objects.  A program during which
    the driver died or timed out gets ``error`` set; the programs after it run again in a
    new driver.  Cost: one interpreter start per batch (~50 ms) plus the programs.
    """
    programs = list(programs)
    why = observability().get("everything")
    if why:
        return [{"outcomes": [], "rets": [], "snapshots": [], "pids": [],
                 "error": f"no live kernel to observe: {why}"} for _ in programs]
    results = []
    while len(results) < len(programs):
        rest = programs[len(results):]
        limit = timeout if timeout is not None else BATCH_TIMEOUT + PROGRAM_TIMEOUT * len(rest)
        got, error = _run_batch(rest, limit)
        results.extend(got)
        if len(results) < len(programs):
            results.append({"outcomes": [], "rets": [], "snapshots": [], "pids": [],
                            "error": error or "the live driver stopped early"})
    for r in results:
        r["snapshots"] = [wire.snapshot_from_dict(s) for s in r["snapshots"]]
    return results


def run_program(program, timeout=None):
    """Run one program; see run_programs()."""
    return run_programs([program], timeout)[0]
