"""Model and kernel side by side: what both observe, compared, each difference in words.

Compared: the VMAs of the window (range, perms, the maps offset column, name, smaps VmFlags)
and every page in them (present, which pages share a frame, zero page, anon, mapped-once,
mapcount, and for large folios kpageflags THP/head/tail, the folio's order, PMD mapping,
smaps AnonHugePages and the THP counters).  Fields either side lists in
``Snapshot.unknown`` are not compared, and the
Diff says so.  ``bool(diff)`` is true when they differ.  Cost: O(VMAs + pages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmapkit.uapi import PAGE_SIZE

__all__ = ["Difference", "Diff", "compare", "compare_runs", "VMA_FIELDS", "PAGE_FIELDS"]

VMA_FIELDS = ("perms", "offset", "name", "vm_flags", "anon_huge_pages")
PAGE_FIELDS = ("present", "frame", "zero_page", "anon", "exclusive", "mapcount", "thp",
               "compound", "order", "pmd")


@dataclass(frozen=True)
class Difference:
    """One thing model and kernel disagree on."""

    process: str | None
    where: str              # "VMA [0,3)", "page 2", "op 4"
    field: str
    model: object
    live: object
    text: str               # the sentence, e.g. "P0 page 2: present in the model, not ..."


@dataclass
class Diff:
    """The result of compare() / compare_runs(); see text() and _repr_html_()."""

    model: object                       # Snapshot (or None)
    live: object
    differences: list = field(default_factory=list)
    not_compared: dict = field(default_factory=dict)
    step: int | None = None             # compare_runs: index of the first differing op
    op: str | None = None               # ... and its text
    note: str | None = None             # e.g. "not compared: model-only scenario"

    def __bool__(self):
        return bool(self.differences)

    def __len__(self):
        return len(self.differences)

    def text(self):
        """A readable report for terminals."""
        out = []
        if self.note:
            out.append(self.note)
        if not self.differences:
            if self.model is not None and self.live is not None:
                out.append("model and kernel agree on everything compared")
        else:
            where = f" after op {self.step + 1} `{self.op}`" if self.step is not None else ""
            out.append(f"model and kernel differ{where}: {len(self.differences)} "
                       f"difference{'s' if len(self.differences) != 1 else ''}")
            out += [f"  - {d.text}" for d in self.differences]
            if self.model is not None and self.live is not None:
                out.append("")
                out.append(side_by_side(self.model, self.live))
        if self.not_compared:
            out.append("not compared: " + "; ".join(f"{k} ({v})" for k, v in
                                                    sorted(self.not_compared.items())))
        return "\n".join(out)

    __str__ = text

    def _repr_html_(self):
        from rmapkit.scenarios.diff_html import diff_html
        return diff_html(self)


def _base(snap):
    return snap.window[0] if snap is not None and snap.window else 0


def page_no(addr, base):
    return (addr - base) // PAGE_SIZE


def vma_range(v, base):
    return f"[{page_no(v.vm_start, base)},{page_no(v.vm_end, base)})"


def vma_text(v, base):
    flags = " ".join(v.vm_flags)
    name = f" {v.name}" if v.name else ""
    return f"{vma_range(v, base)} {v.perms} {v.offset:#x}{name} [{flags}]"


def side_by_side(model, live):
    """Two columns of VMAs per process: the model's and the kernel's ('!' marks a change)."""
    base = _base(model) or _base(live)
    lines = []
    names = [p.name for p in model.processes]
    names += [p.name for p in live.processes if p.name not in names]
    for name in names:
        mv = _vmas(model, name)
        lv = _vmas(live, name)
        keys = sorted(set(mv) | set(lv))
        left = [vma_text(mv[k], base) if k in mv else "" for k in keys]
        width = max([len(s) for s in left] + [24])
        lines.append(f"{name:<4} {'model':<{width}}   kernel")
        for k, m in zip(keys, left):
            l_ = vma_text(lv[k], base) if k in lv else ""
            mark = " " if m == l_ else "!"
            lines.append(f"   {mark} {m:<{width}}   {l_}")
    return "\n".join(lines)


def _vmas(snap, name):
    for p in snap.processes:
        if p.name == name:
            return {(v.vm_start, v.vm_end): v for v in p.vmas}
    return {}


def _yes(b, what):
    return what if b else f"not {what}"


def compare(model, live):
    """Compare two Snapshots (normally model vs live); return a Diff."""
    fields = VMA_FIELDS + PAGE_FIELDS
    skipped = {}
    for snap in (model, live):
        for f, why in snap.unknown.items():
            if f in fields:
                skipped.setdefault(f, why)
    d = Diff(model=model, live=live, not_compared=skipped)
    base = _base(model) or _base(live)
    add = d.differences.append
    lprocs = {p.name: p for p in live.processes}
    mprocs = {p.name: p for p in model.processes}
    for name in mprocs.keys() - lprocs.keys():
        add(Difference(name, "process", "process", True, False,
                       f"process {name} exists in the model, not in the kernel"))
    for name in lprocs.keys() - mprocs.keys():
        add(Difference(name, "process", "process", False, True,
                       f"process {name} exists in the kernel, not in the model"))
    pairs = []
    for mp in model.processes:
        lp = lprocs.get(mp.name)
        if lp is not None:
            _compare_vmas(mp, lp, base, skipped, add)
            pairs += _compare_pages(mp, lp, base, skipped, add)
    if "frame" not in skipped:
        _compare_frames(pairs, base, add)
    if model.counters and live.counters:
        for k in sorted(model.counters.keys() & live.counters.keys()):
            a, b = model.counters[k], live.counters[k]
            if a != b:
                add(Difference(None, "counters", k, a, b, f"THP counter {k}: {a} in the "
                               f"model, {b} in the kernel (change since the run began)"))
    return d


def _compare_vmas(mp, lp, base, skipped, add):
    mv = {(v.vm_start, v.vm_end): v for v in mp.vmas}
    lv = {(v.vm_start, v.vm_end): v for v in lp.vmas}
    name = mp.name
    for k in sorted(mv.keys() - lv.keys()):
        v = mv[k]
        there = [vma_text(w, base) for w in lp.vmas if w.vm_start < v.vm_end and
                 w.vm_end > v.vm_start]
        live_txt = ("the kernel has " + ", ".join(there) + " there") if there else \
            "the kernel has nothing there"
        add(Difference(name, f"VMA {vma_range(v, base)}", "vma", vma_text(v, base),
                       "; ".join(there) or None,
                       f"{name}: the model has VMA {vma_text(v, base)}, {live_txt}"))
    for k in sorted(lv.keys() - mv.keys()):
        v = lv[k]
        if any(w.vm_start < v.vm_end and w.vm_end > v.vm_start for kk, w in mv.items()
               if kk not in lv):
            continue                    # already told from the model's side
        add(Difference(name, f"VMA {vma_range(v, base)}", "vma", None, vma_text(v, base),
                       f"{name}: the kernel has VMA {vma_text(v, base)}, the model has "
                       "nothing there"))
    for k in sorted(mv.keys() & lv.keys()):
        m, l_ = mv[k], lv[k]
        where = f"VMA {vma_range(m, base)}"
        for f in VMA_FIELDS:
            if f in skipped:
                continue
            a, b = getattr(m, f), getattr(l_, f)
            if f == "vm_flags":
                extra, missing = sorted(set(a) - set(b)), sorted(set(b) - set(a))
                if extra or missing:
                    parts = []
                    if extra:
                        parts.append(f"only the model has {' '.join(extra)}")
                    if missing:
                        parts.append(f"only the kernel has {' '.join(missing)}")
                    add(Difference(name, where, f, a, b, f"{name} {where}: VmFlags differ: "
                                   + ", ".join(parts)))
            elif a != b and not (f == "anon_huge_pages" and None in (a, b)):
                shown = (f"{a:#x}", f"{b:#x}") if f == "offset" else (repr(a), repr(b))
                add(Difference(name, where, f, a, b, f"{name} {where}: {f} is {shown[0]} in "
                               f"the model, {shown[1]} in the kernel"))


def _compare_pages(mp, lp, base, skipped, add):
    """Compare per-page fields; return [(process, addr, model frame, live frame)]."""
    lpages = {g.addr: g for g in lp.pages}
    pairs = []
    name = mp.name
    for m in mp.pages:
        l_ = lpages.get(m.addr)
        if l_ is None:
            continue                    # a VMA difference, reported already
        where = f"page {page_no(m.addr, base)}"
        if "present" not in skipped and m.present is not None and l_.present is not None \
                and m.present != l_.present:
            add(Difference(name, where, "present", m.present, l_.present,
                           f"{name} {where}: {_yes(m.present, 'present')} in the model, "
                           f"{_yes(l_.present, 'present')} in the kernel"))
            continue
        if not (m.present and l_.present):
            continue
        for f, what in (("zero_page", "the zero page"), ("anon", "anonymous"),
                        ("exclusive", "mapped once (pagemap bit 56)")):
            a, b = getattr(m, f), getattr(l_, f)
            if f not in skipped and a is not None and b is not None and a != b:
                add(Difference(name, where, f, a, b, f"{name} {where}: {_yes(a, what)} in "
                               f"the model, {_yes(b, what)} in the kernel"))
        if "mapcount" not in skipped and None not in (m.mapcount, l_.mapcount) and \
                m.mapcount != l_.mapcount:
            add(Difference(name, where, "mapcount", m.mapcount, l_.mapcount,
                           f"{name} {where}: mapcount {m.mapcount} in the model, "
                           f"{l_.mapcount} in the kernel (/proc/kpagecount)"))
        for f, what in (("thp", "a THP page (kpageflags THP)"),
                        ("pmd", "PMD-mapped (PAGEMAP_SCAN PAGE_IS_HUGE)")):
            a, b = getattr(m, f), getattr(l_, f)
            if f not in skipped and a is not None and b is not None and a != b:
                add(Difference(name, where, f, a, b, f"{name} {where}: {_yes(a, what)} in "
                               f"the model, {_yes(b, what)} in the kernel"))
        for f, what in (("compound", "compound page"), ("order", "folio order")):
            a, b = getattr(m, f), getattr(l_, f)
            if f not in skipped and a is not None and b is not None and a != b:
                add(Difference(name, where, f, a, b, f"{name} {where}: {what} {a!r} in the "
                               f"model, {b!r} in the kernel"))
        if m.frame is not None and l_.frame is not None:
            pairs.append((name, m.addr, m.frame, l_.frame))
    return pairs


def _compare_frames(pairs, base, add):
    """Which pages share a frame must be the same pattern on both sides."""
    m2l, l2m, seen_m, seen_l = {}, {}, {}, {}
    for name, addr, mf, lf in pairs:
        where = f"page {page_no(addr, base)}"
        if mf == "zero" or lf == "zero":
            continue                    # told by the zero_page field
        here = f"{name} {where}"
        if mf in m2l and m2l[mf] != lf:
            add(Difference(name, where, "frame", mf, lf,
                           f"{here}: the model maps the same frame as {seen_m[mf]}, the "
                           "kernel a different one"))
        elif lf in l2m and l2m[lf] != mf:
            add(Difference(name, where, "frame", mf, lf,
                           f"{here}: the kernel maps the same frame as {seen_l[lf]}, the "
                           "model a different one"))
        m2l.setdefault(mf, lf)
        l2m.setdefault(lf, mf)
        seen_m.setdefault(mf, here)
        seen_l.setdefault(lf, here)


def _outcome_text(o):
    return "succeeded" if o is None else f"failed with {o}"


def compare_runs(model_res, live_res):
    """Compare two RunResults op by op; the Diff is of the first op where they differ.

    Outcomes (errno or success, whether an mmap hint was taken, where mremap put the
    range, the byte count of pread/pwrite) and the snapshot after every op are compared.
    If they never differ the Diff is of the final snapshots and is empty.
    """
    from rmapkit.scenarios.run import hint_taken
    if live_res.skipped:
        return Diff(model_res.snapshot, None, note=f"not compared: {live_res.skipped}")
    sc = model_res.scenario
    n = min(len(model_res.outcomes), len(live_res.outcomes))
    # Runs with steps=False keep one snapshot, of the last op: compare it there.
    stepwise = len(model_res.steps) == len(model_res.outcomes) and \
        len(live_res.steps) == len(live_res.outcomes)
    for i in range(n):
        op = sc.ops[i]
        d = compare(model_res.steps[i][1], live_res.steps[i][1]) \
            if stepwise and i < len(model_res.steps) and i < len(live_res.steps) \
            else Diff(None, None)
        mo, lo = model_res.outcomes[i], live_res.outcomes[i]
        if mo != lo:
            d.differences.insert(0, Difference(op.proc, f"op {i + 1}", "outcome", mo, lo,
                                               f"op {i + 1} `{op.text}`: {_outcome_text(mo)} "
                                               f"in the model, {_outcome_text(lo)} in the "
                                               "kernel"))
        elif mo is None and op.kind in ("mmap", "mremap", "pread", "pwrite"):
            mr, lr = model_res.rets[i], live_res.rets[i]
            if op.kind == "mmap":
                mr, lr = hint_taken(op, mr), hint_taken(op, lr)
            if mr != lr:
                d.differences.insert(0, Difference(op.proc, f"op {i + 1}", "ret", mr, lr,
                                                   f"op {i + 1} `{op.text}`: returned "
                                                   f"{mr!r} in the model, {lr!r} in the "
                                                   "kernel"))
        if d:
            d.step, d.op = i, op.text
            return d
    final = Diff(model_res.snapshot, live_res.snapshot)
    if model_res.snapshot is not None and live_res.snapshot is not None:
        final = compare(model_res.snapshot, live_res.snapshot)
    for who, res in (("the model", model_res), ("the kernel", live_res)):
        if res.error:
            final.differences.append(Difference(None, "run", "error", None, None,
                                                f"{who} stopped: {res.error}"))
    if len(model_res.outcomes) != len(live_res.outcomes) and not final.differences:
        final.differences.append(Difference(None, "run", "ops", len(model_res.outcomes),
                                            len(live_res.outcomes),
                                            f"the model ran {len(model_res.outcomes)} ops, "
                                            f"the kernel {len(live_res.outcomes)}"))
    return final
