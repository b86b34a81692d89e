"""Run a scenario in the model or in the live kernel; both give a RunResult of one shape.

run_model() drives rmapkit's Kernel only through its public API (Kernel(), spawn(),
Process.mmap()...); run_live() lowers the scenario to a program for rmapkit.live.  Both map
the same two guard pages (MAP_SHARED|MAP_ANONYMOUS PROT_NONE, each its own shmem object,
so nothing ever merges with them) around the window first, and record after every op the
outcome (None, an errno name, or "SIGSEGV") and a Snapshot of the window.
Cost: the ops, plus one snapshot per op (O(VMAs + pages in the window) per process).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field, replace

from rmapkit import uapi
from rmapkit.live import FILES_DIR, GUARD_FLAGS
from rmapkit.scenarios.format import SIGSEGV, Scenario, ScenarioError
from rmapkit.uapi import PAGE_SIZE

__all__ = ["RunResult", "ModelResult", "LiveResult", "Outcome", "classify", "run_model",
           "run_live", "run_live_many",
           "FILES_DIR", "GUARD_FLAGS", "check_expectations", "apply_op", "hint_taken",
           "model_setup",
           "model_snapshot"]



@dataclass
class RunResult:
    """What running a scenario gave: per op outcome and snapshot, and the final state.

    ``steps`` is [(op text, Snapshot after the op)]; ``errors`` the (op, errno) of ops that
    failed as expected; ``problems`` the ops whose outcome differs from the scenario's
    ``expect`` (or whose mmap hint was not taken); ``error`` says why the run stopped early.
    """

    source: str
    scenario: Scenario
    outcomes: list = field(default_factory=list)
    rets: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None          # live only: why it was not run (model-only scenario)
    kernel: object = None               # model only: the rmapkit Kernel
    procs: dict = field(default_factory=dict)   # model only: scenario name -> Process

    @property
    def snapshot(self):
        """The Snapshot after the last op that ran (None if none ran)."""
        return self.steps[-1][1] if self.steps else None

    @property
    def ok(self):
        return self.error is None and not self.problems and self.skipped is None


ModelResult = LiveResult = RunResult


@dataclass(frozen=True)
class Outcome:
    """What an exception from the model means for a scenario op.

    ``name`` is what a scenario's ``expect`` names: the errno's name (``"ENOMEM"``,
    ``"ESRCH"``...) or ``"SIGSEGV"`` for a refused access, SIGBUS included (the live side
    cannot tell the two apart, so the scenario language has one word); ``signal`` is the
    signal itself (``"SIGSEGV"``, ``"SIGBUS"``; None for an errno), ``addr`` the faulting
    address, ``reason`` the model's words.
    """

    name: str
    signal: str | None = None
    addr: int | None = None
    reason: str = ""


def classify(exc: BaseException) -> Outcome | None:
    """The scenario outcome ``exc`` stands for, or None if it is none (a model bug).

    The one classifier behind run_model() and the Playground's Session: an OSError is its
    errno (``e.errno``, never the text), a SegmentationFault or BusError its ``signal``.
    An OSError without an errno is not a syscall's answer, so it is None too.  O(1).

    >>> import errno
    >>> classify(OSError(errno.ENOMEM, "mmap: no room")).name
    'ENOMEM'
    >>> classify(ProcessLookupError(errno.ESRCH, "P1 has exited")).name
    'ESRCH'
    >>> classify(KeyError("P1")) is None
    True
    """
    from rmapkit.errors import SegmentationFault
    if isinstance(exc, SegmentationFault):
        return Outcome(SIGSEGV, exc.signal, exc.addr, exc.reason)
    if isinstance(exc, OSError) and exc.errno is not None:
        reason = exc.strerror if isinstance(exc.strerror, str) else str(exc)
        return Outcome(errno.errorcode.get(exc.errno, str(exc.errno)), reason=reason)
    return None


def check_expectations(sc, res):
    """Fill ``res.errors`` and ``res.problems`` from the outcomes and the ops' ``expect``."""
    res.errors, res.problems = [], []
    for op, outcome, ret in zip(sc.ops, res.outcomes, res.rets):
        if outcome is not None and outcome == op.expect:
            res.errors.append((op, outcome))
        elif outcome != op.expect:
            if op.expect is None:
                hint = f"; add `expect {outcome}` below it if that is intended"
                res.problems.append((op, f"failed with {outcome} but was expected to succeed"
                                         f"{hint}"))
            elif outcome is None:
                res.problems.append((op, f"succeeded but `expect {op.expect}` says it fails"))
            else:
                res.problems.append((op, f"failed with {outcome}, not {op.expect}"))
        elif outcome is None and op.kind == "mmap" and not hint_taken(op, ret):
            res.problems.append((op, f"the hint was not free: the mapping went to {ret:#x}, "
                                     "outside the window (add `fixed` or pick a free hint)"))
    return res


