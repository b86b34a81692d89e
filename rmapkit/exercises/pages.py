"""Exercise kinds about folios: ``folio-index`` and ``rmap``.

``folio-index``: faulted anonymous memory is moved (mremap), cut (munmap), copied on
write (fork), mapped next to: what is ``folio->index`` of the folio at a page?  The answer
is read from the model's folio; the derivation follows that folio from the write fault
that created it (index = linear_page_index() of the VMA it was faulted in, see
folio_add_new_anon_rmap()) through every later op.

``rmap``: after fork, CoW writes, splits and unmaps, which processes does rmap_walk() find
for the folio at a page?  The answer is the model's rmap_walk(); the derivation lists the
avcs the interval-tree query at ``folio->index`` visits and the page-table check that keeps
or drops each one.
"""

from __future__ import annotations

from rmapkit.exercises.core import (BASE_PGOFF, AnswerError, Builder, Case, layout_lines,
                                    letters, page_of, parse_names, parse_range, pgoff_case,
                                    pgoff_text, pick_target, register)
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE

__all__ = ["folio_index", "rmap", "rmap_split"]


def _anon_pages(snap, proc):
    """[(page, PageView)] of present anon pages of ``proc`` in the window."""
    if not any(p.name == proc for p in snap.processes):
        return []
    return [(page_of(pg.addr), pg) for pg in snap.process(proc).pages
            if pg.present and pg.anon and pg.folio]


def _vma_at(snap, proc, page):
    for v in snap.process(proc).vmas:
        if page_of(v.vm_start) <= page < page_of(v.vm_end):
            return v
    return None


def _free_dest(rng, b, n, proc="P0"):
    runs = [(s, m) for s, m in b.free_runs(proc) if m >= n]
    if not runs:
        return None
    s, m = rng.choice(runs)
    return rng.randint(s, s + m - n)


# -- folio-index -------------------------------------------------------------------------
def _index_move(rng, b):
    snap = b.result.snapshot
    vmas = [(page_of(v.vm_start), page_of(v.vm_end)) for v in snap.process("P0").vmas]
    kind = rng.choice(["mremap", "mremap", "mremap-back", "mmap-write", "munmap", "fork",
                       "mmap-before"])
    if kind in ("mremap", "mremap-back") and vmas:
        lo, hi = rng.choice(vmas)
        first = rng.randint(lo, hi - 1)
        n = rng.randint(1, min(2, hi - first))
        dest = _free_dest(rng, b, n)
        if dest is None:
            return None
        return f"P0: mremap {first} {n} {n} to {dest}"
    if kind == "mmap-write":
        dest = _free_dest(rng, b, 1)
        if dest is None:
            return None
        b.try_op(f"P0: mmap {dest} 1 rw private anon")
        return f"P0: write {dest} 1"
    if kind == "mmap-before" and vmas:
        lo, _ = rng.choice(vmas)
        if lo == 0 or any(h == lo for _, h in vmas):
            return None
        return f"P0: mmap {lo - 1} 1 rw private anon"
    if kind == "munmap" and vmas:
        lo, hi = rng.choice(vmas)
        if hi - lo < 2:
            return None
        return f"P0: munmap {rng.randint(lo, hi - 1)} 1"
    if kind == "fork" and "P1" not in {p.name for p in snap.processes}:
        b.try_op("P0: fork P1")
        lo, hi = rng.choice(vmas)
        return f"P0: write {rng.randint(lo, hi - 1)} 1"
    return None


@register("folio-index", "What is folio->index of the folio at this page?", chapter=4,
          ops=(1, 3))
def folio_index(rng, ops):
    window = 12
    want = pick_target(rng, range(7))       # the index p+k to aim for: spread the answers
    for attempt in range(60):
        b = Builder(rng, window)
        a, n = rng.randint(0, 3), rng.randint(2, 4)
        b.try_op(f"P0: mmap {a} {n} rw private anon")
        b.try_op(f"P0: write {a} {n if rng.random() < 0.7 else rng.randint(1, n)}")
        b.grow(ops, lambda: _index_move(rng, b))
        pages = _anon_pages(b.result.snapshot, "P0")
        if not pages:
            continue
        moved = [(p, pg) for p, pg in pages if pg.index != BASE_PGOFF + p]
        aimed = [(p, pg) for p, pg in moved if pg.index - BASE_PGOFF == want]
        if aimed or (moved and attempt >= 50):
            break
    page, pv = rng.choice(aimed or moved or pages)
    sc, res = b.run()
    index = res.snapshot.process("P0").pages[
        [pg.addr for pg in res.snapshot.process("P0").pages].index(BASE + page * PAGE_SIZE)].index
    lines = _trace_folio(res, window, "P0", page)
    born = next((ln.split(".")[0] for ln in lines if "creates" in ln), "?")
    hint = (f"Follow the folio back to the write fault that created it (step {born}): "
            "folio_add_new_anon_rmap() set index = linear_page_index() of the VMA it was "
            "faulted in, there and then.  Which later op could change it?  (None: mremap "
            "moves the PTE and keeps the VMA's vm_pgoff instead.)")
    return pgoff_case("folio->index of the folio mapped at", page, index, lines, sc,
                      "folio->index", hint=hint, res=res)


