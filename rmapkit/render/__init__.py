"""Renderers: pure functions from :class:`rmapkit.snapshot.Snapshot` to text.

=====================================  ====================================================
DOT (Graphviz source)                  ASCII (72 columns, for email and tests)
=====================================  ====================================================
``to_dot(snap, processes, pages,       ``to_ascii(snap, processes, pages, focus)``
focus)``: object graph
``address_space_dot(snap, process)``   ``address_space_ascii(snap, process)``, ``ruler()``,
                                       ``vma_letters()``
``interval_tree_dot(snap, av, index)``  ``interval_tree_ascii(snap, av, index)``
``diff_dot(before, after, op)``        ``diff_ascii(before, after)``; ``diff()`` as data
=====================================  ====================================================

``to_maps(snap)`` prints /proc/PID/maps lines (the kernel's format: always absolute).  The
DOT and ASCII views write addresses as window page numbers and pgoffs as ``p+k`` (each
diagram's legend, each text view's last line, says so); ``set_notation("hex")`` (or
``notation="hex"`` on one call) switches them to absolute hex.  SVG is made only in
:mod:`rmapkit.render.display` (``to_svg``, ``mimebundle``), which also tells IPython how to
display the model's objects, snapshots and scenario results (``register_formatters()``, called
by ``import rmapkit`` inside IPython): the arrows point from the renderers to what they draw.
"""

from rmapkit.render.ascii import (address_space_ascii, diff_ascii, interval_tree_ascii, ruler,
                                  to_ascii, vma_letters)
from rmapkit.render.common import NOTATIONS, rmap_walk_candidates, set_notation
from rmapkit.render.diff import Change, diff, diff_dot
from rmapkit.render.dot import alt_text, to_dot
from rmapkit.render.maps import to_maps
from rmapkit.render.views import address_space_dot, interval_tree_dot

__all__ = [
    "to_dot", "address_space_dot", "interval_tree_dot", "diff_dot", "alt_text",
    "to_ascii", "address_space_ascii", "interval_tree_ascii", "diff_ascii", "ruler",
    "vma_letters", "to_maps", "diff", "Change", "rmap_walk_candidates", "set_notation",
    "NOTATIONS",
]
