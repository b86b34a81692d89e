"""The ipywidgets front-ends: the only module of rmapkit that imports ipywidgets.

Each class takes the pure-Python object it shows (Playground, PageIndexExplorer,
SplitExplorer), builds its widget tree in ``root`` and re-renders after every change.
Every callback goes through :func:`guarded`, so an exception becomes a message in the
error line, never a traceback in the notebook.  No widget state has to be stored in a
notebook: the objects rebuild everything from their Python state.
"""

from __future__ import annotations

import functools
import html

import ipywidgets as W

from rmapkit.render import display
from rmapkit.widgets.playground import EXTRA_DEFAULT, EXTRA_LABEL, FIELD_USE, VIEWS, compose_op
from rmapkit.widgets.session import OP_KINDS

__all__ = ["PlaygroundUI", "PageIndexUI", "SplitUI", "guarded"]

_PROTS = [("rw-", "rw"), ("r--", "r"), ("r-x", "rx"), ("rwx", "rwx"), ("---", "none")]
_VIEWS = [(display.get_view(v).title, v) for v in VIEWS]   # (button label, view name)
_WIDE = {"description_width": "initial"}


def _error_html(msg):
    if not msg:
        return ""
    return (f'<span style="color:#c0392b;font-family:monospace">'
            f'{html.escape(str(msg).splitlines()[0])}</span>')


