"""A model run that takes one scenario op at a time: the engine behind the Playground.

``run_model()`` runs a whole scenario and records errno *names*; a playground needs more:
the reason of a failure (the model's OSError message), the file descriptors a later op
may name, and the ability to stop, report, and go on.  :class:`Session` does what
run_model() does (same Kernel set-up, same guard pages, the same per-op runner, the same
window snapshot) but one op at a time.  It never imports ipywidgets.

Everything is deterministic: a Session built from the same ops holds an identical model
(the model has no randomness and numbers its objects in creation order), so replaying a
history is how undo and failure rollback work.

Cost: one op plus one snapshot of the window (O(VMAs + pages in the window)).
"""

from __future__ import annotations

import re
from dataclasses import replace

from rmapkit.scenarios import Scenario, ScenarioError, load, parse
from rmapkit.scenarios.format import MAX_WINDOW, SIGSEGV
# run_model()'s own pieces (set-up, per-op runner, classifier, snapshot), so a Session and
# run_model() cannot drift apart.
from rmapkit.scenarios.run import apply_op, classify, hint_taken, model_setup, model_snapshot
from rmapkit.uapi import PAGE_SIZE

__all__ = ["Session", "StepResult", "start_scenario", "op_line", "OP_KINDS"]

OP_KINDS = ("mmap", "munmap", "mprotect", "mremap", "madvise", "read", "write", "fork", "exit",
            "pwrite", "pread", "fallocate", "ftruncate", "fsync")
_PROC_PREFIX = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_.-]*\s*:")


class StepResult:
    """What one op did: ``ok``, ``outcome`` (None, an errno name or "SIGSEGV"), ``message``."""

    __slots__ = ("ok", "outcome", "message", "ret")

    def __init__(self, ok, outcome=None, message=None, ret=None):
        self.ok, self.outcome, self.message, self.ret = ok, outcome, message, ret

    def __repr__(self):
        return f"StepResult(ok={self.ok}, outcome={self.outcome!r}, message={self.message!r})"


def start_scenario(scenario=None, window_pages=16):
    """The starting Scenario: a shipped name, scenario text, a Scenario, or None (empty).

    A scenario that declares its own ``window`` keeps it; otherwise ``window_pages`` is
    used.  Raises ScenarioError for text that does not parse or a name that is not shipped.
    """
    if not isinstance(window_pages, int) or not 1 <= window_pages <= MAX_WINDOW:
        raise ScenarioError(f"window_pages must be a whole number from 1 to {MAX_WINDOW}, "
                            f"not {window_pages!r}")
    if scenario is None:
        return Scenario(name="playground", description="", window_pages=window_pages, ops=())
    if isinstance(scenario, Scenario):
        return scenario
    if not isinstance(scenario, str):
        raise ScenarioError("scenario must be a shipped scenario name, scenario text or a "
                            f"Scenario, not {type(scenario).__name__}")
    if "\n" in scenario or ":" in scenario:
        text, name = scenario, "playground"
    else:
        sc = load(scenario)
        text, name = open(sc.path, encoding="utf-8").read(), sc.name
    declared = any(line.split("#", 1)[0].split()[:1] == ["window"]
                   for line in text.splitlines())
    if not declared:
        text = f"window {window_pages}\n" + text
    return parse(text, name=name)


def op_line(text, process="P0"):
    """One op as a scenario line: ``munmap 1 1`` -> ``P0: munmap 1 1``.

    Raises ScenarioError if ``text`` is not one line of text.
    """
    if not isinstance(text, str):
        raise ScenarioError(f"an op is text like 'P0: munmap 1 1', not {type(text).__name__}")
    body = text.split("#", 1)[0].strip()
    if not body:
        raise ScenarioError("empty op: write one like 'P0: munmap 1 1'")
    if "\n" in body:
        raise ScenarioError("one op at a time (the text has several lines)")
    if not _PROC_PREFIX.match(body):
        body = f"{process}: {body}"
    return body


class Session:
    """The model after a scenario's ops, ready for one more op at a time.

    ``kernel`` is the rmapkit Kernel; ``procs`` maps scenario process names to Processes;
    ``fds`` maps them to {fd name: fd}.  ``start_problems`` lists the scenario's ops whose
    outcome differed from what the scenario expects (they are kept, as run_model(strict=
    False) keeps them).
    """

    def __init__(self, scenario):
        self.scenario = scenario
        # The same set-up as run_model(), so the playground and the runner agree.
        self.kernel, self.procs, self.fds = model_setup(scenario)
        self.start_problems = []
        for op in scenario.ops:
            r = self.step(op)
            if not r.ok:
                self.start_problems.append((op, r.message))

    def page(self, addr):
        """Window page number of ``addr``."""
        return self.scenario.page(addr)

    def pages_of(self, message):
        """``message`` with every page-aligned address of the window followed by its page
        number: ``hole at 0x200000006000`` -> ``hole at 0x200000006000 (page 6)``."""
        lo, hi = self.scenario.window

        def note(m):
            addr = int(m.group(0), 16)
            if lo <= addr <= hi and addr % PAGE_SIZE == 0:
                return f"{m.group(0)} (page {self.page(addr)})"
            return m.group(0)
        return re.sub(r"0x[0-9a-fA-F]+", note, message)

    def step(self, op):
        """Run one parsed Op; a StepResult says whether it did what the op line expects.

        Never raises for a syscall failure or a refused access; a model bug (any other
        exception) is reported as a failed step too, with its type in the message.
        """
        try:
            ret = apply_op(self.kernel, self.procs, self.fds, op)
        except ScenarioError as e:
            return StepResult(False, "EINVAL", f"{op.kind}: {e.problem}")
        except Exception as e:
            out = classify(e)
            if out is None:                         # a model bug: say so, never raise
                return StepResult(False, "BUG", f"{op.kind}: the model raised "
                                                f"{type(e).__name__}: {e}")
            if op.expect == out.name:
                return StepResult(True, out.name, None)
            if out.signal is None:
                return StepResult(False, out.name, self.pages_of(out.reason))
            where = f"page {self.page(out.addr)}" if isinstance(out.addr, int) else "?"
            return StepResult(False, SIGSEGV,
                              f"{op.kind}: {out.signal} at {where}: {out.reason}")
        if op.expect:
            return StepResult(False, None, f"{op.kind} succeeded, but `expect {op.expect}` "
                                           "says it fails", ret)
        if op.kind == "mmap" and not hint_taken(op, ret):
            want = self.page(op.args["addr"])
            return StepResult(False, None,
                              f"mmap: page {want} is not free, so the kernel would put "
                              "the mapping outside the window; add `fixed` (replace what "
                              "is there) or pick a free page", ret)
        return StepResult(True, None, None, ret)

    def snapshot(self):
        """A Snapshot of the window, processes named as in the scenario."""
        return model_snapshot(self.kernel, self.procs, self.scenario)

    def process_names(self):
        """Scenario names of the live processes, in creation order."""
        return list(self.procs)


def with_ops(scenario, ops):
    """``scenario`` with ``ops`` appended (for a listing of start + history)."""
    return replace(scenario, ops=tuple(scenario.ops) + tuple(ops))

