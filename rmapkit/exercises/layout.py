"""Exercise kinds about the VMA layout: ``vma-count``, ``vma-pgoff`` and ``merge``.

``vma-count``: after a random run of mmap/munmap/mprotect/write/mremap, how many VMAs does
P0 have?  Every op is run in the model before it is kept, and the answer is the model's
count after the last one.  ``vma-pgoff``: the same kind of run; what is vm_pgoff of the
VMA at a page (moved VMAs preferred)?

``merge``: a neighbour is set up (written or not, moved by mremap or not, forked or not),
then one mmap, mprotect or mremap lands next to it: does the range end up in a VMA that
is bigger than the range itself (it merged)?  The answer is what the model did; the
derivation lists the facts vma_merge_new_range()/vma_merge_existing_range() test
(adjacent, same flags, contiguous vm_pgoff, compatible anon_vma, fork child) for each
neighbour.
"""

from __future__ import annotations

from rmapkit.exercises.core import (BASE_PGOFF, Builder, Case, layout_lines, letters,
                                    page_of, parse_bool, parse_int, pgoff_case, pgoff_text,
                                    pick_target, register, step_story)

__all__ = ["vma_count", "vma_pgoff", "merge", "move_back"]

LAYOUT_OPS = ("mmap", "munmap", "mprotect", "write", "mremap")


def _mapped(b, proc="P0"):
    snap = b.result.snapshot
    if not any(p.name == proc for p in snap.processes):
        return []
    return [(page_of(v.vm_start), page_of(v.vm_end), v) for v in snap.process(proc).vmas]


def _random_op(rng, b, allow=LAYOUT_OPS):
    """One plausible op on P0's window; the Builder decides whether it is kept."""
    mapped = _mapped(b)
    free = b.free_runs()
    kind = rng.choice([k for k in ["mmap", "mmap", "munmap", "mprotect", "mprotect", "write",
                                   "mremap"] if k in allow])
    if kind == "mmap" and free:
        start, n = rng.choice(free)
        if n > 1 and rng.random() < 0.5:          # hug the left or right neighbour
            size = rng.randint(1, min(3, n))
            first = start if rng.random() < 0.5 else start + n - size
        else:
            size = rng.randint(1, min(3, n))
            first = rng.randint(start, start + n - size)
        prot = rng.choice(["rw", "rw", "r"])
        return f"P0: mmap {first} {size} {prot} private anon"
    if not mapped:
        return "P0: mmap 0 3 rw private anon"
    lo, hi, v = rng.choice(mapped)
    first = rng.randint(lo, hi - 1)
    n = rng.randint(1, max(1, min(3, hi - first)))
    if kind == "munmap":
        return f"P0: munmap {first} {n}"
    if kind == "mprotect":
        prot = "r" if v.perms.startswith("rw") else "rw"
        return f"P0: mprotect {first} {n} {prot}"
    if kind == "write":
        return f"P0: write {first} {n}"
    if free:
        start, m = rng.choice(free)
        n = min(n, m)
        dest = rng.randint(start, start + m - n)
        return f"P0: mremap {first} {n} {n} to {dest}"
    return f"P0: munmap {first} 1"


def _change_words(before, after, names, proc="P0"):
    """What one op did to ``proc``'s VMAs, by struct id (created, removed, resized...)."""
    def table(snap):
        if snap is None or not any(p.name == proc for p in snap.processes):
            return {}
        return {v.id: v for v in snap.process(proc).vmas}
    b, a = table(before), table(after)
    words = []
    for vid, v in a.items():
        rng = f"[{page_of(v.vm_start)}, {page_of(v.vm_end)})"
        if vid not in b:
            words.append(f"new struct {names[vid]} {rng}")
            continue
        w = b[vid]
        if (w.vm_start, w.vm_end) != (v.vm_start, v.vm_end):
            words.append(f"{names[vid]} now {rng} (was [{page_of(w.vm_start)}, "
                         f"{page_of(w.vm_end)}))")
        if w.perms != v.perms:
            words.append(f"{names[vid]} now {v.perms[:3]}")
        if w.anon_vma != v.anon_vma:
            words.append(f"{names[vid]} gets anon_vma {v.anon_vma}")
    words += [f"{names[vid]} removed" for vid in b if vid not in a]
    return "; ".join(words) or "no VMA changed"


