"""Every object a reader may evaluate in a cell displays itself as SVG plus ASCII text.

Issue 4: Kernel, Process, MM, VMA, AnonVMA, Folio (the zero page too), a Snapshot and a
scenario result; deterministic, and no memory address in any output.  The drawing is
registered from the render side (rmapkit.render.display.FORMATTERS): none of these classes
imports a renderer or has a ``_repr_mimebundle_`` of its own.
"""

import re
import shutil

import pytest

from rmapkit import Kernel
from rmapkit.render.display import FORMATTERS, mimebundle_of, register_formatters
from rmapkit.scenarios import load, run_model
from rmapkit.uapi import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE

W, PS = 0x200000000000, 4096
POINTER = re.compile(r" at 0x[0-9a-f]+|0x7f[0-9a-f]{10}")


def _objects():
    k = Kernel()
    p = k.spawn()
    a = p.mmap(W, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    p.write(a, PS)
    p.read(a + PS, PS)
    vma = p.mm.vmas[0]
    res = run_model(load("split"))
    return {
        "Kernel": k, "Process": p, "MM": p.mm, "VMA": vma, "AnonVMA": vma.anon_vma,
        "Folio": p.folio_at(a), "zero page": p.folio_at(a + PS), "Snapshot": k.snapshot(),
        "RunResult": res,
    }


NAMES = list(_objects())


@pytest.mark.parametrize("name", NAMES)
def test_object_displays_itself(name):
    bundle = mimebundle_of(_objects()[name])
    text = bundle["text/plain"]
    assert "vma" in text and "P0" in text, text
    assert not POINTER.search(text)
    if shutil.which("dot"):
        svg = bundle["image/svg+xml"]
        assert re.search(r"<title[ >]", svg) and re.search(r"<desc[ >]", svg)
        assert not POINTER.search(svg)


@pytest.mark.parametrize("name", NAMES)
def test_display_is_deterministic(name):
    assert mimebundle_of(_objects()[name]) == mimebundle_of(_objects()[name])


def test_focus_marks_the_object():
    objs = _objects()
    plain = mimebundle_of(objs["Process"])["text/plain"]
    focused = mimebundle_of(objs["VMA"])["text/plain"]
    assert "*P0 vma" in focused and "*P0 vma" not in plain


def test_ipython_displays_every_object_through_the_registered_formatters():
    """What Jupyter shows: IPython's own DisplayFormatter, after register_formatters()."""
    from IPython.core.formatters import DisplayFormatter

    shell = type("Shell", (), {"display_formatter": DisplayFormatter()})()
    register_formatters(shell)
    for name, obj in _objects().items():
        assert not hasattr(obj, "_repr_mimebundle_"), name
        data, _ = shell.display_formatter.format(obj)
        want = mimebundle_of(obj)
        assert {k: data[k] for k in want} == want, name


def test_every_registered_class_exists_under_its_name():
    import importlib
    for module, name in FORMATTERS:
        assert isinstance(getattr(importlib.import_module(module), name), type)


def test_import_rmapkit_registers_inside_ipython():
    """In a fresh interpreter with an IPython shell running, ``import rmapkit`` alone makes
    a Process display as its diagram."""
    import subprocess
    import sys
    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "sh = InteractiveShell.instance()\n"
            "import rmapkit\n"
            "p = rmapkit.Kernel().spawn()\n"
            "data, _ = sh.display_formatter.format(p)\n"
            "print(data['text/plain'] != repr(p), 'rmapkit.render.display' in __import__('sys').modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True"]
