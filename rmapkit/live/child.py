"""The live driver: ``python -m rmapkit.live.child`` runs programs read from stdin.

Input (stdin, JSON): ``{"programs": [program, ...], "tmpdir": dir for files, "diskdir":
dir on ext4 for ``disk`` files or null}``; output
(stdout): one JSON line per program, in order, flushed as each finishes, so a caller that
loses the driver knows which programs completed.  A *program* is a scenario lowered to
absolute addresses::

    {"window": [lo, hi], "files": [["data", 32768, "tmpfs"]], "steps": true,
     "ops": [{"proc": "P0", "kind": "mmap", "args": {...}}, ...]}

Its result: ``{"outcomes": [None | "EEXIST" | "SIGSEGV", ...], "rets": [...],
"snapshots": [snapshot dict after each op (or only the last)], "error": None | str,
"pids": [every process started, all killed and reaped by the time the result is out]}``.

The driver itself never touches the window: it forks the first scenario process P0, which
maps the guard pages and then obeys commands (rmapkit.live.worker).  After each op the
driver reads /proc/PID/{smaps,pagemap} of every scenario process and /proc/kpage{flags,count}.
It is a child subreaper, kills every scenario process at the end and reaps them all.
This module never imports rmapkit.model.  Cost: one fork per program, one socket round trip
per op, one procfs read per process per snapshot (~1-2 ms).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import sys
import tempfile

from rmapkit.live import FILES_DIR, GUARD_FLAGS, _files_parent, procfs, wire
from rmapkit.live import thp as live_thp
from rmapkit.live.worker import MAX_MSG, start_p0
from rmapkit.snapshot import Snapshot
from rmapkit.uapi import PAGE_SIZE

__all__ = ["run_program", "main", "FILES_DIR", "GUARD_FLAGS"]

PR_SET_CHILD_SUBREAPER = 36
OP_TIMEOUT = 20.0                   # seconds one op may take before the run is abandoned


class Abort(Exception):
    """The run cannot go on (a process died, hung, or the window is taken)."""


class Run:
    """One program being run: the processes, their control sockets, their pids."""

    def __init__(self, prog, kpages, tmpdir=None, diskdir=None):
        self.prog = prog
        self.tmpdir = tmpdir
        self.diskdir = diskdir
        self.disk_files_dir = None
        self.window = tuple(prog["window"])
        self.kpages = kpages
        self.socks = {}             # name -> driver end of the control socket
        self.pids = {}              # name -> pid
        self.order = []             # live process names, in creation order
        self.all_pids = []          # every process started, for the caller to check
        self.files_dir = None
        # THP counters at the start (global; only meaningful while nothing else uses THP)
        self.counters0 = live_thp.read_counters() if prog.get("counters") else None

    # -- processes ---------------------------------------------------------------------
    def start(self):
        self.files_dir = tempfile.mkdtemp(prefix="scn-", dir=self.tmpdir or _files_parent())
        for name, size, *fs in self.prog.get("files", ()):
            path = os.path.join(self.files_dir, name)
            if fs and fs[0] != "tmpfs":
                # A disk file lives on the disk file system; the scenario's directory holds
                # a symlink to it (open() follows it, maps shows the real path, renamed).
                if self.diskdir is None:
                    raise Abort(f"no writable ext4 directory for the disk file {name} "
                                "(set RMAPKIT_DISK_DIR)")
                if self.disk_files_dir is None:
                    self.disk_files_dir = tempfile.mkdtemp(prefix="scn-", dir=self.diskdir)
                real = os.path.join(self.disk_files_dir, name)
                os.symlink(real, path)
                path = real
            with open(path, "wb") as f:
                f.truncate(size)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            mine.close()
            start_p0(theirs, self.files_dir)
        theirs.close()
        self._add("P0", pid, mine)
        lo, hi = self.window
        for guard in (lo - PAGE_SIZE, hi):
            r = self.call("P0", "mmap", {"addr": guard, "length": PAGE_SIZE, "prot": 0,
                                         "flags": GUARD_FLAGS, "fd": None, "offset": 0})
            if not r.get("ok"):
                raise Abort(f"cannot map the guard page at {guard:#x}: {r}")

    def _add(self, name, pid, sock):
        sock.settimeout(OP_TIMEOUT)
        self.socks[name], self.pids[name] = sock, pid
        self.all_pids.append(pid)
        self.order.append(name)

    def call(self, proc, kind, args, fds=()):
        sock = self.socks[proc]
        msg = json.dumps({"kind": kind, "args": args}).encode()
        try:
            if fds:
                socket.send_fds(sock, [msg], list(fds))
            else:
                sock.send(msg)
            reply = sock.recv(MAX_MSG)
        except socket.timeout:
            raise Abort(f"{proc} did not answer {kind} within {OP_TIMEOUT:.0f} s") from None
        except OSError as e:
            raise Abort(f"{proc} went away during {kind}: {e}") from None
        if not reply:
            raise Abort(f"{proc} died during {kind}")
        return json.loads(reply)

    def do(self, op):
        """Perform one scenario op; return (outcome, ret)."""
        proc, kind, args = op["proc"], op["kind"], op["args"]
        if kind == "fork":
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                r = self.call(proc, "fork", {}, fds=[theirs.fileno()])
            finally:
                theirs.close()
            if r.get("ok"):
                self._add(args["child"], r["ret"], mine)
            else:
                mine.close()
        elif kind == "exit":
            r = self.call(proc, "exit", {})
            self._wait_gone(proc)
        else:
            r = self.call(proc, kind, args)
        if "error" in r:
            raise Abort(f"{proc}: {kind}: {r['error']}")
        if "fault" in r:
            return "SIGSEGV", r["fault"]
        if "errno" in r:
            return r["errno"], None
        return None, r.get("ret")

    def _wait_gone(self, proc):
        """Wait until ``proc`` closed its socket: exit_mm() runs before exit_files()."""
        sock = self.socks.pop(proc)
        try:
            while sock.recv(MAX_MSG):
                pass
        except OSError:
            pass
        sock.close()
        pid = self.pids.pop(proc)
        self.order.remove(proc)
        if proc == "P0" or _is_my_child(pid):
            _reap(pid)

    def snapshot(self):
        counters = {}
        if self.counters0 is not None:
            now = live_thp.read_counters()
            counters = {k: v - self.counters0[k] for k, v in now.items()
                        if k in self.counters0}
        processes, unknown = [], {}
        rename = {self.files_dir: FILES_DIR}
        if self.disk_files_dir:
            rename[self.disk_files_dir] = FILES_DIR
        for name in self.order:
            view, unk = procfs.read_process(name, self.pids[name], self.window,
                                            self.kpages, rename)
            processes.append(view)
            unknown.update(unk)
        unknown.update(self.kpages.unknown)
        for k, why in procfs.MODEL_ONLY_FIELDS.items():
            unknown.setdefault(k, why)
        return Snapshot(source="live", processes=procfs.number_process_frames(processes),
                        window=self.window, unknown=unknown, counters=counters)

    def stop(self):
        for name, pid in list(self.pids.items()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()
        self.pids.clear()
        self.order.clear()
        _reap_all()
        for d in (self.files_dir, self.disk_files_dir):
            if d:
                shutil.rmtree(d, ignore_errors=True)


def _is_my_child(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except (OSError, ValueError, IndexError):
        return False


def _reap(pid):
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _reap_all():
    """Reap every child, including orphans re-parented to this subreaper."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _window_taken(window):
    lo, hi = window[0] - PAGE_SIZE, window[1] + PAGE_SIZE
    with open("/proc/self/maps") as f:
        for line in f:
            s, e = (int(x, 16) for x in line.split(None, 1)[0].split("-"))
            if s < hi and e > lo:
                return line.strip()
    return None