def _random_layout(rng, ops=(3, 5), allow=LAYOUT_OPS):
    """A window with a random run of mmap/munmap/mprotect/write/mremap in P0, run."""
    window = rng.choice([8, 10, 12])
    b = Builder(rng, window)
    first = rng.randint(0, 2)
    b.try_op(f"P0: mmap {first} {rng.randint(3, 5)} rw private anon")
    if rng.random() < 0.6:
        b.try_op(f"P0: write {first} {rng.randint(1, 3)}")
    b.grow(ops, lambda: _random_op(rng, b, allow), tries=30)
    sc, res = b.run()
    return window, sc, res


def _layout_story(res, window):
    names = letters(res.steps)
    lines = ["Each op, and P0's VMAs after it (one letter per struct vm_area_struct; "
             "a letter that stays is the same struct):"]
    prev = None
    for i, (op, snap) in enumerate(res.steps, 1):
        lines.append(f"{i}. {op}: {_change_words(prev, snap, names)}")
        lines += layout_lines(snap, window, names)
        prev = snap
    return names, lines


@register("vma-count", "How many VMAs does P0 have after these ops?", chapter=7,
          ops=(3, 5), allow=LAYOUT_OPS)
def vma_count(rng, ops, allow):
    want = pick_target(rng, [1, 2, 3, 4])
    for _attempt in range(150):
        window, sc, res = _random_layout(rng, ops, allow)
        if len(res.snapshot.process("P0").vmas) == want:
            break
    final = res.snapshot.process("P0")
    count = len(final.vmas)
    names, lines = _layout_story(res, window)
    lines.append(f"After the last op P0 has {count} VMA{'s' if count != 1 else ''}"
                 + (": " + ", ".join(names[v.id] for v in final.vmas) if count else "")
                 + ".  Neighbours stay apart when their flags differ, their vm_pgoff "
                   "are not contiguous, or their anon_vmas differ.")
    return Case(kind="", seed=0,
                prompt="How many VMAs does P0 have in the window after the last op?",
                scenario_text=sc.text(), answer=count, answer_text=str(count),
                derivation=lines, read=lambda raw: parse_int(raw, "a number of VMAs"),
                how_to_answer="a number, e.g. 3",
                hint="Go op by op with the ruler in mind: munmap or mprotect of part of a VMA "
                     "splits it (__split_vma()), and neighbours become one VMA only when "
                     "their flags match, their vm_pgoff continues and their anon_vmas agree "
                     "(chapter 2).  Which ops split, and which merged?",
                figure=(res.snapshot, "address", "P0"))


@register("vma-pgoff", "What is vm_pgoff of the VMA at this page?", chapter=4, ops=(3, 4),
          allow=LAYOUT_OPS)
