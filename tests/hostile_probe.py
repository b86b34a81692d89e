"""Run syscall sequences with raw 64-bit register values on this machine's kernel.

Used by tests/test_hostile.py (and runnable by hand) to check the model's argument
conversion, check order and errnos against the live kernel: each case runs in a forked
child of a throwaway process, every argument goes to syscall(2) as a C unsigned long (what
the register holds), and the child reports each step's result (the return value, or
-errno) and the lines of /proc/self/maps inside the probe window.

Input (stdin, JSON): {"window": [lo, hi], "dir": tmpdir, "cases": [[step, ...], ...]};
a step is [call, arg, ...].  Output (stdout, JSON): [[results, maps_lines], ...].
Calls: mmap munmap mprotect mremap madvise (raw syscalls), write (memset one byte per
page), memfd_create ftruncate open close (raw syscalls; a str argument is passed as a
C string; "$N" as an argument means the result of step N).
"""

import ctypes
import json
import os
import sys

NR = {"mmap": 9, "mprotect": 10, "munmap": 11, "mremap": 25, "madvise": 28,
      "open": 2, "close": 3, "ftruncate": 77, "memfd_create": 319}
MASK = (1 << 64) - 1


def _maps(lo, hi):
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            a, b = (int(x, 16) for x in line.split()[0].split("-"))
            if a < hi and b > lo:
                out.append(line.rstrip("\n"))
    return out


def _run_case(libc, steps, lo, hi, tmpdir):
    results, keep = [], []
    for step in steps:
        call, args = step[0], list(step[1:])
        for i, a in enumerate(args):
            if isinstance(a, str) and a.startswith("$"):
                args[i] = results[int(a[1:])]
        if call == "write":
            addr, n = args
            for a in range(addr, addr + n, 4096):
                ctypes.memset(a, 1, 1)
            results.append(0)
            continue
        cargs = []
        for a in args:
            if isinstance(a, str):
                a = a.replace("{dir}", tmpdir).encode()
                buf = ctypes.create_string_buffer(a)
                keep.append(buf)
                cargs.append(ctypes.c_ulong(ctypes.addressof(buf)))
            else:
                cargs.append(ctypes.c_ulong(a & MASK))
        ctypes.set_errno(0)
        r = libc.syscall(ctypes.c_long(NR[call]), *cargs)
        results.append(-ctypes.get_errno() if r == -1 else r & MASK)
    return results, _maps(lo, hi)


def main():
    req = json.load(sys.stdin)
    lo, hi = req["window"]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    out = []
    for steps in req["cases"]:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                res = _run_case(libc, steps, lo, hi, req["dir"])
                data = json.dumps(res).encode()
            except BaseException as e:          # noqa: BLE001 - reported to the parent
                data = json.dumps([["error", repr(e)], []]).encode()
            os.write(w, data)
            os._exit(0)
        os.close(w)
        chunks = []
        while True:
            c = os.read(r, 65536)
            if not c:
                break
            chunks.append(c)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if chunks:
            out.append(json.loads(b"".join(chunks)))
        else:
            out.append([["signal", os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1], []])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