def _trace_folio(res, window, proc, page):
    """How the folio now at ``proc``'s ``page`` got its index, step by step."""
    names = letters(res.steps)
    final = res.snapshot
    label = next(pg.folio for pg in final.process(proc).pages
                 if pg.addr == BASE + page * PAGE_SIZE)
    lines = [f"The folio at page {page} of {proc} is {label}.  Following it through the ops:"]
    where = None
    for i, (op, snap) in enumerate(res.steps, 1):
        at = [(p.name, page_of(pg.addr), pg) for p in snap.processes for pg in p.pages
              if pg.folio == label]
        now = tuple((n, pg_no) for n, pg_no, _ in at)
        if at and where is None:
            n, pg_no, pg = at[0]
            v = _vma_at(snap, n, pg_no)
            lines.append(f"{i}. {op}: the write fault at page {pg_no} creates {label} in "
                         f"{v.id} (pages [{page_of(v.vm_start)}, {page_of(v.vm_end)}), "
                         f"vm_pgoff {pgoff_text(v.vm_pgoff)}).")
            lines.append(f"   folio_add_new_anon_rmap(): index = linear_page_index(vma, addr)"
                         f" = {v.vm_pgoff:#x} + ({pg_no} - {page_of(v.vm_start)}) = "
                         f"{pg.index:#x}")
            lines += layout_lines(snap, window, names, procs=[n], indent="   ")
        elif at and now != where:
            n, pg_no, pg = at[0]
            v = _vma_at(snap, n, pg_no)
            lines.append(f"{i}. {op}: {label} is now at page {pg_no} of {n}, in {v.id} "
                         f"(pages [{page_of(v.vm_start)}, {page_of(v.vm_end)}), vm_pgoff "
                         f"{pgoff_text(v.vm_pgoff)}); its index stays {pg.index:#x}, and "
                         f"linear_page_index() there = {v.vm_pgoff:#x} + ({pg_no} - "
                         f"{page_of(v.vm_start)}) = "
                         f"{v.vm_pgoff + pg_no - page_of(v.vm_start):#x}, so rmap still "
                         "finds it" + (": moving a VMA keeps its vm_pgoff (copy_vma())"
                                       if "mremap" in op else ""))
            lines += layout_lines(snap, window, names, procs=[n], indent="   ")
        elif where is not None and at:
            v = _vma_at(snap, at[0][0], at[0][1])
            lines.append(f"{i}. {op}: {label} stays at page {at[0][1]}; its VMA is now "
                         f"{v.id} with vm_pgoff {pgoff_text(v.vm_pgoff)}")
        else:
            lines.append(f"{i}. {op}")
        where = now if at else where
    pg = next(pg for pg in final.process(proc).pages if pg.addr == BASE + page * PAGE_SIZE)
    rel = pg.index - BASE_PGOFF
    lines.append(f"So folio->index = {pg.index:#x} = p+{rel}"
                 + (f", not + {page}: the index was set by the write fault "
                    "(linear_page_index() of the VMA it was faulted in) and moving a page "
                    "never changes it" if rel != page else ""))
    return lines


# -- rmap ------------------------------------------------------------------------------------
RMAP_OPS = ("fork", "write", "munmap", "mprotect", "mremap")


def _rmap_op(rng, b, procs_max=3, allow=RMAP_OPS):
    snap = b.result.snapshot
    procs = [p.name for p in snap.processes]
    p = rng.choice(procs)
    vmas = [(page_of(v.vm_start), page_of(v.vm_end)) for v in snap.process(p).vmas]
    kind = rng.choice([k for k in ["fork", "fork", "write", "write", "munmap", "mprotect",
                                   "mremap"] if k in allow])
    if kind == "fork" and len(procs) < procs_max:
        return f"{p}: fork P{len(procs)}"
    if not vmas:
        return None
    lo, hi = rng.choice(vmas)
    pg = rng.randint(lo, hi - 1)
    if kind == "write":
        return f"{p}: write {pg} 1"
    if kind == "munmap" and hi - lo > 1:
        return f"{p}: munmap {pg} 1"
    if kind == "mprotect" and hi - lo > 1:
        return f"{p}: mprotect {pg} 1 r"
    if kind == "mremap":
        dest = _free_dest(rng, b, 1, p)
        if dest is not None:
            return f"{p}: mremap {pg} 1 1 to {dest}"
    return None