def hint_taken(op, ret):
    """True if a successful mmap landed at the page it asked for (always for MAP_FIXED)."""
    return ret == op.args["addr"]


def _raise_first(res, strict):
    if not strict:
        return res
    sc = res.scenario
    if res.error:
        raise ScenarioError(f"{res.source}: {res.error}", source=sc.path or sc.name)
    if res.problems:
        op, why = res.problems[0]
        raise ScenarioError(f"{why} ({res.source})", op.line or None, op.text,
                            sc.path or sc.name)
    return res


# -- the model ---------------------------------------------------------------------------
def model_setup(sc):
    """A fresh model Kernel laid out for scenario ``sc``: its files and devices, P0, and
    the two guard pages around the window.  Returns ``(kernel, procs, fds)``.  O(files)."""
    from rmapkit import Kernel                  # the model is imported only here

    k = Kernel(thp=dict(sc.thp))
    for name, pages in sc.files:
        k.create_file(f"{FILES_DIR}/{name}", pages * PAGE_SIZE, fs=sc.file_system(name))
    for name, pages, pfn in sc.devices:
        try:
            k.create_device(f"{FILES_DIR}/{name}", pfn, pages)
        except ValueError as e:                 # the zero page, RAM, the PFN limit
            raise ScenarioError(f"device {name}: {e}", source=sc.path or sc.name) from None
    p0 = k.spawn()
    lo, hi = sc.window
    for guard in (lo - PAGE_SIZE, hi):
        p0.mmap(guard, PAGE_SIZE, uapi.PROT_NONE, GUARD_FLAGS)
    return k, {"P0": p0}, {"P0": {}}


def run_model(sc, strict=True, steps=True, validate=False):
    """Run scenario ``sc`` in a fresh model Kernel; return a RunResult (source "model").

    With ``strict`` (the default) an outcome that differs from the scenario's ``expect``,
    or a model failure, raises ScenarioError naming the line; otherwise it is recorded.
    ``steps=False`` snapshots only at the end; ``validate`` runs Kernel.validate() after
    every op.
    """
    k, procs, fds = model_setup(sc)
    res = RunResult(source="model", scenario=sc, kernel=k)
    res.procs = procs
    for i, op in enumerate(sc.ops):
        try:
            ret = apply_op(k, res.procs, fds, op)
            outcome = None
        except Exception as e:
            out = classify(e)
            if out is None:                     # a model bug: report it, do not go on
                res.error = (f"line {op.line}: `{op.text}`: the model raised "
                             f"{type(e).__name__}: {e}")
                if strict:
                    raise ScenarioError(res.error, source=sc.path or sc.name) from e
                break
            outcome, ret = out.name, out.addr
        res.outcomes.append(outcome)
        res.rets.append(ret)
        if validate:
            try:
                k.validate()
            except Exception as e:
                res.error = (f"line {op.line}: `{op.text}`: Kernel.validate() failed: "
                             f"{type(e).__name__}: {e}")
                if strict:
                    raise ScenarioError(res.error, source=sc.path or sc.name) from e
                break
        if steps or i == len(sc.ops) - 1:
            res.steps.append((op.text, model_snapshot(k, res.procs, sc)))
    check_expectations(sc, res)
    return _raise_first(res, strict)


