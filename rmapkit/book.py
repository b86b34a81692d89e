"""What the book's chapters share: the scenario window, two flag sets and three display helpers.

Every chapter (``book/chapters/NN-*.py``, paired with ``notebooks/NN-*.ipynb``) imports the
names it uses from here, so the helpers are written, documented and tested once instead of
being pasted into each notebook.  Only the chapters import this module: the model never does,
and IPython is imported when something is displayed, not before.

>>> pages_of(type("V", (), {"vm_start": BASE + 0x1000, "vm_end": BASE + 0x3000})())
'[1,3)'
>>> hex(BASE), RW == PROT_READ | PROT_WRITE
('0x200000000000', True)
"""

from __future__ import annotations

from rmapkit.scenarios.format import BASE
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE

__all__ = ["BASE", "RW", "ANON", "pages_of", "show", "figure"]

RW = PROT_READ | PROT_WRITE
"""``PROT_READ | PROT_WRITE``: the protection of almost every mapping in the book."""
ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
"""A private anonymous mapping at exactly the address given (the chapters place by hand)."""


def pages_of(v) -> str:
    """A VMA's range as window pages, ``"[first,end)"`` (page 0 is ``BASE``). O(1)."""
    return f"[{(v.vm_start - BASE) // PAGE_SIZE},{(v.vm_end - BASE) // PAGE_SIZE})"


def show(snap, view: str = "graph", focus: str | None = None, before=None,
         notation: str | None = None) -> None:
    """Draw a snapshot: view ``"graph"``, ``"address"``, ``"tree"``, ``"diff"`` (needs
    ``before``) or ``"maps"``; ``focus`` highlights one object (``"vma3"``, ``"av0"``...);
    ``notation``: ``"window"`` or ``"hex"`` (default: ``set_notation()``'s).
    One render (SVG with its ASCII twin as text/plain), cached by its DOT text."""
    from IPython.display import display

    from rmapkit.render.display import mimebundle

    display(mimebundle(snap, focus=focus, view=view, before=before, notation=notation),
            raw=True)


def figure(name: str) -> None:
    """Draw one of the book's figures, the same as ``figures/NAME.svg``, from its scenario.

    :raises KeyError: if ``rmapkit.figures.FIGURES`` has no figure called ``name``.
    """
    from IPython.display import display

    from rmapkit import figures
    from rmapkit.render.display import to_svg

    fig = next((f for f in figures.FIGURES if f.name == name), None)
    if fig is None:
        raise KeyError(f"no figure {name!r}; the figures are "
                       + ", ".join(f.name for f in figures.FIGURES))
    dot, text = figures.build(fig)
    display({"image/svg+xml": to_svg(dot, fallback_text=text), "text/plain": text}, raw=True)
