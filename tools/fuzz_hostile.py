"""A seeded hostile campaign against the model: random syscalls, half of them bad.

    python tools/fuzz_hostile.py --ops 50000 --seed 1

Draws mmap/munmap/mprotect/mremap/madvise/read/write/fork/exit/ftruncate/open/memfd_create
calls over a 32-page window with arguments mixed from ordinary pages and hostile values
(negative, 2**64 and above, wrapping lengths, 2**32-aliased ints, unaligned, huge), plus
non-integers.  After every call: ``validate()``; after every failing call: the whole model
fingerprint (maps, snapshot, PTEs, folios, anon_vmas, page caches) must be unchanged unless
the call is one of the kernel's own partial cases (mprotect/madvise walking VMAs, a
MREMAP_FIXED that unmapped its destination, a memory access that touched pages first).
Prints the figures: operations, failing calls (by errno), TypeErrors, validate() failures,
changed-on-failure violations.  Exit status 1 if any check failed.
"""

import argparse
import collections
import errno
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from modelhelpers import fingerprint  # noqa: E402

from rmapkit import Kernel, SegmentationFault  # noqa: E402
from rmapkit.errors import ValidationError  # noqa: E402
from rmapkit.model.args import PAGE_ALIGN, c_value  # noqa: E402
from rmapkit.uapi import MREMAP_FIXED, PAGE_SIZE  # noqa: E402

W = 0x10000000
NPAGES = 32
EDGE = [0, 1, -1, -PAGE_SIZE, -PAGE_SIZE - 1, -(PAGE_SIZE - 1), 2**64, 2**64 + PAGE_SIZE,
        2**64 - PAGE_SIZE, 2**63, 2**63 - PAGE_SIZE, 2**47, 2**47 - PAGE_SIZE, 2**46, 2**32,
        2**32 + 4, 2**31, -(2**31), PAGE_SIZE - 1, PAGE_SIZE + 1, 2**40, 1 << 62]
BAD_TYPES = [None, 4096.0, "4096", b"x", [1]]


def value(r, hostile):
    if hostile and r.random() < 0.6:
        return r.choice(EDGE) if r.random() < 0.8 else r.randrange(-2**65, 2**65)
    if r.random() < 0.5:
        return W + r.randrange(NPAGES) * PAGE_SIZE
    return r.randrange(0, 8) * PAGE_SIZE


def draw_call(r, procs, fds):
    p = r.choice(procs)
    hostile = r.random() < 0.5
    v = lambda: value(r, hostile)                         # noqa: E731
    call = r.choice(["mmap", "mmap", "munmap", "mprotect", "mremap", "madvise", "read",
                     "write", "fork", "exit", "ftruncate", "open", "memfd_create"])
    if call == "mmap":
        addr = W + r.randrange(NPAGES) * PAGE_SIZE if not hostile else v()
        flags = r.choice([0x22, 0x22, 0x21, 0x02, 0x01, 0x03, 0x4022, 0x8022, 0x100022])
        flags |= r.choice([0, 0x10, 0x10, 0x100000])
        if hostile and r.random() < 0.3:
            flags |= r.choice([0x80000, 0x800000, 1 << 40, 0x08])
        flags &= ~(0x40000 | 0x100 | 0x08) if r.random() < 0.9 else ~0
        fd = r.choice(list(fds.get(p.name, [])) or [-1]) if not flags & 0x20 else -1
        if hostile and r.random() < 0.3:
            fd = v()
        args = (addr, r.randrange(1, 8) * PAGE_SIZE if not hostile else v(),
                r.choice([1, 3, 3, 0, 5, 7]) if not hostile else v() & 0xf,
                flags, fd, r.randrange(0, 8) * PAGE_SIZE if not hostile else v())
    elif call in ("munmap", "read", "write"):
        args = (v(), r.randrange(1, 8) * PAGE_SIZE if not hostile else v() & 0xffffffff)
    elif call == "mprotect":
        args = (v(), r.randrange(1, 8) * PAGE_SIZE if not hostile else v(),
                r.choice([0, 1, 3, 5, 7]) if not hostile else v())
    elif call == "mremap":
        args = (v(), r.randrange(0, 8) * PAGE_SIZE if not hostile else v(),
                r.randrange(1, 8) * PAGE_SIZE if not hostile else v(),
                r.choice([0, 1, 3, 7]) if not hostile else v() & 0xf, v())
    elif call == "madvise":
        args = (v(), r.randrange(1, 8) * PAGE_SIZE if not hostile else v(),
                r.choice([4, 8, 3, 10, 11, 18, 19, 16, 17, 0, 1, 2, 20, 5]) if not hostile
                else v())
    elif call == "ftruncate":
        args = (r.choice(list(fds.get(p.name, [])) or [3]), r.randrange(0, 12) * PAGE_SIZE + r.choice(
            [0, 0, 100]) if not hostile else v())
    elif call == "open":
        args = (r.choice(["/f", "/g", "/dev/zero"]), r.choice([0, 1, 2, 3, 0o102, 0o302, 0o1002]))
    elif call == "memfd_create":
        args = (r.choice(["m", "x" * 250, "a\0b"]), r.choice([0, 1, 0x100, 2**32]))
    else:
        args = ()
    if hostile and args and r.random() < 0.03:            # a non-integer somewhere
        i = r.randrange(len(args))
        args = args[:i] + (r.choice(BAD_TYPES),) + args[i + 1:]
    return p, call, args