def apply_op(k, procs, fds, op):
    """Run one parsed op on the model through the public syscall API; return its value.

    ``procs`` maps process names to model Processes (fork adds the child), ``fds`` maps
    each process's scenario fd names to numbers.  Failures raise as the model does
    (OSError with the errno, SegmentationFault).  O(cost of the syscall).
    """
    p, a = procs[op.proc], op.args
    kind = op.kind
    if kind == "mmap":
        fd = -1 if a["fd"] is None else fds[op.proc][a["fd"]]
        return p.mmap(a["addr"], a["length"], a["prot"], a["flags"], fd, a["offset"])
    if kind == "munmap":
        return p.munmap(a["addr"], a["length"])
    if kind == "mprotect":
        return p.mprotect(a["addr"], a["length"], a["prot"])
    if kind == "mremap":
        return p.mremap(a["addr"], a["old_length"], a["new_length"], a["flags"], a["new_addr"])
    if kind == "madvise":
        return p.madvise(a["addr"], a["length"], a["advice"])
    if kind == "read":
        return p.read(a["addr"], a["length"])
    if kind == "write":
        return p.write(a["addr"], a["length"])
    if kind == "fork":
        child = p.fork()
        procs[a["child"]] = child
        fds[a["child"]] = dict(fds[op.proc])
        return None
    if kind == "exit":
        p.exit()
        del procs[op.proc]
        return None
    if kind == "open":
        path = a["path"] if a["path"].startswith("/") else f"{FILES_DIR}/{a['path']}"
        fds[op.proc][a["fd"]] = p.open(path, a["flags"])
        return None
    if kind == "memfd":
        fds[op.proc][a["fd"]] = p.memfd_create(a["name"])
        return None
    if kind == "ftruncate":
        return p.ftruncate(fds[op.proc][a["fd"]], a["length"])
    if kind == "close":
        return p.close(fds[op.proc].pop(a["fd"]))
    if kind in ("pwrite", "pread"):
        return getattr(p, kind)(fds[op.proc][a["fd"]], a["offset"], a["length"])
    if kind == "fallocate":
        return p.fallocate(fds[op.proc][a["fd"]], a["mode"], a["offset"], a["length"])
    if kind == "fsync":
        return p.fsync(fds[op.proc][a["fd"]])
    raise ScenarioError(f"op {kind!r} has no model runner", op.line, op.text)


def model_snapshot(k, procs, sc):
    """k.snapshot() of the window for the live processes, with scenario process names."""
    names = {p.name: n for n, p in procs.items()}
    snap = k.snapshot(window=sc.window, processes=list(procs.values()))
    return rename_processes(snap, names)


def rename_processes(snap, names):
    """Snapshot with process names replaced through ``names`` (model name -> scenario name)."""
    if all(a == b for a, b in names.items()):
        return snap
    r = names.get
    procs = tuple(replace(p, name=r(p.name, p.name)) for p in snap.processes)
    avs = tuple(replace(av, avcs=tuple(replace(c, process=r(c.process, c.process))
                                       for c in av.avcs)) for av in snap.anon_vmas)
    spaces = tuple(replace(s, i_mmap=tuple((r(t[0], t[0]),) + tuple(t[1:]) for t in s.i_mmap))
                   for s in snap.address_spaces)
    return replace(snap, processes=procs, anon_vmas=avs, address_spaces=spaces)


# -- the live kernel ---------------------------------------------------------------------
def run_live(sc, strict=True, steps=True, timeout=None):
    """Run scenario ``sc`` in real processes (rmapkit.live); return a RunResult ("live").

    A ``model-only`` scenario is not run: ``skipped`` says why.  With ``strict`` an outcome
    that differs from the scenario's ``expect`` raises ScenarioError.
    """
    return run_live_many([sc], strict=strict, steps=steps, timeout=timeout)[0]


def run_live_many(scenarios, strict=False, steps=True, timeout=None):
    """Run several scenarios in one live driver (one interpreter start for all)."""
    from rmapkit import live
    results = [RunResult(source="live", scenario=sc) for sc in scenarios]
    todo = [r for r in results if not r.scenario.model_only]
    for r in results:
        if r.scenario.model_only:
            r.skipped = f"model-only: {r.scenario.model_only}"
    plain = [r for r in todo if not r.scenario.thp_used]
    raw = live.run_programs([r.scenario.program(steps=steps) for r in plain], timeout=timeout)
    done = list(zip(plain, raw))
    # Scenarios that use THP run with the kernel set up as they say (rmapkit.live.thp),
    # one group of equal settings at a time, under the machine-wide THP lock.
    groups = {}
    for r in todo:
        if r.scenario.thp_used:
            groups.setdefault(r.scenario.thp, []).append(r)
    for settings, rs in groups.items():
        from rmapkit.live import thp as live_thp
        try:
            with live_thp.configured(dict(settings)):
                raw = live.run_programs([r.scenario.program(steps=steps) for r in rs],
                                        timeout=timeout)
        except live_thp.ThpSettingsRefused as e:
            for r in rs:
                r.skipped = f"THP settings not applied: {e}"
            continue
        done += list(zip(rs, raw))
    for r, got in done:
        sc = r.scenario
        r.outcomes, r.rets, r.error = got["outcomes"], got["rets"], got["error"]
        snaps = got["snapshots"]
        if steps:
            r.steps = [(op.text, s) for op, s in zip(sc.ops, snaps)]
        elif snaps:
            r.steps = [(sc.ops[len(r.outcomes) - 1].text, snaps[-1])]
        check_expectations(sc, r)
    if strict:
        for r in results:
            _raise_first(r, True)
    return results
