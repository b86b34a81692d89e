"""Snapshots to and from plain JSON-able dicts (how the live driver hands them back).

Lossless for every field of rmapkit.snapshot: tuples become lists and come back as tuples.
Cost: O(size of the snapshot).
"""

from __future__ import annotations


from rmapkit.snapshot import (AddressSpaceView, AnonVMAView, AVCView, FolioView, PageView,
                              ProcessView, Snapshot, VMAView)

__all__ = ["snapshot_to_dict", "snapshot_from_dict"]


def _flat(obj):
    """A flat dataclass (every field a scalar or a tuple of scalars) as a dict."""
    return dict(obj.__dict__)


def snapshot_to_dict(snap):
    """Return ``snap`` as nested dicts (what ``dataclasses.asdict`` gives, tuples kept as
    tuples, which JSON writes as lists), built by hand: asdict()'s generic deep copy was
    most of a THP snapshot's cost (thousands of pages)."""
    d = _flat(snap)
    d["processes"] = [{"name": p.name, "vmas": [_flat(v) for v in p.vmas],
                       "pages": [_flat(g) for g in p.pages]} for p in snap.processes]
    d["anon_vmas"] = [dict(_flat(a), avcs=[_flat(c) for c in a.avcs])
                      for a in snap.anon_vmas]
    d["folios"] = [_flat(f) for f in snap.folios]
    d["address_spaces"] = [_flat(s) for s in snap.address_spaces]
    d["unknown"] = dict(snap.unknown)
    d["counters"] = dict(snap.counters)
    return d


def _tuple(x):
    return tuple(_tuple(i) for i in x) if isinstance(x, list) else x


def _make(cls, d):
    return cls(**{k: _tuple(v) for k, v in d.items()})


def snapshot_from_dict(d):
    """Inverse of snapshot_to_dict()."""
    # Page fields are all scalars: no list to turn back into a tuple.
    procs = tuple(
        ProcessView(name=p["name"],
                    vmas=tuple(_make(VMAView, v) for v in p["vmas"]),
                    pages=tuple(PageView(**g) for g in p["pages"]))
        for p in d["processes"])
    avs = tuple(
        AnonVMAView(**{**{k: v for k, v in a.items() if k != "avcs"},
                       "avcs": tuple(_make(AVCView, c) for c in a["avcs"])})
        for a in d.get("anon_vmas", ()))
    return Snapshot(
        source=d["source"], processes=procs,
        window=_tuple(d["window"]) if d.get("window") is not None else None,
        anon_vmas=avs,
        folios=tuple(_make(FolioView, f) for f in d.get("folios", ())),
        address_spaces=tuple(_make(AddressSpaceView, s) for s in d.get("address_spaces", ())),
        unknown=dict(d.get("unknown", {})), counters=dict(d.get("counters", {})))
