"""Every object a reader may evaluate in a cell displays itself as SVG plus ASCII text.

Issue 4: Kernel, Process, MM, VMA, AnonVMA, Folio (the zero page too), a Snapshot and a
scenario result; deterministic, and no memory address in any output.
"""

import re
import shutil

import pytest

from rmapkit import Kernel
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
    bundle = _objects()[name]._repr_mimebundle_()
    text = bundle["text/plain"]
    assert "vma" in text and "P0" in text, text
    assert not POINTER.search(text)
    if shutil.which("dot"):
        svg = bundle["image/svg+xml"]
        assert re.search(r"<title[ >]", svg) and re.search(r"<desc[ >]", svg)
        assert not POINTER.search(svg)


@pytest.mark.parametrize("name", NAMES)
def test_display_is_deterministic(name):
    assert _objects()[name]._repr_mimebundle_() == _objects()[name]._repr_mimebundle_()


def test_focus_marks_the_object():
    objs = _objects()
    plain = objs["Process"]._repr_mimebundle_()["text/plain"]
    focused = objs["VMA"]._repr_mimebundle_()["text/plain"]
    assert "*P0 vma" in focused and "*P0 vma" not in plain