@register("rmap", "Which processes does rmap_walk() find for this folio?", chapter=5,
          ops=(1, 4), procs=3, allow=RMAP_OPS)
def rmap(rng, ops, procs, allow):
    window = 8
    size = pick_target(rng, [1, 1, 2, 3])   # how many processes the answer names
    for attempt in range(60):
        b = Builder(rng, window)
        a, n = rng.randint(0, 2), rng.randint(2, 4)
        b.try_op(f"P0: mmap {a} {n} rw private anon")
        b.try_op(f"P0: write {a} {n}")
        b.try_op("P0: fork P1")
        b.grow(ops, lambda: _rmap_op(rng, b, procs, allow))
        snap = b.result.snapshot
        choices = [(p.name, page) for p in snap.processes
                   for page, _ in _anon_pages(snap, p.name)]
        rng.shuffle(choices)
        sc, res = b.run()
        fits = [c for c in choices if len(_walk(res, window, *c)[0]) == min(size, procs)]
        if fits or (choices and attempt >= 50):
            choices = fits or choices
            break
    proc, page = choices[0]
    found, lines = _walk(res, window, proc, page)
    order = [p for p in sc.processes() if p in found]
    answer = tuple(order)

    def read(raw):
        names = parse_names(raw)
        known = set(sc.processes())
        bad = [x for x in names if x not in known]
        if bad:
            raise AnswerError(f"no process {bad[0]} in this question (processes: "
                              f"{', '.join(sc.processes())})")
        return names

    return Case(kind="", seed=0,
                prompt=(f"rmap_walk() runs for the folio mapped at page {page} of {proc} "
                        "after the last op.  Which processes does it find mapping that "
                        "folio?"),
                scenario_text=sc.text(), answer=answer,
                answer_text=", ".join(answer) if answer else "none",
                derivation=lines, read=read,
                how_to_answer="a list of process names, e.g. ['P0', 'P1'] or 'P0 P1'",
                same=lambda value: set(value) == set(answer),
                hint=("Start from the folio: folio->mapping is the anon_vma whose tree "
                      "rmap_walk_anon() searches, and every avc there whose key covers "
                      "folio->index is a candidate.  Then the page table decides: a process "
                      "whose PTE there maps a copy-on-write copy (or nothing) is skipped.  "
                      "Who wrote this page after the fork?"),
                figure=(res.snapshot, "graph", label_of(res, proc, page)))


def label_of(res, proc, page):
    """The label of the folio mapped at ``proc``'s ``page`` (None if none)."""
    return next((pg.folio for pg in res.snapshot.process(proc).pages
                 if pg.addr == BASE + page * PAGE_SIZE), None)


def _walk(res, window, proc, page):
    """rmap_walk() in the model for the folio at ``proc``'s ``page``, explained."""
    from rmapkit import page_vma_mapped, rmap_candidates    # the walk, and its PTE check
    names = {p: n for n, p in res.procs.items()}       # model Process -> scenario name
    folio = res.procs[proc].folio_at(BASE + page * PAGE_SIZE)
    snap = res.snapshot
    label = next(pg.folio for pg in snap.process(proc).pages if pg.addr == BASE + page * PAGE_SIZE)
    av = folio.mapping
    lines = ["The ops, and every process's VMAs at the end:"]
    lines += [f"{i}. {op}" for i, (op, _) in enumerate(res.steps, 1)]
    lines += layout_lines(snap, window, letters(res.steps))
    lines.append("")
    lines.append(f"The folio at page {page} of {proc} is {label}: folio->mapping = "
                 f"{av.label}, folio->index = {pgoff_text(folio.index)}.")
    avcs = next(a for a in snap.anon_vmas if a.label == av.label).avcs
    lines.append(f"rmap_walk_anon() queries {av.label}'s interval tree for "
                 f"[{folio.index:#x}, {folio.index:#x}]; its avcs:")
    for c in avcs:
        hit = c.start_pgoff <= folio.index <= c.last_pgoff
        lines.append(f"  {c.process} {c.vma} [{c.start_pgoff:#x}, {c.last_pgoff:#x}]"
                     + ("  <- visited" if hit else "  (does not cover the index)"))
    found = []
    for vma, addr in rmap_candidates(folio):
        owner = names.get(vma.vm_mm.owner, vma.vm_mm.owner.name)
        if page_vma_mapped(vma, addr, folio):
            found.append(owner)
            lines.append(f"  {owner} {vma.id}: vma_address() = page {page_of(addr)}; its "
                         f"PTE maps {label}: found")
        elif vma.vm_mm.owner.folio_at(addr) is None:
            lines.append(f"  {owner} {vma.id}: vma_address() = page {page_of(addr)}; no "
                         "PTE there: skipped")
        else:
            lines.append(f"  {owner} {vma.id}: vma_address() = page {page_of(addr)}; its "
                         "PTE maps another folio (a copy-on-write copy): skipped")
    lines.append("rmap_walk() finds: " + (", ".join(found) if found else "no process"))
    return found, lines