def run_program(prog, kpages, tmpdir=None, diskdir=None):
    """Run one program in fresh processes; return its JSON-able result (see module doc).

    Its files live in a new directory under ``tmpdir`` (default /dev/shm or $TMPDIR).
    """
    res = {"outcomes": [], "rets": [], "snapshots": [], "error": None, "pids": []}
    taken = _window_taken(prog["window"])
    if taken:
        res["error"] = f"the window is not free in the driver: {taken}"
        return res
    run = Run(prog, kpages, tmpdir, diskdir)
    steps = prog.get("steps", True)
    try:
        run.start()
        for op in prog["ops"]:
            outcome, ret = run.do(op)
            res["outcomes"].append(outcome)
            res["rets"].append(ret)
            if steps:
                res["snapshots"].append(wire.snapshot_to_dict(run.snapshot()))
        if not steps:
            res["snapshots"].append(wire.snapshot_to_dict(run.snapshot()))
    except Abort as e:
        res["error"] = str(e)
    finally:
        run.stop()
        res["pids"] = run.all_pids
    return res


def main():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except AttributeError:
        pass
    request = json.load(sys.stdin)
    kpages = procfs.KernelPages()
    out = sys.stdout
    for prog in request["programs"]:
        try:
            res = run_program(prog, kpages, request.get("tmpdir"), request.get("diskdir"))
        except Exception as e:               # keep the batch going; say what broke
            res = {"outcomes": [], "rets": [], "snapshots": [], "pids": [],
                   "error": f"driver: {type(e).__name__}: {e}"}
        out.write(json.dumps(res) + "\n")
        out.flush()
    kpages.close()


if __name__ == "__main__":
    main()
