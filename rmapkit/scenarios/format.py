"""The scenario format: a hand-written list of syscalls, one per line, in pages of a window.

A scenario means the same thing in the model and in a real process because every address
is a page number inside a fixed *window* of address space (``BASE`` = 0x200000000000, far
below where mmap() places anything by itself), with a PROT_NONE guard page on each side
that never merges with anything.  Example (the ``split`` scenario)::

    # Map three pages, write them all, unmap the middle one.
    window 8
    P0: mmap 0 3 rw private anon      # pages 0-2 of the window
    P0: write 0 3                     # one write fault per page
    P0: munmap 1 1

Lines
-----
``# text``                        comment; the comments before the first line of content
                                  are the scenario's description
``window N``                      the window is N pages (default 32, at most 2048)
``file NAME PAGES [disk]``        a regular file of PAGES pages, created before the first op
                                  on tmpfs, or with ``disk`` on the disk file system (ext4)
``device NAME PAGES pfn=PFN``     model only: a device whose ->mmap calls remap_pfn_range()
                                  from PFN on (open and mmap it like a file)
``model-only REASON``             the live kernel cannot run this scenario (REASON says why)
``thp KEY=VALUE``                 a file of /sys/kernel/mm/transparent_hugepage/ for this
                                  scenario (``thp hugepages-64kB/enabled=madvise``); the
                                  others keep the stock values (rmapkit.uapi.THP_DEFAULTS)
``PROC: OP ARGS...``              an op run by process PROC (``P0`` exists at the start)
``expect ERRNO``                  the op above must fail with ERRNO (``EEXIST``, ``EFAULT``,
                                  ...; ``SIGSEGV`` for a read/write the kernel refuses
                                  with SIGSEGV or SIGBUS: the two are not told apart).
                                  ``... expect ERRNO`` may also end the op's own line.
                                  An op without ``expect`` must succeed.

Ops (PAGE and N are page numbers / counts inside the window)
------------------------------------------------------------
``mmap PAGE N PROT TYPE SOURCE [FLAG...]``  PROT ``rw``/``r-x``/``---``/``none``...;
      TYPE ``private``/``shared``; SOURCE ``anon`` or ``fd=NAME [off=PAGES]``;
      FLAG ``fixed``, ``noreplace`` (MAP_FIXED_NOREPLACE), ``noreserve``, ``populate``,
      ``locked``.  Without ``fixed`` PAGE is only a hint: the kernel takes a free hint,
      and a hint that is not free is reported (the mapping would land outside the window).
``munmap PAGE N`` / ``mprotect PAGE N PROT`` / ``madvise PAGE N ADVICE`` (``dontneed``,
      ``wipeonfork``, ``hugepage``, ``nohugepage``, ``collapse``, ... = MADV_*)
``mremap PAGE OLD_N NEW_N [to PAGE] [dontunmap]``  in place, or moved (MREMAP_MAYMOVE |
      MREMAP_FIXED) to ``PAGE``; ``maymove``/``fixed`` may be given by hand for error cases
``read PAGE [N]`` / ``write PAGE [N]``  touch one byte of every page (read / write fault)
``fork CHILD`` / ``exit``
``open PATH MODE as FD`` (PATH a ``file`` NAME or /dev/zero; MODE ``r``/``w``/``rw``),
``memfd NAME as FD``, ``ftruncate FD PAGES``, ``close FD``
``pwrite FD OFF LEN`` / ``pread FD OFF LEN``  pwrite(2)/pread(2) of LEN at OFF; OFF, LEN
      (and ftruncate's PAGES) count pages and may be fractions (``1.5``)
``fallocate FD OFF LEN [keep] [punch]``  fallocate(2), FALLOC_FL_KEEP_SIZE / _PUNCH_HOLE
``fsync FD``

Parsing never raises anything but ScenarioError, whose message names the file, the line,
the op and the problem.  Cost: O(lines).
"""

from __future__ import annotations

import errno as _errno
import re
from dataclasses import dataclass, replace

from rmapkit import uapi
from rmapkit.snapshot import WINDOW_BASE
from rmapkit.uapi import PAGE_SIZE

__all__ = ["ScenarioError", "Op", "Scenario", "BASE", "DEFAULT_WINDOW",
           "MAX_WINDOW", "OUTCOME_NAMES", "SIGSEGV", "parse_prot", "prot_text"]

BASE = WINDOW_BASE              # 32 TiB: 2 MiB aligned, far below mmap_base
DEFAULT_WINDOW = 32
MAX_WINDOW = 2048               # 8 MiB: four 2 MiB blocks for THP scenarios
SIGSEGV = "SIGSEGV"
OUTCOME_NAMES = frozenset(_errno.errorcode.values()) | {SIGSEGV}