def vma_pgoff(rng, ops, allow):
    want = pick_target(rng, range(8))               # the answer p+k to aim for: spread them
    for _attempt in range(60):
        window, sc, res = _random_layout(rng, ops, allow)
        vmas = res.snapshot.process("P0").vmas
        if not vmas:
            continue
        # prefer a VMA whose pgoff is not its own address (moved by mremap)
        odd = [v for v in vmas if v.vm_pgoff != BASE_PGOFF + page_of(v.vm_start)]
        pool = [v for v in (odd or vmas) if v.vm_pgoff - BASE_PGOFF == want]
        if pool:
            break
    v = rng.choice(pool or odd or list(vmas))
    page = rng.randint(page_of(v.vm_start), page_of(v.vm_end) - 1)
    names, lines = _layout_story(res, window)
    lines.append(f"Page {page} is in {names[v.id]} = {v.id}, pages [{page_of(v.vm_start)}, "
                 f"{page_of(v.vm_end)}), vm_pgoff {pgoff_text(v.vm_pgoff)}.")
    if v.vm_pgoff != BASE_PGOFF + page_of(v.vm_start):
        lines.append("It is not vm_start >> PAGE_SHIFT: these pages were faulted and then "
                     "moved by mremap, which keeps vm_pgoff (copy_vma()) so that every "
                     "folio->index still matches linear_page_index().")
    else:
        lines.append("Here vm_pgoff = vm_start >> PAGE_SHIFT (p + the VMA's first "
                     "page), as for any anonymous VMA not moved after it was faulted.")
    moved = v.vm_pgoff != BASE_PGOFF + page_of(v.vm_start)
    hint = ("Find the op that put this VMA where it is.  A fresh anonymous VMA gets vm_pgoff = "
            "vm_start >> PAGE_SHIFT, a split keeps the line (the upper piece gets vm_pgoff + "
            "offset), and mremap keeps the range's own pgoff if it was written (copy_vma())"
            + (": was this memory written before it moved?" if moved else
               "; a VMA never moved after it was written sits where its address says."))
    return pgoff_case("vm_pgoff of the VMA that contains", page, v.vm_pgoff, lines, sc,
                      "vm_pgoff", hint=hint, res=res)


# -- merge -------------------------------------------------------------------------------
def _neighbour_facts(label, nb, pgoff, pages, flags, perms, anon, middle_chain, side):
    """The conditions vma_merge_*() tests against one neighbour, as sentences."""
    nb_flags = tuple(f for f in nb.vm_flags if f != "sd")
    facts = []
    ok = True
    same_flags = nb_flags == flags
    if same_flags:
        facts.append(f"same vm_flags ({perms})")
    elif nb.perms[:3] != perms:
        facts.append(f"vm_flags differ ({label} {nb.perms[:3]}, the range {perms})")
    else:
        odd = sorted(set(nb_flags) ^ set(flags))
        facts.append(f"vm_flags differ ({', '.join(odd)})")
    ok &= same_flags
    if side == "prev":
        contiguous = nb.vm_pgoff + nb.pages == pgoff
        facts.append(f"{label}.vm_pgoff + {nb.pages} = {pgoff_text(nb.vm_pgoff + nb.pages)}"
                     f" {'==' if contiguous else '!='} the range's vm_pgoff "
                     f"{pgoff_text(pgoff)}")
    else:
        contiguous = pgoff + pages == nb.vm_pgoff
        facts.append(f"the range's vm_pgoff + {pages} = {pgoff_text(pgoff + pages)} "
                     f"{'==' if contiguous else '!='} {label}.vm_pgoff "
                     f"{pgoff_text(nb.vm_pgoff)}")
    ok &= contiguous
    nb_child = nb.anon_vma is not None and len(nb.anon_vma_chain) != 1
    mid_child = anon is not None and len(middle_chain) != 1
    if nb.anon_vma is None and anon is None:
        facts.append("neither has an anon_vma")
    elif nb.anon_vma == anon:
        facts.append(f"both use anon_vma {anon}")
    elif nb.anon_vma is None:
        facts.append(f"{label} has no anon_vma, the range has {anon}"
                     + (" but is a fork child (several avcs): refused" if mid_child else
                        ": it can take it"))
        ok &= not mid_child
    elif anon is None:
        facts.append(f"the range has no anon_vma, {label} has {nb.anon_vma}"
                     + (" but is a fork child (several avcs): refused" if nb_child else
                        ": the range can take it"))
        ok &= not nb_child
    else:
        facts.append(f"different anon_vmas ({anon} vs {nb.anon_vma}): refused")
        ok = False
    return ok, facts