# -- rmap-split ------------------------------------------------------------------------------
SPLIT_OPS = ("munmap", "mprotect", "mmap")


def _split_op(rng, b, allow):
    vmas = [(page_of(v.vm_start), page_of(v.vm_end), v)
            for v in b.result.snapshot.process("P0").vmas]
    lo, hi, v = rng.choice(vmas)
    kind = rng.choice(allow)
    if kind == "munmap" and hi - lo > 1:
        return f"P0: munmap {rng.randint(lo, hi - 1)} 1"
    if kind == "mprotect":
        first = rng.randint(lo, hi - 1)
        n = rng.randint(1, hi - first)
        return f"P0: mprotect {first} {n} {'r' if v.perms.startswith('rw') else 'rw'}"
    if kind == "mmap":
        dest = _free_dest(rng, b, 1)
        return None if dest is None else f"P0: mmap {dest} 1 rw private anon"
    return None


@register("rmap-split", "After splits, which VMA does rmap find this page in?", chapter=3,
          ops=(2, 3), allow=SPLIT_OPS)
def rmap_split(rng, ops, allow):
    window = 10
    for attempt in range(60):
        b = Builder(rng, window)
        a, n = rng.randint(0, 2), rng.randint(4, 6)
        b.try_op(f"P0: mmap {a} {n} rw private anon")
        b.try_op(f"P0: write {a} {n}")
        b.grow(ops, lambda: _split_op(rng, b, allow))
        vmas = b.result.snapshot.process("P0").vmas
        pages = _anon_pages(b.result.snapshot, "P0")
        # ask where the answer is not the whole first mapping: a split happened
        if len([v for v in vmas if v.anon_vma]) >= 2 and pages:
            break
    page, pv = rng.choice(pages)
    sc, res = b.run()
    snap = res.snapshot
    v = _vma_at(snap, "P0", page)
    answer = (page_of(v.vm_start), page_of(v.vm_end))
    names = letters(res.steps)
    av = next(a for a in snap.anon_vmas if a.label == pv.mapping)
    lines = ["The ops, and P0's VMAs after each:"]
    for i, (op, s) in enumerate(res.steps, 1):
        lines.append(f"{i}. {op}")
        lines += layout_lines(s, window, names)
    lines.append("")
    lines.append(f"The folio at page {page} is {pv.folio}: mapping {av.label}, index "
                 f"{pgoff_text(pv.index)} (set by the write fault and never changed).")
    lines.append(f"rmap_walk_anon() asks {av.label}'s interval tree for the avcs whose key "
                 f"[vm_pgoff, vm_pgoff + pages - 1] contains {pgoff_text(pv.index)}:")
    for c in av.avcs:
        hit = c.start_pgoff <= pv.index <= c.last_pgoff
        lines.append(f"  avc of {c.vma} keyed [{pgoff_text(c.start_pgoff)}, "
                     f"{pgoff_text(c.last_pgoff)}]" + ("  <- visited" if hit else ""))
    lines.append(f"Each split gave the upper piece vm_pgoff + offset (__split_vma()), so every "
                 f"key still matches its pages: only {v.id}'s avc covers the index, and "
                 f"vma_address() = page {page} inside it.  Answer: pages "
                 f"[{answer[0]}, {answer[1]}).")
    return Case(kind="", seed=0,
                prompt=(f"rmap_walk_anon() runs for the folio at page {page} of P0 after the "
                        "last op.  Which VMA does the interval-tree query visit (the only "
                        "avc whose key covers folio->index)?  Give that VMA's pages "
                        "[first, end)."),
                scenario_text=sc.text(), answer=answer,
                answer_text=f"[{answer[0]}, {answer[1]})", derivation=lines,
                read=lambda raw: parse_range(raw, "the VMA's pages [first, end)"),
                how_to_answer="the VMA's pages as [first, end), e.g. '[2, 5)'",
                hint=("Each avc is keyed by its VMA's pgoff range, and __split_vma() gives "
                      "the upper piece vm_pgoff + offset, so a key always names the pages its "
                      "VMA covers.  Redraw the ruler after every munmap/mprotect (mprotect "
                      "back may merge pieces again): which VMA holds the page at the end?"),
                figure=(snap, "tree", pv.folio))
