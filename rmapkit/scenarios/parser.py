"""The scenario parser: text -> Scenario, or a ScenarioError naming the line and problem.

The format is described in rmapkit.scenarios.format.  Besides syntax, the parser checks
what it can know without running anything: pages inside the window, processes that exist
(``fork`` creates, ``exit`` ends), file descriptors opened in that process (inherited over
fork), declared files, moves with a destination.  Cost: O(lines).
"""

from __future__ import annotations

import errno as _errno
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction

from rmapkit import uapi
from rmapkit.scenarios.format import (BASE, DEFAULT_WINDOW, MAX_WINDOW, OUTCOME_NAMES, Op,
                                      Scenario, ScenarioError, parse_prot)
from rmapkit.uapi import PAGE_SIZE

__all__ = ["parse"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_MAP_TYPES = {"private": uapi.MAP_PRIVATE, "shared": uapi.MAP_SHARED,
              "shared_validate": uapi.MAP_SHARED_VALIDATE}
_MAP_FLAGS = {"fixed": uapi.MAP_FIXED, "noreplace": uapi.MAP_FIXED_NOREPLACE,
              "fixed_noreplace": uapi.MAP_FIXED_NOREPLACE, "noreserve": uapi.MAP_NORESERVE,
              "populate": uapi.MAP_POPULATE, "locked": uapi.MAP_LOCKED}
_MREMAP_FLAGS = {"maymove": uapi.MREMAP_MAYMOVE, "fixed": uapi.MREMAP_FIXED,
                 "dontunmap": uapi.MREMAP_DONTUNMAP}
_MADV = {n[5:].lower(): getattr(uapi, n) for n in uapi.__all__ if n.startswith("MADV_")}
_OPEN_MODES = {"r": uapi.O_RDONLY, "w": uapi.O_WRONLY, "rw": uapi.O_RDWR}
_FS = {"tmpfs": "tmpfs", "disk": "ext4", "ext4": "ext4"}
_FALLOC = {"keep": uapi.FALLOC_FL_KEEP_SIZE, "keep_size": uapi.FALLOC_FL_KEEP_SIZE,
           "punch": uapi.FALLOC_FL_PUNCH_HOLE, "punch_hole": uapi.FALLOC_FL_PUNCH_HOLE}


# The ops of the format (rmapkit.scenarios.format), each parsed by ``_Parser.op_<name>``.
OPS = ("mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write", "fork", "exit",
       "open", "memfd", "ftruncate", "close", "pread", "pwrite", "fallocate", "fsync")


def parse(text, name="<scenario>", path=None):
    """Parse scenario ``text``; raise ScenarioError naming the line and problem."""
    return _Parser(text, name, path).run()



@dataclass
class _Parser:
    text: str
    name: str
    path: str | None
    window: int | None = None
    files: dict = field(default_factory=dict)
    devices: dict = field(default_factory=dict)
    model_only: str | None = None
    thp: dict = field(default_factory=dict)
    ops: list = field(default_factory=list)
    procs: dict = field(default_factory=lambda: {"P0": set()})   # live name -> fd names
    all_procs: set = field(default_factory=lambda: {"P0"})
    lineno: int = 0
    line_text: str = ""
    kind_word: str = ""

    def fail(self, problem):
        raise ScenarioError(problem, self.lineno, self.line_text, self.path or self.name)

    def run(self):
        if not isinstance(self.text, str):
            raise ScenarioError("a scenario is text (str)", source=self.path or self.name)
        desc, in_header = [], True
        for self.lineno, raw in enumerate(self.text.splitlines(), 1):
            body = raw.split("#", 1)[0].strip()
            self.line_text = body
            if not body:
                if in_header and raw.strip().startswith("#"):
                    desc.append(raw.strip()[1:].strip())
                continue
            in_header = False
            self.line(body)
        if not self.ops:
            raise ScenarioError("the scenario has no ops (lines like `P0: mmap 0 1 rw "
                                "private anon`)", source=self.path or self.name)
        while desc and not desc[-1]:
            desc.pop()
        return Scenario(name=self.name, description="\n".join(desc),
                        window_pages=self.window or DEFAULT_WINDOW, ops=tuple(self.ops),
                        files=tuple((n, pages) for n, (pages, _) in self.files.items()),
                        file_systems=tuple((n, fs) for n, (_, fs) in self.files.items()
                                           if fs != "tmpfs"),
                        model_only=self.model_only,
                        devices=tuple((n, p, f) for n, (p, f) in self.devices.items()),
                        path=self.path, thp=tuple(self.thp.items()))

    # -- lines -------------------------------------------------------------------------
    def line(self, body):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*:\s*(.*)$", body)
        if m:
            return self.op_line(m.group(1), m.group(2).split())
        words = body.split()
        head = words[0].lower()
        if head == "window":
            if self.ops or self.window is not None:
                self.fail("`window` must come once, before the first op")
            self.window = self.count(words, 1, "window size in pages", lo=1)
            if self.window > MAX_WINDOW:
                self.fail(f"the window is at most {MAX_WINDOW} pages")
            self.nargs(words, 2)
        elif head == "file":
            if len(words) not in (3, 4) or (len(words) == 4 and words[3].lower() not in _FS):
                self.fail("usage: file NAME PAGES [tmpfs|disk]")
            fname = self.ident(words[1], "file name")
            if fname in self.files:
                self.fail(f"file {fname!r} is declared twice")
            fs = _FS[words[3].lower()] if len(words) == 4 else "tmpfs"
            self.files[fname] = (self.count(words, 2, "file size in pages"), fs)
        elif head == "device":
            if len(words) != 4 or not words[3].lower().startswith("pfn="):
                self.fail("usage: device NAME PAGES pfn=PFN")
            dname = self.ident(words[1], "device name")
            if dname in self.files or dname in self.devices:
                self.fail(f"{dname!r} is declared twice")
            npages = self.count(words, 2, "device size in pages", lo=1)
            pfn = self.count([words[3][4:]], 0, "pfn")
            for other, (n2, pfn2) in self.devices.items():
                if pfn < pfn2 + n2 and pfn2 < pfn + npages:
                    self.fail(f"device {dname}'s frames [{pfn:#x}, {pfn + npages:#x}) overlap "
                              f"device {other}'s [{pfn2:#x}, {pfn2 + n2:#x})")
            self.devices[dname] = (npages, pfn)
        elif head == "thp":
            from rmapkit.uapi import check_thp_value
            if self.ops:
                self.fail("`thp` lines come before the first op")
            if len(words) != 2 or "=" not in words[1]:
                self.fail("usage: thp KEY=VALUE (e.g. thp hugepages-64kB/enabled=madvise)")
            key, value = words[1].split("=", 1)
            v, why = check_thp_value(key, value)
            if why:
                self.fail(f"bad THP setting: {why}")
            self.thp[key] = v
        elif head == "model-only":
            self.model_only = " ".join(words[1:]) or "not reproducible on a live kernel"
        elif head == "expect":
            self.nargs(words, 2, "expect ERRNO")
            if not self.ops:
                self.fail("`expect` must follow the op it is about")
            if self.ops[-1].expect:
                self.fail("the op above already has an `expect`")
            self.ops[-1] = replace(self.ops[-1], expect=self.outcome(words[1]))
        else:
            self.fail(f"unknown line {words[0]!r}: expected `PROC: op ...`, `window`, "
                      "`file`, `device`, `thp`, `model-only` or `expect`")

    def op_line(self, proc, words):
        if not words:
            self.fail("missing op after the process name")
        kind = words[0].lower()
        expect = None
        if len(words) >= 2 and words[-2].lower() == "expect":
            expect, words = self.outcome(words[-1]), words[:-2]
        # Only the ops of the format: a name like "line" must not find a parser method.
        handler = getattr(self, "op_" + kind) if kind in OPS else None
        self.kind_word = kind
        if handler is None:
            self.fail(f"unknown op {words[0]!r} (ops: {' '.join(OPS)})")
        if proc not in self.procs:
            why = "has exited" if proc in self.all_procs else \
                f"does not exist (create it with `P0: fork {proc}`)"
            self.fail(f"process {proc} {why}")
        args = handler(proc, words[1:])
        text = f"{proc}: {' '.join(words)}"
        self.ops.append(Op(line=self.lineno, text=text, proc=proc, kind=kind, args=args,
                           expect=expect))

    # -- helpers -----------------------------------------------------------------------
    def nargs(self, words, n, usage=None):
        if len(words) != n:
            self.fail(f"expected {n - 1} argument(s)" + (f": {usage}" if usage else ""))

    def count(self, words, i, what, lo=0):
        if i >= len(words):
            self.fail(f"missing {what}")
        try:
            v = int(words[i], 0)
        except ValueError:
            self.fail(f"{what} must be a whole number, not {words[i]!r}")
        if v < lo:
            self.fail(f"{what} must be at least {lo}, not {v}")
        return v

    def ident(self, word, what):
        if not _NAME.match(word):
            self.fail(f"{what} {word!r} is not a name (letters, digits, _ . -)")
        return word

    def outcome(self, word):
        w = word.upper()
        if w == "SIGBUS":           # the live side cannot tell SIGBUS from SIGSEGV
            w = "SIGSEGV"
        # One name per errno number, as errno.errorcode spells it (EOPNOTSUPP is ENOTSUP,
        # EWOULDBLOCK is EAGAIN on Linux).
        w = _errno.errorcode.get(getattr(_errno, w, None), w)
        if w not in OUTCOME_NAMES:
            self.fail(f"unknown errno {word!r} (use a name like EINVAL, ENOMEM, EEXIST, "
                      "EFAULT, or SIGSEGV for a refused read/write)")
        return w

    def range_(self, words, usage, default_n=None):
        """PAGE N at the start of ``words`` -> (addr, length), checked against the window."""
        if not words:
            self.fail(f"missing page number: {usage}")
        page = self.count(words, 0, "page number")
        if len(words) < 2 and default_n is not None:
            n = default_n
        else:
            n = self.count(words, 1, "number of pages")
        self.inside(page, n)
        return self.addr(page), n * PAGE_SIZE

    def inside(self, page, n):
        w = self.window or DEFAULT_WINDOW
        if page + n > w or page >= w:
            self.fail(f"pages {page}..{page + n - 1} are outside the {w}-page window "
                      f"(declare a bigger `window`)")

    def addr(self, page):
        return BASE + page * PAGE_SIZE

    def prot(self, word):
        p = parse_prot(word)
        if p is None:
            self.fail(f"bad protection {word!r} (use r, rw, rwx, r-x, --- or none)")
        return p

    def fd(self, proc, name):
        if name not in self.procs[proc]:
            self.fail(f"{proc} has no file descriptor {name!r} (use `{proc}: open PATH rw as "
                      f"{name}` or `{proc}: memfd NAME as {name}` first)")
        return name

    # -- ops ---------------------------------------------------------------------------
    def op_mmap(self, proc, w):
        usage = "mmap PAGE N PROT private|shared anon|fd=NAME [off=PAGES] [fixed ...]"
        if len(w) < 4:
            self.fail(f"too few arguments: {usage}")
        addr, length = self.range_(w, usage)
        prot = self.prot(w[2])
        flags, fd, offset, source = 0, None, 0, None
        for word in w[3:]:
            lw = word.lower().removeprefix("map_")
            if lw in _MAP_TYPES:
                if flags & uapi.MAP_TYPE:
                    self.fail("give one of private / shared")
                flags |= _MAP_TYPES[lw]
            elif lw in ("anon", "anonymous"):
                source = "anon"
                flags |= uapi.MAP_ANONYMOUS
            elif lw.startswith("fd="):
                source, fd = "fd", self.fd(proc, word[3:])
            elif lw.startswith("off="):
                offset = self.count([word[4:]], 0, "file offset in pages") * PAGE_SIZE
            elif lw in _MAP_FLAGS:
                flags |= _MAP_FLAGS[lw]
            else:
                self.fail(f"unknown mmap word {word!r} (expected private, shared, anon, "
                          f"fd=NAME, off=PAGES, {', '.join(_MAP_FLAGS)})")
        if source is None:
            self.fail("say what is mapped: `anon` or `fd=NAME`")
        return {"addr": addr, "length": length, "prot": prot, "flags": flags, "fd": fd,
                "offset": offset}

    def op_munmap(self, proc, w):
        self.nargs(["munmap"] + w, 3, "munmap PAGE N")
        addr, length = self.range_(w, "munmap PAGE N")
        return {"addr": addr, "length": length}

    def op_mprotect(self, proc, w):
        self.nargs(["mprotect"] + w, 4, "mprotect PAGE N PROT")
        addr, length = self.range_(w, "mprotect PAGE N PROT")
        return {"addr": addr, "length": length, "prot": self.prot(w[2])}

    def op_madvise(self, proc, w):
        self.nargs(["madvise"] + w, 4, "madvise PAGE N ADVICE")
        addr, length = self.range_(w, "madvise PAGE N ADVICE")
        adv = w[2].lower().removeprefix("madv_")
        if adv not in _MADV:
            self.fail(f"unknown advice {w[2]!r} (e.g. dontneed, wipeonfork, dontfork)")
        return {"addr": addr, "length": length, "advice": _MADV[adv]}

    def op_mremap(self, proc, w):
        usage = "mremap PAGE OLD_N NEW_N [to PAGE] [dontunmap]"
        if len(w) < 3:
            self.fail(f"too few arguments: {usage}")
        page = self.count(w, 0, "page number")
        old_n = self.count(w, 1, "old number of pages")
        new_n = self.count(w, 2, "new number of pages")
        self.inside(page, old_n)
        flags, new_page, rest = 0, None, w[3:]
        while rest:
            word = rest.pop(0).lower()
            if word == "to":
                new_page = self.count(rest, 0, "destination page")
                rest.pop(0)
                flags |= uapi.MREMAP_MAYMOVE | uapi.MREMAP_FIXED
            elif word.removeprefix("mremap_") in _MREMAP_FLAGS:
                flags |= _MREMAP_FLAGS[word.removeprefix("mremap_")]
            else:
                self.fail(f"unknown mremap word {word!r}: {usage}")
        if new_page is None:
            if flags & (uapi.MREMAP_MAYMOVE | uapi.MREMAP_DONTUNMAP) and \
                    not flags & uapi.MREMAP_FIXED:
                self.fail("a move needs a destination inside the window (`to PAGE`): "
                          "kernel-chosen addresses differ between model and kernel")
            self.inside(page, new_n)
            new_addr = 0
        else:
            self.inside(new_page, new_n)
            new_addr = self.addr(new_page)
        return {"addr": self.addr(page), "old_length": old_n * PAGE_SIZE,
                "new_length": new_n * PAGE_SIZE, "flags": flags, "new_addr": new_addr}

    def op_read(self, proc, w):
        if len(w) not in (1, 2):
            self.fail("usage: read PAGE [N]")
        addr, length = self.range_(w, "read PAGE [N]", default_n=1)
        return {"addr": addr, "length": length}

    op_write = op_read

    def op_fork(self, proc, w):
        self.nargs(["fork"] + w, 2, "fork CHILD")
        child = self.ident(w[0], "process name")
        if child in self.all_procs:
            self.fail(f"process name {child} is already used")
        self.procs[child] = set(self.procs[proc])
        self.all_procs.add(child)
        return {"child": child}

    def op_exit(self, proc, w):
        self.nargs(["exit"] + w, 1, "exit")
        del self.procs[proc]
        return {}

    def _as(self, proc, w, usage):
        if len(w) < 2 or w[-2].lower() != "as":
            self.fail(f"usage: {usage}")
        name = self.ident(w[-1], "file descriptor name")
        self.procs[proc].add(name)
        return name

    def op_open(self, proc, w):
        usage = "open PATH r|w|rw as FD"
        if len(w) != 4:
            self.fail(f"usage: {usage}")
        path, mode = w[0], w[1].lower()
        if path != "/dev/zero" and path not in self.files and path not in self.devices:
            self.fail(f"no file {path!r}: declare it with `file {path} PAGES` "
                      "(or open /dev/zero)")
        if path in self.devices and not self.model_only:
            self.fail(f"device {path!r} exists only in the model: add a `model-only REASON` "
                      "line")
        if mode not in _OPEN_MODES:
            self.fail(f"open mode must be r, w or rw, not {w[1]!r}")
        return {"path": path, "flags": _OPEN_MODES[mode], "fd": self._as(proc, w, usage)}

    def op_memfd(self, proc, w):
        usage = "memfd NAME as FD"
        if len(w) != 3:
            self.fail(f"usage: {usage}")
        return {"name": self.ident(w[0], "memfd name"), "fd": self._as(proc, w, usage)}

    def bytes_(self, word, what):
        """A file offset or size in pages, fractions allowed (``1.5`` = 6144 bytes)."""
        try:
            pages = Fraction(word)
        except (ValueError, ZeroDivisionError):
            self.fail(f"{what} must be a number of pages (like 3 or 1.5), not {word!r}")
        n = pages * PAGE_SIZE
        if n < 0 or n.denominator != 1:
            self.fail(f"{what} {word} pages is not a whole number of bytes >= 0")
        return int(n)

    def op_ftruncate(self, proc, w):
        self.nargs(["ftruncate"] + w, 3, "ftruncate FD PAGES")
        return {"fd": self.fd(proc, w[0]), "length": self.bytes_(w[1], "size")}

    def op_pwrite(self, proc, w):
        usage = f"{self.kind_word} FD OFFSET LENGTH (in pages, e.g. 0 2 or 1.5 0.25)"
        if len(w) != 3:
            self.fail(f"usage: {usage}")
        return {"fd": self.fd(proc, w[0]), "offset": self.bytes_(w[1], "offset"),
                "length": self.bytes_(w[2], "length")}

    op_pread = op_pwrite

    def op_fallocate(self, proc, w):
        usage = "fallocate FD OFFSET LENGTH [keep] [punch]"
        if len(w) < 3:
            self.fail(f"usage: {usage}")
        mode = 0
        for word in w[3:]:
            lw = word.lower().removeprefix("falloc_fl_")
            if lw not in _FALLOC:
                self.fail(f"unknown fallocate word {word!r} (keep, punch): {usage}")
            mode |= _FALLOC[lw]
        return {"fd": self.fd(proc, w[0]), "mode": mode, "offset": self.bytes_(w[1], "offset"),
                "length": self.bytes_(w[2], "length")}

    def op_fsync(self, proc, w):
        self.nargs(["fsync"] + w, 2, "fsync FD")
        return {"fd": self.fd(proc, w[0])}

    def op_close(self, proc, w):
        self.nargs(["close"] + w, 2, "close FD")
        self.procs[proc].discard(self.fd(proc, w[0]))
        return {"fd": w[0]}
