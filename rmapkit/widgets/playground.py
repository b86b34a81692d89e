"""The Playground: apply syscalls to the model one at a time and watch the diagram change.

>>> from rmapkit.widgets import Playground
>>> pg = Playground("split")
>>> pg.apply("P0: munmap 0 1")
True
>>> pg.apply("P0: munmap 0 99")
False
>>> pg.error.split(":")[0]
'bad op'
>>> pg.apply("P0: mprotect 0 1 r"), pg.error.split(":")[:2]
(False, ['mprotect', ' ENOMEM (Cannot allocate memory)'])
>>> pg.apply("P0: mremap 2 1 1 to 5")
True
>>> pg.history
['P0: munmap 0 1', 'P0: mremap 2 1 1 to 5']
>>> pg.undo()
True
>>> pg.history
['P0: munmap 0 1']

The Python API works without a front-end (the tests and the notebooks' checked cells use
it); ``pg.widget`` builds the ipywidgets UI on first use (rmapkit.widgets.ui imports
ipywidgets).  The state is always "the starting scenario, then ``history``": undo and
failure rollback replay it, so the same ops give byte-identical diagrams.

Cost of one op: the op, one snapshot of the window and, when a diagram is asked for, one
DOT text and one ``dot`` run (cached by DOT text); about 20-40 ms in all with Graphviz.
"""

from __future__ import annotations

import html

from rmapkit.render import display
from rmapkit.scenarios import ScenarioError, parse
from rmapkit.widgets.base import Displayable
from rmapkit.widgets.session import Session, op_line, start_scenario, with_ops

__all__ = ["Playground", "VIEWS", "note_dot", "compose_op", "FIELD_USE"]

# The views the Playground offers, by their names in rmapkit.render.display.VIEW_REGISTRY
# (which draws them; "maps" is accepted too).  "addrspace", the name it once gave the address
# view, is still accepted for it.
VIEWS = ("graph", "address", "tree", "diff")
_ALIASES = {"addrspace": "address"}


def note_dot(title, text):
    """A DOT figure that is only a box of text (for views with nothing to draw)."""
    def esc(s):
        return s.replace("\\", "\\\\").replace('"', '\\"')
    body = "\\l".join(esc(x) for x in text.rstrip("\n").split("\n")) + "\\l"
    return (f"// title: {title}\n// desc: {' '.join(text.split())}\n"
            f'digraph "note" {{\n  graph [bgcolor="transparent"];\n'
            f'  node [shape=box, style="rounded", color="#808080", fontcolor="#808080", '
            f'fontname="monospace", fontsize="10"];\n  note [label="{body}"];\n}}\n')


# Which UI fields each op uses, and what the free-text field means for it.
FIELD_USE = {
    "mmap": ("page", "pages", "prot", "extra"),
    "munmap": ("page", "pages"),
    "mprotect": ("page", "pages", "prot"),
    "mremap": ("page", "pages", "new_pages", "extra"),
    "madvise": ("page", "pages", "extra"),
    "read": ("page", "pages"),
    "write": ("page", "pages"),
    "fork": ("extra",),
    "exit": (),
    "pwrite": ("extra",),
    "pread": ("extra",),
    "fallocate": ("extra",),
    "ftruncate": ("extra",),
    "fsync": ("extra",),
}
# File I/O names its file descriptor (a scenario's fd name, e.g. F) and offsets in pages.
FILE_OPS = ("pwrite", "pread", "fallocate", "ftruncate", "fsync")
EXTRA_LABEL = {"mmap": "flags", "mremap": "to page", "madvise": "advice", "fork": "child",
               "pwrite": "fd off len", "pread": "fd off len",
               "fallocate": "fd off len [keep punch]", "ftruncate": "fd pages", "fsync": "fd"}
EXTRA_DEFAULT = {"mmap": "private anon", "mremap": "", "madvise": "dontneed", "fork": "",
                 "pwrite": "F 0 1", "pread": "F 0 1", "fallocate": "F 0 1 keep punch",
                 "ftruncate": "F 1", "fsync": "F"}