def _merge_setup(rng, b, variant):
    """Lay out a neighbour and return the final op (not yet applied) and its range."""
    w = b.window
    a = rng.randint(1, 2)
    n = rng.randint(2, 3)
    written = rng.random() < 0.6
    b.try_op(f"P0: mmap {a} {n} rw private anon")
    if written:
        b.try_op(f"P0: write {a} {rng.randint(1, n)}")
    proc = "P0"
    if rng.random() < 0.3 and written:
        b.try_op("P0: fork P1")
        proc = rng.choice(["P0", "P1"])
        if proc == "P1" and rng.random() < 0.5:
            b.try_op(f"P1: write {a} 1")
    lo, hi = a, a + n
    if variant == "mremap-away" and rng.random() < 0.7:
        dest = w - n - rng.randint(0, 1)
        if b.try_op(f"{proc}: mremap {a} {n} {n} to {dest}"):
            lo, hi = dest, dest + n               # moved: its vm_pgoff kept the old pages
    side = rng.choice(["after", "before"])
    m = rng.randint(1, 2)
    first = hi if side == "after" else lo - m
    if first < 0 or first + m > w:
        side, first = "after", hi
        m = min(m, w - hi)
    if variant == "mprotect":
        prot = rng.choice(["rw", "r"])
        b.try_op(f"{proc}: mmap {first} {m} {'r' if prot == 'rw' else 'rw'} private anon")
        if prot == "r" and rng.random() < 0.4:       # the piece is rw until the mprotect
            b.try_op(f"{proc}: write {first} 1")
        return f"{proc}: mprotect {first} {m} {prot}", proc, first, m
    if variant == "mremap-next":
        # move a fresh (faulted or not) page from far right next to the neighbour
        src = w - 1
        b.try_op(f"{proc}: mmap {src} 1 rw private anon")
        if rng.random() < 0.6:
            b.try_op(f"{proc}: write {src} 1")
        m = 1
        first = hi if side == "after" or lo == 0 else lo - 1
        return f"{proc}: mremap {src} 1 1 to {first}", proc, first, 1
    prot = rng.choice(["rw", "rw", "r"])
    return f"{proc}: mmap {first} {m} {prot} private anon", proc, first, m


MERGE_VARIANTS = ("mmap", "mprotect", "mremap-away", "mremap-next")


@register("merge", "Does the last op's range merge with a neighbour?", chapter=2,
          allow=MERGE_VARIANTS)
def merge(rng, allow):
    want = pick_target(rng, [True, False])          # balance yes and no answers
    for attempt in range(40):
        window = rng.choice([10, 12])
        b = Builder(rng, window)
        variant = rng.choice([v for v in ("mmap", "mmap", "mprotect", "mremap-away",
                                          "mremap-next") if v in allow])
        final, proc, first, m = _merge_setup(rng, b, variant)
        before = b.result.snapshot if b.result else None
        if before is None or not b.try_op(final):
            continue
        sc, res = b.run()
        after = res.snapshot.process(proc)
        v = next((v for v in after.vmas if page_of(v.vm_start) <= first < page_of(v.vm_end)),
                 None)
        if v is None:
            continue
        merged = page_of(v.vm_start) < first or page_of(v.vm_end) > first + m
        if merged == want or attempt >= 30:
            break
    return _merge_case(sc, res, before, final, proc, first, m, merged, window)


