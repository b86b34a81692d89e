"""Helpers for the renderer tests: a tiny DOT reader and snapshot builders."""

from __future__ import annotations

import re

from rmapkit.snapshot import AnonVMAView, AVCView, PageView, ProcessView, Snapshot, VMAView

_STR = r'"(?:[^"\\]|\\.)*"'
_ATTR = re.compile(r'(\w+)=(' + _STR + r'|<.*?>(?=, \w+=|$)|[^,\]\s]+)')
_NODE = re.compile(r'^\s*(' + _STR + r')\s*(\[.*\])?;\s*$')
_EDGE = re.compile(r'^\s*(' + _STR + r')(?::(' + _STR + r'))?(?::\w+)?\s*->\s*(' + _STR +
                   r')(?::(' + _STR + r'))?(?::\w+)?\s*(\[.*\])?;\s*$')


def _unq(s):
    return s[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def _attrs(text):
    if not text:
        return {}
    out = {}
    for k, v in _ATTR.findall(text[1:-1] if text.startswith("[") else text):
        out[k] = _unq(v) if v.startswith('"') else v
    return out


def parse_dot(text):
    """(nodes {name: attrs}, edges [(tail, head, attrs)]) of an rmapkit DOT text.

    Only the statement forms rmapkit writes are understood; port names are dropped from
    edge ends (``"space":"vma1":s -> ...`` gives ``("space", ...)``) and kept in attrs as
    ``tailport``/``headport``.
    """
    nodes, edges = {}, []
    for line in text.splitlines():
        m = _EDGE.match(line)
        if m:
            attrs = _attrs(m.group(5))
            if m.group(2):
                attrs["tailport"] = _unq(m.group(2))
            if m.group(4):
                attrs["headport"] = _unq(m.group(4))
            edges.append((_unq(m.group(1)), _unq(m.group(3)), attrs))
            continue
        m = _NODE.match(line)
        if m and not line.strip().startswith(("graph", "node", "edge")):
            nodes[_unq(m.group(1))] = _attrs(m.group(2))
    return nodes, edges


def edge_set(edges):
    return {(a, b) for a, b, _ in edges}


def anon_vma(label, avcs, root=None, parent=None, children=1, active=1):
    return AnonVMAView(label, root or label, parent or label, children, active, 1,
                       tuple(AVCView(*a) for a in avcs))


def vma(vid, start, end, pgoff, av=None, chain=(), perms="rw-p",
        flags=("rd", "wr", "mr", "mw", "me", "ac")):
    return VMAView(start << 12, end << 12, perms, 0, "", tuple(flags), pgoff, vid, av,
                   tuple(chain), None)


def snapshot(vmas, pages=(), anon_vmas=(), folios=(), name="P0"):
    return Snapshot("model", (ProcessView(name, tuple(vmas), tuple(pages)),),
                    anon_vmas=tuple(anon_vmas), folios=tuple(folios))


def none_pages(start, end):
    return tuple(PageView(a << 12, False) for a in range(start, end))