def guarded(method):
    """Run a UI callback; show any exception in ``self.error_line`` instead of raising."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as e:                      # the reader must never see a traceback
            try:
                self.error_line.value = _error_html(f"{type(e).__name__}: {e}")
            except Exception:
                pass
            return None
    return run


def _diagram_html(svg):
    return f'<div style="overflow:auto;max-width:100%">{svg}</div>'


def _show_explorer(ui, ex):
    """An explorer's text, diagram and error line into its UI's three HTML widgets."""
    ui.text.value = f"<pre>{html.escape(ex.text())}</pre>"
    ui.diagram.value = _diagram_html(ex.svg())
    ui.error_line.value = _error_html(ex.error)


class PlaygroundUI:
    """Op fields, Apply / Undo / Reset, a view selector, the diagram and an error line."""

    def __init__(self, pg):
        self.pg = pg
        n = pg.window_pages
        self.op = W.Dropdown(options=list(OP_KINDS), value="mmap", description="op",
                             layout=W.Layout(width="150px"), style=_WIDE)
        self.process = W.Dropdown(options=pg.procs and list(pg.procs) or [pg.process],
                                  description="process", layout=W.Layout(width="150px"),
                                  style=_WIDE)
        self.page = W.BoundedIntText(value=0, min=0, max=n - 1, description="first page",
                                     layout=W.Layout(width="130px"), style=_WIDE)
        self.pages = W.BoundedIntText(value=1, min=1, max=n, description="pages",
                                      layout=W.Layout(width="110px"), style=_WIDE)
        self.prot = W.Dropdown(options=_PROTS, value="rw", description="prot",
                               layout=W.Layout(width="120px"), style=_WIDE)
        self.new_pages = W.BoundedIntText(value=1, min=1, max=n, description="new pages",
                                          layout=W.Layout(width="140px"), style=_WIDE)
        self.extra = W.Text(value=EXTRA_DEFAULT["mmap"], description="flags",
                            layout=W.Layout(width="220px"), style=_WIDE)
        self.line = W.Text(value="", description="op line", layout=W.Layout(width="420px"),
                           style=_WIDE)
        self.apply_button = W.Button(description="Apply", button_style="primary",
                                     tooltip="apply the op line to the model")
        self.undo_button = W.Button(description="Undo", tooltip="forget the last op")
        self.reset_button = W.Button(description="Reset", tooltip="back to the start")
        self.view = W.ToggleButtons(options=_VIEWS, value=pg.view if pg.view in
                                    dict((v, v) for _, v in _VIEWS) else "graph",
                                    description="view", style={"button_width": "130px"})
        self.diagram = W.HTML(value="")
        self.error_line = W.HTML(value="")
        self.history = W.HTML(value="")
        self._fields = {"page": self.page, "pages": self.pages, "prot": self.prot,
                        "new_pages": self.new_pages, "extra": self.extra}

        self.apply_button.on_click(self.on_apply)
        self.undo_button.on_click(self.on_undo)
        self.reset_button.on_click(self.on_reset)
        self.op.observe(self.on_op, names="value")
        for w in (self.process, self.page, self.pages, self.prot, self.new_pages, self.extra):
            w.observe(self.on_field, names="value")
        self.view.observe(self.on_view, names="value")

        self.root = W.VBox([
            W.HBox([self.op, self.process, self.page, self.pages, self.prot, self.new_pages,
                    self.extra], layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.line, self.apply_button, self.undo_button, self.reset_button],
                   layout=W.Layout(flex_flow="row wrap")),
            self.error_line,
            self.view,
            self.diagram,
            self.history,
        ])
        self.on_op()
        self.refresh()

    # -- callbacks -----------------------------------------------------------------------
    @guarded
    def on_op(self, change=None):
        kind = self.op.value
        use = FIELD_USE[kind]
        for name, w in self._fields.items():
            w.layout.display = None if name in use else "none"
        if kind in EXTRA_LABEL:
            self.extra.description = EXTRA_LABEL[kind]
            self.extra.value = (self.pg.next_child_name() if kind == "fork"
                                else EXTRA_DEFAULT[kind])
        if kind == "mremap":
            self.new_pages.value = self.pages.value
        self.compose()

    @guarded
    def on_field(self, change=None):
        self.compose()

    def compose(self):
        self.line.value = compose_op(self.op.value, self.process.value or self.pg.process,
                                     self.page.value, self.pages.value, self.prot.value,
                                     self.extra.value, self.new_pages.value)

    @guarded
    def on_apply(self, button=None):
        self.pg.apply(self.line.value)          # refreshes through pg._done()

    @guarded
    def on_undo(self, button=None):
        self.pg.undo()

    @guarded
    def on_reset(self, button=None):
        self.pg.reset()

    @guarded
    def on_view(self, change=None):
        self.pg.set_view(self.view.value)

    # -- drawing -------------------------------------------------------------------------
    @guarded
    def refresh(self):
        pg = self.pg
        names = list(pg.procs) or [pg.process]
        if list(self.process.options) != names:
            keep = self.process.value if self.process.value in names else names[0]
            self.process.options = names
            self.process.value = keep
        if self.view.value != pg.view and pg.view in {v for _, v in _VIEWS}:
            self.view.value = pg.view
        self.error_line.value = _error_html(pg.error)
        self.undo_button.disabled = not pg.history
        try:
            self.diagram.value = _diagram_html(pg.svg())
        except Exception as e:                  # a renderer bug: show the text view instead
            self.diagram.value = f"<pre>{html.escape(pg.text())}</pre>"
            self.error_line.value = _error_html(f"diagram: {type(e).__name__}: {e}")
        hist = "\n".join(pg.history) if pg.history else "(no ops applied yet)"
        self.history.value = (f'<details><summary>history ({len(pg.history)} ops)'
                              f'</summary><pre>{html.escape(hist)}</pre></details>')
        if self.op.value == "fork":
            self.extra.value = pg.next_child_name()
        self.compose()


class PageIndexUI:
    """A slider over the VMA's addresses; the text and diagram follow it."""

    def __init__(self, ex):
        self.ex = ex
        self.slider = W.IntSlider(value=ex.vm_start, min=ex.vm_start, max=ex.vm_end - 1,
                                  step=ex.step, description="address", readout_format="#x",
                                  continuous_update=False, layout=W.Layout(width="600px"),
                                  style=_WIDE)
        self.text = W.HTML(value="")
        self.diagram = W.HTML(value="")
        self.error_line = W.HTML(value="")
        self.slider.observe(self.on_slide, names="value")
        self.root = W.VBox([self.slider, self.text, self.error_line, self.diagram])
        self.on_slide()

    @guarded
    def on_slide(self, change=None):
        addr = self.slider.value
        self.text.value = f"<pre>{html.escape(self.ex.show(addr))}</pre>"
        self.diagram.value = _diagram_html(self.ex.svg(addr))
        self.error_line.value = ""


