"""The shipped scenarios (rmapkit/scenarios/library/*.scn) and loading by name or path.

Cost: one directory listing / one file read.
"""

from __future__ import annotations

import os
import stat

from rmapkit.scenarios.format import ScenarioError
from rmapkit.scenarios.parser import parse

__all__ = ["library_dir", "names", "load", "read_scenario_file", "MAX_SCENARIO_BYTES"]

MAX_SCENARIO_BYTES = 1 << 20    # 1 MiB: far beyond any hand-written scenario


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
    return parse(read_scenario_file(path), name=name, path=path)


def read_scenario_file(path):
    """The text of the scenario file at ``path``: a regular file of at most
    MAX_SCENARIO_BYTES, UTF-8.  Anything else (a directory, a FIFO, /dev/zero or a
    symlink to it, a huge file) is a ScenarioError, found without reading it. O(size)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)    # a FIFO must not block open()
    except OSError as e:
        raise ScenarioError(f"cannot read {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ScenarioError(f"{path} is not a regular file")
        if st.st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{path} is {st.st_size} bytes; a scenario file may have at "
                                f"most {MAX_SCENARIO_BYTES}")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_SCENARIO_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path} grew past {MAX_SCENARIO_BYTES} bytes while being read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{path} is not a UTF-8 text file") from None