class ScenarioError(ValueError):
    """A scenario that cannot be parsed or run; the message names line, op and problem."""

    def __init__(self, problem, line=None, text=None, source=None):
        self.problem, self.line, self.text, self.source = problem, line, text, source
        where = f"{source or '<scenario>'}:{line}: " if line else f"{source}: " if source else ""
        msg = f"{where}{problem}"
        if text:
            msg += f"\n    {text}"
        super().__init__(msg)


@dataclass(frozen=True)
class Op:
    """One op of a scenario, lowered to absolute byte values (``args`` is JSON-able)."""

    line: int                   # line in the source (0 if made by a program)
    text: str                   # the op as written, e.g. "P0: munmap 1 1"
    proc: str
    kind: str
    args: dict
    expect: str | None = None   # errno name, "SIGSEGV", or None (must succeed)


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario; see the module doc for the format."""

    name: str
    description: str
    window_pages: int
    ops: tuple
    files: tuple = ()                   # (name, pages)
    file_systems: tuple = ()            # (name, "ext4") for files not on tmpfs
    devices: tuple = ()                 # (name, pages, first pfn): model only
    model_only: str | None = None       # why the live kernel cannot run it
    path: str | None = None
    thp: tuple = ()                     # (sysfs file, value) set for this scenario
    base: int = BASE

    @property
    def window(self):
        """(start, end) of the window in bytes."""
        return self.base, self.base + self.window_pages * PAGE_SIZE

    def addr(self, page):
        return self.base + page * PAGE_SIZE

    def page(self, addr):
        """Window page number of ``addr`` (may be negative or past the end)."""
        return (addr - self.base) // PAGE_SIZE

    @property
    def thp_used(self):
        """True if the scenario sets THP files or uses MADV_HUGEPAGE / MADV_COLLAPSE (its
        live run then needs rmapkit.live.thp.configured())."""
        return bool(self.thp) or any(op.kind == "madvise" and op.args["advice"] in
                                     (uapi.MADV_HUGEPAGE, uapi.MADV_COLLAPSE)
                                     for op in self.ops)

    def processes(self):
        """Names of every process the scenario creates, in creation order."""
        names = ["P0"]
        names += [op.args["child"] for op in self.ops if op.kind == "fork"]
        return names

    def file_system(self, name):
        """"tmpfs" or "ext4" (a ``disk`` file) for a declared file."""
        return dict(self.file_systems).get(name, "tmpfs")

    def prefix(self, n):
        """The scenario made of the first ``n`` ops."""
        return replace(self, ops=self.ops[:n])

    def with_expects(self, outcomes):
        """A copy whose ops expect ``outcomes`` (one errno name or None per op)."""
        ops = tuple(replace(op, expect=o) for op, o in zip(self.ops, outcomes))
        return replace(self, ops=ops + self.ops[len(ops):])

    def text(self):
        """The scenario as a file that parses back to the same ops."""
        out = [f"# {line}".rstrip() for line in self.description.splitlines()]
        out.append(f"window {self.window_pages}")
        disk = dict(self.file_systems)
        out += [f"file {n} {p}" + (" disk" if n in disk else "") for n, p in self.files]
        out += [f"device {n} {p} pfn={f:#x}" for n, p, f in self.devices]
        if self.model_only:
            out.append(f"model-only {self.model_only}")
        out += [f"thp {k}={v}" for k, v in self.thp]
        for op in self.ops:
            out.append(op.text)
            if op.expect:
                out.append(f"expect {op.expect}")
        return "\n".join(out) + "\n"

    def program(self, steps=True, files_dir=None):
        """The live-kernel program of this scenario (see rmapkit.live.child)."""
        return {"window": list(self.window), "steps": steps, "counters": bool(self.thp_used),
                "files": [[n, p * PAGE_SIZE, self.file_system(n)] for n, p in self.files],
                "ops": [{"proc": op.proc, "kind": op.kind, "args": op.args} for op in self.ops]}


def parse_prot(word):
    """``rw`` / ``rw-`` / ``r-x`` / ``---`` / ``none`` -> PROT_* bits, or None if invalid."""
    w = word.lower()
    if w in ("none", "---", "-"):
        return uapi.PROT_NONE
    if re.fullmatch(r"[r-][w-][x-]", w):
        w = w.replace("-", "")
    if not w or not re.fullmatch(r"r?w?x?", w):
        return None
    return ((uapi.PROT_READ if "r" in w else 0) | (uapi.PROT_WRITE if "w" in w else 0)
            | (uapi.PROT_EXEC if "x" in w else 0))


def prot_text(prot):
    """PROT_* bits -> ``rw-``."""
    return "".join(c if prot & b else "-" for c, b in
                   (("r", uapi.PROT_READ), ("w", uapi.PROT_WRITE), ("x", uapi.PROT_EXEC)))