class SplitUI:
    """Which page to unmap, which page's folio to rmap; the result and the diagram."""

    def __init__(self, ex):
        self.ex = ex
        self._syncing = False
        opts = list(range(ex.pages))
        self.unmap = W.Dropdown(options=opts, value=ex.unmap_page, description="unmap page",
                                style=_WIDE, layout=W.Layout(width="170px"))
        self.rmap = W.Dropdown(options=opts, value=ex.rmap_page, description="rmap page",
                               style=_WIDE, layout=W.Layout(width="170px"))
        self.text = W.HTML(value="")
        self.diagram = W.HTML(value="")
        self.error_line = W.HTML(value="")
        self.unmap.observe(self.on_change, names="value")
        self.rmap.observe(self.on_change, names="value")
        self.root = W.VBox([W.HBox([self.unmap, self.rmap]), self.text, self.error_line,
                            self.diagram])
        self.refresh()                  # ex has run already; ex._ui is set only after this

    @guarded
    def on_change(self, change=None):
        if not self._syncing:
            self.ex.run(self.unmap.value, self.rmap.value)

    @guarded
    def refresh(self):
        ex = self.ex
        self._syncing = True
        try:
            self.unmap.value = ex.unmap_page
            self.rmap.value = ex.rmap_page
        finally:
            self._syncing = False
        _show_explorer(self, ex)


class LargeFolioUI:
    """THP size, region, fault page, move, fork, write: the folio and the diagram follow."""

    def __init__(self, ex):
        from rmapkit.widgets.folios import MOVES, THP_SIZES
        self.ex = ex
        self._syncing = False
        self.size = W.Dropdown(options=list(THP_SIZES), value=ex.size, description="THP size",
                               style=_WIDE, layout=W.Layout(width="200px"))
        self.pages = W.BoundedIntText(value=ex.pages, min=4, max=512, description="pages",
                                      style=_WIDE, layout=W.Layout(width="170px"))
        self.fault = W.BoundedIntText(value=ex.fault_page, min=0, max=511,
                                      description="fault page", style=_WIDE,
                                      layout=W.Layout(width="190px"))
        self.move = W.Dropdown(options=list(MOVES), value=ex.move, description="mremap",
                               style=_WIDE, layout=W.Layout(width="210px"))
        self.fork = W.Checkbox(value=ex.fork, description="fork")
        self.write = W.Dropdown(options=self._write_options(), value=ex.write_page,
                                description="then write", style=_WIDE,
                                layout=W.Layout(width="200px"))
        self.text = W.HTML(value="")
        self.diagram = W.HTML(value="")
        self.error_line = W.HTML(value="")
        for w in (self.size, self.pages, self.fault, self.move, self.fork, self.write):
            w.observe(self.on_change, names="value")
        self.root = W.VBox([W.HBox([self.size, self.pages, self.fault]),
                            W.HBox([self.move, self.fork, self.write]),
                            self.text, self.error_line, self.diagram])
        self.refresh()

    def _write_options(self):
        return [("nothing", None)] + [(str(i), i) for i in range(self.ex.pages)]

    @guarded
    def on_change(self, change=None):
        if not self._syncing:
            self.ex.run(size=self.size.value, pages=self.pages.value,
                        fault_page=self.fault.value, move=self.move.value,
                        fork=self.fork.value, write_page=self.write.value)

    @guarded
    def refresh(self):
        ex = self.ex
        self._syncing = True
        try:
            self.size.value, self.pages.value = ex.size, ex.pages
            self.fault.value, self.move.value, self.fork.value = \
                ex.fault_page, ex.move, ex.fork
            self.write.options = self._write_options()
            self.write.value = ex.write_page
        finally:
            self._syncing = False
        _show_explorer(self, ex)