def compose_op(kind, process="P0", page=0, pages=1, prot="rw", extra="", new_pages=None):
    """The scenario line the UI fields describe.

    >>> compose_op("mmap", "P0", 0, 3, "rw", "private anon")
    'P0: mmap 0 3 rw private anon'
    >>> compose_op("mremap", "P0", 2, 1, extra="8")
    'P0: mremap 2 1 1 to 8'
    >>> compose_op("fork", "P0", extra="P1")
    'P0: fork P1'
    >>> compose_op("pwrite", "P0", extra="F 0 4")
    'P0: pwrite F 0 4'
    """
    extra = " ".join(str(extra or "").split())
    head = f"{process}: {kind}"
    if kind == "mmap":
        return f"{head} {page} {pages} {prot} {extra or EXTRA_DEFAULT['mmap']}"
    if kind in ("munmap", "read", "write"):
        return f"{head} {page} {pages}"
    if kind == "mprotect":
        return f"{head} {page} {pages} {prot}"
    if kind == "mremap":
        new = pages if new_pages is None else new_pages
        words = extra.split()
        if words and words[0].lstrip("-").isdigit():
            words = ["to"] + words
        return " ".join([f"{head} {page} {pages} {new}"] + words)
    if kind == "madvise":
        return f"{head} {page} {pages} {extra or EXTRA_DEFAULT['madvise']}"
    if kind == "fork":
        return f"{head} {extra}".rstrip()
    if kind in FILE_OPS:
        return f"{head} {extra or EXTRA_DEFAULT[kind]}"
    return head