def _merge_case(sc, res, before, final, proc, first, m, merged, window):
    names = letters(res.steps)
    kind = final.split()[1]
    bp = before.process(proc)
    src_page = int(final.split()[2])
    src = next((v for v in bp.vmas
                if page_of(v.vm_start) <= src_page < page_of(v.vm_end)), None)
    if kind == "mmap":
        pgoff, anon, chain = BASE_PGOFF + first, None, ()
        flags = None                                  # a new VMA: flags from the mmap
        why = (f"a new private anonymous VMA gets vm_pgoff = addr >> PAGE_SHIFT = "
               f"{pgoff_text(pgoff)}")
    elif kind == "mremap" and src.anon_vma is None and src.file is None:
        pgoff, anon, chain = BASE_PGOFF + first, None, ()
        flags = tuple(f for f in src.vm_flags if f != "sd")
        why = (f"the range comes from {src.id} ({names.get(src.id, '?')}), which was never "
               "faulted: copy_vma() gives a moved unfaulted anonymous VMA vm_pgoff = new "
               f"addr >> PAGE_SHIFT = {pgoff_text(pgoff)}")
    else:
        pgoff = src.vm_pgoff + (src_page - page_of(src.vm_start))
        anon, chain = src.anon_vma, src.anon_vma_chain
        flags = tuple(f for f in src.vm_flags if f != "sd")
        why = (f"the range comes from {src.id} ({names.get(src.id, '?')}); its vm_pgoff is "
               f"linear_page_index() there = {pgoff_text(pgoff)}"
               + (" (mremap keeps it: copy_vma())" if kind == "mremap" else ""))
    after = res.snapshot.process(proc)
    new = next(v for v in after.vmas if page_of(v.vm_start) <= first < page_of(v.vm_end))
    new_flags = tuple(f for f in new.vm_flags if f != "sd")
    if kind == "mprotect":
        flags = new_flags                           # the flags after the change
    elif flags is None:
        flags = new_flags
    lines = ["The ops, and the layout after each:"]
    lines += step_story(res.steps, window, procs=[proc])
    lines.append("")
    lines.append(f"The last op puts pages [{first}, {first + m}) of {proc} in one range; "
                 f"{why}.")
    prev = next((v for v in bp.vmas if page_of(v.vm_end) == first), None)
    nxt = next((v for v in bp.vmas if page_of(v.vm_start) == first + m), None)
    if kind == "mprotect" and src is not None:
        # the pieces of the VMA itself outside the range are neighbours only after a split
        if prev is None and page_of(src.vm_start) < first:
            lines.append(f"pages [{page_of(src.vm_start)}, {first}) of {src.id} keep the old "
                         "protection: __split_vma() cuts them off")
        if nxt is None and page_of(src.vm_end) > first + m:
            lines.append(f"pages [{first + m}, {page_of(src.vm_end)}) of {src.id} keep the "
                         "old protection: __split_vma() cuts them off")
    verdicts = []
    for label, nb, side in (("prev", prev, "prev"), ("next", nxt, "next")):
        if nb is None or (src is not None and nb.id == src.id and kind == "mprotect"):
            lines.append(f"{label}: none (no VMA {'ends' if side == 'prev' else 'starts'} "
                         f"at page {first if side == 'prev' else first + m} before the op)")
            continue
        ok, facts = _neighbour_facts(label, nb, pgoff, m, flags, new.perms[:3], anon, chain,
                                     side)
        verdicts.append(ok)
        lines.append(f"{label} = {nb.id} pages [{page_of(nb.vm_start)}, "
                     f"{page_of(nb.vm_end)}): " + "; ".join(facts)
                     + (" -> mergeable" if ok else " -> not mergeable"))
    rng_after = f"[{page_of(new.vm_start)}, {page_of(new.vm_end)})"
    if merged:
        lines.append(f"The model merged: pages [{first}, {first + m}) are now part of "
                     f"{new.id} {rng_after}, bigger than the range.")
    else:
        lines.append(f"The model did not merge: the range is its own VMA {new.id} "
                     f"{rng_after}.")
    if verdicts and any(verdicts) != merged:
        lines.append("(The simple conditions above do not tell the whole story here: the "
                     "model's vma_merge_*() decides, e.g. prev and next must also have "
                     "compatible anon_vmas with each other.)")
    return Case(kind="", seed=0,
                prompt=(f"Does the last op ({final}) merge its range with a neighbouring "
                        f"VMA, i.e. do pages [{first}, {first + m}) of {proc} end up in a "
                        "VMA that is bigger than that range?"),
                scenario_text=sc.text(), answer=merged, answer_text="yes" if merged else "no",
                derivation=lines, read=lambda raw: parse_bool(raw, "yes or no"),
                how_to_answer="True/False (or 'yes'/'no')",
                hint=("Test each neighbour as vma_merge_new_range() does: the same vm_flags; "
                      "vm_pgoff that continues (prev.vm_pgoff + its pages == the range's "
                      "vm_pgoff, or the range's + its pages == next.vm_pgoff); and anon_vmas "
                      "that agree (the same one, or only one side has one and it is no fork "
                      "child).  First work out the range's vm_pgoff"
                      + (": did the moved memory have an anon_vma?" if kind == "mremap" else
                         ".")),
                figure=(res.snapshot, "address", proc))


