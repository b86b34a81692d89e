"""The four kinds of cell a chapter is made of (see notebooks/build.py).

Every helper dedents its text and strips blank lines at both ends, so a chapter can write
its cells as indented triple-quoted strings.
"""

import textwrap

__all__ = ["md", "code", "widget", "live", "HELPERS"]


def _text(s: str) -> str:
    return textwrap.dedent(s).strip("\n")


def md(s: str):
    """A Markdown cell."""
    return ("markdown", _text(s), ())


def code(s: str):
    """A code cell whose output nbval checks."""
    return ("code", _text(s), ())


def widget(s: str):
    """A code cell showing a widget: tagged so that nbval ignores its output (the widget's
    model id changes every run); the cell before it must exercise the same functions."""
    return ("code", _text(s), ("nbval-ignore-output",))


def live(s: str):
    """A code cell that reads the running kernel: its output depends on the machine, so its
    first line tells nbval to ignore it."""
    body = _text(s)
    if not body.startswith("# NBVAL_IGNORE_OUTPUT"):
        body = "# NBVAL_IGNORE_OUTPUT\n" + body
    return ("code", body, ())


# The first code cell of every chapter: imports and two display helpers.
HELPERS = code('''
    from IPython.display import display
    from rmapkit import Kernel, PAGE_SIZE, PAGE_SHIFT, linear_page_index, vma_address, rmap_walk
    from rmapkit.uapi import *
    from rmapkit.render.display import mimebundle
    from rmapkit.scenarios import load, run_model

    BASE = 0x200000000000          # where every scenario's window starts (page 0)
    RW = PROT_READ | PROT_WRITE
    ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED

    def show(snap, view="graph", focus=None, before=None):
        """Draw a snapshot: view "graph", "address", "tree", "diff" (needs before) or "maps"."""
        display(mimebundle(snap, focus=focus, view=view, before=before), raw=True)
''')