class Playground(Displayable):
    """A model kernel, a starting scenario and a history of ops, with a diagram.

    ``scenario``: a shipped scenario name (``"split"``), scenario text, or None (an empty
    window of ``window_pages`` pages); it is run first and is what :meth:`reset` returns to.
    ``view``: ``"graph"`` (object graph), ``"address"`` (address space), ``"tree"``
    (interval tree of the process's anon_vma), ``"diff"`` (before/after the last op).
    ``process``: the process ops without a ``PROC:`` prefix run in, and the one the
    address-space, tree and diff views show.  ``notation``: ``"window"`` or ``"hex"`` for
    every view it draws, SVG and text (None: :func:`rmapkit.render.set_notation`'s); each
    of :meth:`dot`, :meth:`text`, :meth:`svg` and :meth:`html` also takes one per call.

    A bad starting scenario raises ScenarioError (it is code in a cell, not reader input);
    :meth:`apply` never raises.
    """

    def __init__(self, scenario=None, window_pages=16, view="graph", process="P0",
                 notation=None):
        self.start = start_scenario(scenario, window_pages)
        self.notation = notation
        self.window_pages = self.start.window_pages
        self.view = self._check_view(view)
        self._process = process
        self.history = []
        self.error = None
        self._ops = []
        self._ui = None
        self._session = Session(self.start)
        self.start_problems = [f"{op.text}: {msg}" for op, msg in self._session.start_problems]
        self._snaps = [self._session.snapshot()]

    # -- state -------------------------------------------------------------------------
    @property
    def kernel(self):
        """The rmapkit Kernel holding the current state."""
        return self._session.kernel

    @property
    def process(self):
        """The process ops without ``PROC:`` run in and the views show: the one chosen if
        it is alive, else the first live one."""
        procs = self._session.procs
        if self._process in procs or not procs:
            return self._process
        return next(iter(procs))

    @process.setter
    def process(self, name):
        self._process = name
        self._done(True)

    @property
    def procs(self):
        """Scenario process name -> rmapkit Process, for the live processes."""
        return self._session.procs

    def snapshot(self):
        """A Snapshot of the window now (processes named as in the scenario)."""
        return self._snaps[-1]

    def before(self):
        """The Snapshot before the last op of the history (None if the history is empty)."""
        return self._snaps[-2] if len(self._snaps) > 1 else None

    def scenario(self):
        """The starting scenario followed by the history, as a Scenario."""
        return with_ops(self.start, self._ops)

    def scenario_text(self):
        """The starting scenario followed by the history, as scenario-format text (it runs
        with ``python -m rmapkit`` and in ``run_model``/``run_live``)."""
        return self.scenario().text()

    def next_child_name(self):
        """The first ``P<n>`` name no process of the scenario has used (for ``fork``)."""
        used = set(self.scenario().processes())
        n = 1
        while f"P{n}" in used:
            n += 1
        return f"P{n}"

    # -- operations --------------------------------------------------------------------
    def apply(self, op):
        """Apply one op in the scenario format (``"P0: munmap 1 1"``; without ``PROC:`` it
        runs in ``self.process``).  True on success; False with ``self.error`` set to one
        line (errno name and reason) on failure, and the model unchanged.  Never raises.
        """
        self.error = None
        try:
            line = op_line(op, self.process)
            parsed = self._parse(line)
        except ScenarioError as e:
            self.error = f"bad op: {e.problem}"
            return self._done(False)
        except Exception as e:                      # never let reader input raise
            self.error = f"bad op: {type(e).__name__}: {e}"
            return self._done(False)
        r = self._session.step(parsed)
        if not r.ok:
            self.error = r.message
            self._replay()                          # undo whatever the failed op did
            return self._done(False)
        self._ops.append(parsed)
        self.history.append(parsed.text + (f" expect {parsed.expect}" if parsed.expect else ""))
        self._snaps.append(self._session.snapshot())
        return self._done(True)

    def undo(self):
        """Forget the last op and replay the rest.  False (``error`` set) if there is none."""
        self.error = None
        if not self.history:
            self.error = "nothing to undo"
            return self._done(False)
        self.history.pop()
        self._ops.pop()
        self._snaps.pop()
        self._replay()
        return self._done(True)

    def reset(self):
        """Back to the starting scenario."""
        self.error = None
        self.history.clear()
        self._ops.clear()
        del self._snaps[1:]
        self._replay()
        return self._done(True)

    def _parse(self, line):
        text = self.scenario_text() + line + "\n"
        return parse(text, name="playground").ops[-1]

    def _replay(self):
        s = Session(self.start)
        for op in self._ops:
            s.step(op)
        self._session = s

    def _done(self, ok):
        if self._ui is not None:
            self._ui.refresh()
        return ok

    # -- views ---------------------------------------------------------------------------
    @staticmethod
    def _check_view(view):
        view = _ALIASES.get(view, view)
        if view not in VIEWS and view != "maps":
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
        return view

    def set_view(self, view):
        """Switch the diagram to another view (ValueError for an unknown one)."""
        self.view = self._check_view(view)
        return self._done(True)

    def _focus(self, snap):
        names = [p.name for p in snap.processes]
        if self.process in names:
            return self.process
        return names[0] if names else None

    def dot(self, view=None, notation=None):
        """DOT text of the view (default: ``self.view``) in ``notation`` (default:
        ``self.notation``)."""
        view = self._check_view(view or self.view)
        notation = notation or self.notation
        snap = self.snapshot()
        if not snap.processes:
            return note_dot("No processes", self.text(view, notation))
        focus = self._focus(snap)
        needs_before = display.get_view(view).needs_before
        before = self.before() if needs_before else None
        if needs_before and before is None:
            return note_dot("No op yet", self.text(view, notation))
        if view == "graph":
            focus = None                            # the whole graph, every process
        dot_text = display.view_dot(snap, focus, view, before,
                                    op=self.history[-1] if before else None,
                                    notation=notation)
        return dot_text if dot_text is not None else note_dot(view, self.text(view, notation))

    def text(self, view=None, notation=None):
        """The view as ASCII text (what the SVG shows, for email and tests), in
        ``notation`` (default: ``self.notation``)."""
        view = self._check_view(view or self.view)
        notation = notation or self.notation
        snap = self.snapshot()
        if not snap.processes:
            return "(no processes: every process has exited; Undo or Reset)\n"
        focus = self._focus(snap)
        needs_before = display.get_view(view).needs_before
        before = self.before() if needs_before else None
        if needs_before:
            if before is None:
                return "(no op applied yet: apply one to see before and after)\n"
            last = self._ops[-1].proc
            if any(p.name == last for p in snap.processes):
                focus = last                        # the process the op ran in
        if view == "graph":
            focus = None                            # the whole graph, every process
        return display.view_text(snap, focus, view, before,
                                 op=self.history[-1] if before else None, notation=notation)

    def svg(self, view=None, notation=None):
        """The view as SVG (Graphviz; an SVG of the ASCII view when there is none)."""
        return display.to_svg(self.dot(view, notation),
                              fallback_text=self.text(view, notation))

    def html(self, view=None, notation=None):
        """The SVG plus the history, as one HTML fragment (the static form of the widget)."""
        hist = "\n".join(self.history) or "(no ops applied)"
        err = (f'<div style="color:#c0392b">{html.escape(self.error)}</div>'
               if self.error else "")
        return (f"<div>{self.svg(view, notation)}{err}<pre>{html.escape(hist)}</pre></div>")

    # -- Jupyter -------------------------------------------------------------------------
    def _make_ui(self):
        from rmapkit.widgets.ui import PlaygroundUI
        return PlaygroundUI(self)

    def __repr__(self):
        return (f"<Playground start={self.start.name!r} window={self.window_pages} "
                f"ops={len(self.history)} view={self.view!r}>")