# -- move-back ---------------------------------------------------------------------------
def _move_back_setup(rng, b):
    """A VMA, a piece of it moved away (written or not), maybe a change to what stayed;
    return the final op that moves the piece back (to where it was, or elsewhere)."""
    w = b.window
    a, n = rng.randint(0, 1), rng.randint(3, 5)
    b.try_op(f"P0: mmap {a} {n} rw private anon")
    written = rng.random() < 0.5
    if written:
        b.try_op(f"P0: write {a} {n}")
    m = rng.randint(1, 2)
    s = rng.randint(a + 1, a + n - m)
    dest = w - m - rng.randint(0, 1)
    if not b.try_op(f"P0: mremap {s} {m} {m} to {dest}"):
        return None
    twist = rng.random()
    if twist < 0.2:
        b.try_op(f"P0: mprotect {a} {s - a} r")          # the left piece's flags change
    elif twist < 0.35 and not written:
        b.try_op(f"P0: write {a} 1")                       # only what stayed gets written
    if rng.random() < 0.6:
        back = s                                           # back where it came from
    else:
        spots = [p for p in range(0, w - m) if p != s and all(
            q not in b.result.snapshot.process("P0").pages or True for q in ())]
        used = {page_of(v.vm_start) + i for v in b.result.snapshot.process("P0").vmas
                for i in range(v.pages)}
        spots = [p for p in range(0, dest - m + 1) if p != s
                 and not any(p + i in used for i in range(m))
                 and (p - 1 in used or p + m in used)]
        if not spots:
            return None
        back = rng.choice(spots)
    return f"P0: mremap {dest} {m} {m} to {back}", back, m


@register("move-back", "Does moving the pages back merge them again?", chapter=4)
def move_back(rng):
    want = pick_target(rng, [True, False])
    for attempt in range(60):
        b = Builder(rng, 12)
        got = _move_back_setup(rng, b)
        if got is None:
            continue
        final, first, m = got
        before = b.result.snapshot
        if not b.try_op(final):
            continue
        sc, res = b.run()
        v = next((v for v in res.snapshot.process("P0").vmas
                  if page_of(v.vm_start) <= first < page_of(v.vm_end)), None)
        if v is None:
            continue
        merged = page_of(v.vm_start) < first or page_of(v.vm_end) > first + m
        if merged == want or attempt >= 50:
            break
    case = _merge_case(sc, res, before, final, "P0", first, m, merged, 12)
    case.prompt = (f"The last op ({final}) moves the pages to [{first}, {first + m}).  Do "
                   "they merge with a neighbouring VMA there, i.e. end up in a VMA bigger "
                   "than the range?")
    case.hint = ("What vm_pgoff does the moved range carry?  copy_vma() keeps it if the "
                 "memory was written before the move (it has an anon_vma) and gives it "
                 "new_addr >> PAGE_SHIFT if not.  Then check the neighbours there: the same "
                 "flags, offsets that continue, anon_vmas that agree.")
    return case
