"""The shipped scenarios (rmapkit/scenarios/library/*.scn) and loading by name or path.

Cost: one directory listing / one file read.
"""

from __future__ import annotations

import os

from rmapkit.scenarios.format import ScenarioError
from rmapkit.scenarios.parser import parse

__all__ = ["library_dir", "names", "load"]


def library_dir():
    """The directory holding the shipped ``*.scn`` files."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "library")


def names():
    """Names of the shipped scenarios, sorted."""
    return sorted(f[:-4] for f in os.listdir(library_dir()) if f.endswith(".scn"))


def load(what):
    """A Scenario from a shipped name (``"split"``), a path to a ``.scn`` file, or a Scenario.

    Raises ScenarioError (never OSError) when there is no such scenario.
    """
    from rmapkit.scenarios.format import Scenario
    if isinstance(what, Scenario):
        return what
    what = os.fspath(what)
    if os.sep in what or what.endswith(".scn") or os.path.exists(what):
        path, name = what, os.path.basename(what).removesuffix(".scn")
    else:
        path, name = os.path.join(library_dir(), what + ".scn"), what
        if not os.path.exists(path):
            close = [n for n in names() if what in n or n in what]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            raise ScenarioError(f"no shipped scenario named {what!r}{hint}; "
                                "`python -m rmapkit list` shows them")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ScenarioError(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path} is not a UTF-8 text file") from None
    return parse(text, name=name, path=path)