def partial_ok(p, call, args):
    """Could a failure of this call keep partial work, as the kernel's does?"""
    if call in ("read", "write", "exit", "fork"):
        return True
    try:
        types = [t for t, _ in getattr(type(p), call).__c_params__]
        a = [c_value(x, t) for x, t in zip(args, types)]
    except TypeError:
        return False
    mm = p.mm
    if call == "mprotect":
        return mm.vma_lookup(a[0]) is not None
    if call == "madvise":
        return bool(mm.vmas_in(a[0], min(a[0] + PAGE_ALIGN(a[1]), 2**64)))
    if call == "mremap" and a[3] & MREMAP_FIXED:
        return bool(mm.vmas_in(a[0], a[0] + a[1])) or \
            bool(mm.vmas_in(a[4], a[4] + PAGE_ALIGN(a[2])))
    return False


def campaign(nops, seed, check_every_failure=True):
    r = random.Random(seed)
    k = Kernel(totalram_pages=4096)
    k.create_file("/f", 12 * PAGE_SIZE)
    procs = [k.spawn()]
    fds = collections.defaultdict(set)
    stats = collections.Counter()
    problems = []
    for i in range(nops):
        p, call, args = draw_call(r, procs, fds)
        if call == "exit" and len(procs) == 1:
            continue
        if call == "fork" and len(procs) >= 4:
            continue
        before = fingerprint(k) if check_every_failure else None
        partial = partial_ok(p, call, args)
        stats["ops"] += 1
        failed = None
        try:
            ret = getattr(p, call)(*args)
            if call == "fork":
                procs.append(ret)
                fds[ret.name] = set(fds[p.name])
            elif call == "exit":
                procs.remove(p)
            elif call in ("open", "memfd_create"):
                fds[p.name].add(ret)
        except OSError as e:
            failed = errno.errorcode.get(e.errno, str(e.errno))
            stats["failed"] += 1
            stats["errno " + failed] += 1
        except TypeError:
            failed = "TypeError"
            stats["failed"] += 1
            stats["TypeError"] += 1
            partial = False
        except SegmentationFault as e:
            failed = type(e).__name__
            stats["failed"] += 1
            stats[failed] += 1
        except NotImplementedError:
            failed = "NotImplementedError"
            stats["failed"] += 1
            stats[failed] += 1
            partial = False
        except Exception as e:                           # noqa: BLE001 - a finding
            problems.append(f"op {i}: {call}{args}: internal {type(e).__name__}: {e}")
            stats["internal errors"] += 1
            break
        try:
            k.validate()
        except ValidationError as e:
            problems.append(f"op {i}: {call}{args}: validate(): {e}")
            stats["validate() failures"] += 1
            break
        if failed and not partial and before is not None:
            if fingerprint(k) != before:
                problems.append(f"op {i}: failing {call}{args} ({failed}) changed the model")
                stats["changed on failure"] += 1
                break
    return stats, problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    t = time.perf_counter()
    stats, problems = campaign(a.ops, a.seed)
    dt = time.perf_counter() - t
    print(f"seed {a.seed}: {stats['ops']} operations, {stats['failed']} failing calls, "
          f"{stats['validate() failures']} validate() failures, "
          f"{stats['changed on failure']} failing calls that changed the model, "
          f"{stats['internal errors']} internal errors ({dt:.0f} s)")
    for key in sorted(k for k in stats if k.startswith("errno ") or k[0].isupper()):
        print(f"  {key}: {stats[key]}")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
