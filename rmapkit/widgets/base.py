"""What every widget shares on the Jupyter side: the lazily built UI and its mime bundle.

A widget displays as the live ipywidgets UI where a front-end can run it, and always also
as ``text/html`` (the current diagram) and ``text/plain`` (the ASCII view), so a notebook
stored with outputs reads well on GitHub and in nbconvert.
"""

__all__ = ["Displayable"]


class Displayable:
    """Mixin: ``widget`` (built by ``_make_ui()`` on first use) and the mime bundle."""

    _ui = None

    def _make_ui(self):                                 # pragma: no cover - overridden
        raise NotImplementedError

    def _refresh(self):
        """Bring the UI (if it was built) up to date with the Python state."""
        if self._ui is not None:
            self._ui.refresh()

    @property
    def widget(self):
        """The ipywidgets UI (built on first use; ipywidgets is imported only then)."""
        if self._ui is None:
            self._ui = self._make_ui()
        return self._ui.root

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The live widget, with the diagram as HTML for front-ends without widgets
        (GitHub, nbconvert) and text/plain for the terminal."""
        try:
            bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude))
        except Exception:                           # no ipywidgets: a static picture
            bundle = {}
        bundle["text/html"] = self.html()
        bundle["text/plain"] = self.text()
        return bundle

    def _ipython_display_(self):
        from IPython.display import display as ipy_display
        ipy_display(self._repr_mimebundle_(), raw=True)
        return self.widget

    def html(self):
        import html
        return f"<div><pre>{html.escape(self.text())}</pre>{self.svg()}</div>"
