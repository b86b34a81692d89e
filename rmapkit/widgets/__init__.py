"""Interactive front-ends for the notebooks: the Playground and three chapter explorers.

>>> from rmapkit.widgets import Playground
>>> pg = Playground(window_pages=8)
>>> pg.apply("P0: mmap 0 3 rw private anon"), pg.apply("munmap 1 1")
(True, True)
>>> print(pg.text("address").splitlines()[2])
vma    A.B

Each object works from Python alone (``apply``/``undo``/``reset``/``svg``/``text``;
``show``; ``run``), which is what the tests and the notebooks' checked cells use;
``.widget`` (or displaying the object) builds the ipywidgets UI, and only
:mod:`rmapkit.widgets.ui` imports ipywidgets.  Imports point one way: widgets ->
{model, render, scenarios}.
"""

from rmapkit.widgets.explorers import PageIndexExplorer, SplitExplorer
from rmapkit.widgets.folios import LargeFolioExplorer
from rmapkit.widgets.playground import Playground

__all__ = ["Playground", "PageIndexExplorer", "SplitExplorer", "LargeFolioExplorer"]
