"""Exercise kinds about large folios: ``thp-order`` and ``thp-mapcount``.

``thp-order``: with some multi-size THP sizes enabled, a write fault in a MADV_HUGEPAGE
region: what order does its folio get?  The answer is the model's folio; the derivation
walks mm/memory.c: alloc_anon_folio() as the kernel does: from the highest enabled order
down, the first whose naturally aligned block lies inside the VMA and has no PTE yet.

``thp-mapcount``: a 64 KiB folio, fork, copy-on-write writes, unmaps: what is the folio's
``_large_mapcount`` at the end?  The answer is the model's; the derivation gives the
mapcount after every op and why it changed (each PTE mapping counts one).
"""

from __future__ import annotations

from rmapkit.exercises.core import Case, parse_int, register
from rmapkit.scenarios import parse, run_model
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SHIFT

__all__ = ["thp_order", "thp_mapcount"]

_SIZES = {2: "16kB", 3: "32kB", 4: "64kB", 5: "128kB"}


def _page(addr):
    return (addr - BASE) >> PAGE_SHIFT


@register("thp-order", "Which folio order does this write fault get?", chapter=8)
def thp_order(rng):
    """A random case whose answer is drawn first (so every order is asked about as often):
    up to 40 random layouts are tried until one gives that order."""
    orders = sorted(rng.sample(sorted(_SIZES), rng.randint(1, 3)))
    want = 0 if rng.random() < 0.2 else rng.choice(orders)
    case = None
    for _ in range(40):
        case = _thp_order_case(rng, orders, want)
        if case.answer == want:
            break
    return case


def _thp_order_case(rng, orders, want=0):
    """One random layout; with ``want`` > 0 the VMA holds an aligned block of that order
    (the target's), so that order is a likely answer."""
    window = 64
    start = rng.randint(0, 20)
    n = rng.randint(6, 40)
    if want:
        size = 1 << want
        blk = rng.randrange(0, window - size + 1, size)
        start = rng.randint(max(0, blk - 6), blk)
        n = rng.randint(blk + size - start, min(window - start, blk + size - start + 6))
    lines = [f"window {window}"] + [f"thp hugepages-{_SIZES[o]}/enabled=madvise"
                                    for o in orders]
    lines += [f"P0: mmap {start} {n} rw private anon fixed",
              f"P0: madvise {start} {n} hugepage"]
    base = list(lines)
    for _ in range(rng.randint(0, 2)):          # earlier faults leave PTEs behind
        lines.append(f"P0: {rng.choice(['read', 'write'])} {rng.randint(start, start + n - 1)}")
    before = run_model(parse("\n".join(lines) + "\n", name="exercise"), steps=False)
    snap = before.snapshot.process("P0")
    mapped = {_page(pg.addr) for pg in snap.pages if pg.present}
    free = [p for p in range(start, start + n) if p not in mapped]
    if not free:                                # the earlier faults filled the VMA
        lines, mapped = base, set()
        free = list(range(start, start + n))
    if want:
        inside = [p for p in free if blk <= p < blk + size]
        free = inside or free
    target = rng.choice(free)
    lines.append(f"P0: write {target}")
    text = "\n".join(lines) + "\n"
    sc = parse(text, name="exercise")
    res = run_model(sc, steps=False)
    pv = next(pg for pg in res.snapshot.process("P0").pages
              if _page(pg.addr) == target)
    answer = pv.order
    how = [f"The VMA is pages [{start}, {start + n}); MADV_HUGEPAGE set VM_HUGEPAGE, so the "
           "madvise sizes apply (thp_vma_allowable_orders()).",
           "The 2 MiB PMD order needs a whole aligned 512-page block inside the VMA: none "
           "here, so do_huge_pmd_anonymous_page() falls back to the PTE path.",
           "alloc_anon_folio() tries the enabled orders from the highest down:"]
    for o in sorted(orders, reverse=True):
        size = 1 << o
        lo = target - target % size           # window page 0 is 2 MiB aligned
        blk = range(lo, lo + size)
        if lo < start or lo + size > start + n:
            how.append(f"  order {o} ({_SIZES[o]}): block [{lo}, {lo + size}) sticks out of "
                       "the VMA")
            continue
        taken = sorted(p for p in blk if p in mapped)
        if taken:
            how.append(f"  order {o} ({_SIZES[o]}): block [{lo}, {lo + size}) already has a "
                       f"PTE at page {taken[0]} (pte_range_none() fails)")
            continue
        how.append(f"  order {o} ({_SIZES[o]}): block [{lo}, {lo + size}) is inside the VMA "
                   "and empty: this order")
        break
    else:
        how.append("  no order fits: an order-0 folio (one 4 KiB page)")
    how.append(f"The model agrees: the write at page {target} got an order-{answer} folio.")
    return Case(kind="", seed=0,
                prompt=(f"The last op writes page {target}, which nothing mapped before. What is "
                        "the order of the folio that write fault allocates (order 0: a "
                        "single page)?"),
                scenario_text=sc.text(), answer=answer, answer_text=str(answer),
                derivation=how, read=lambda raw: parse_int(raw, "an order"),
                how_to_answer="a number: an order",
                hint=("Go through the enabled sizes from the largest: does its naturally "
                      "aligned block around the page lie inside the VMA, and is every page "
                      "of that block still unmapped (alloc_anon_folio())?"))


@register("thp-mapcount", "What is the large folio's mapcount now?", chapter=8)
def thp_mapcount(rng):
    window = 48
    lines = [f"window {window}", "thp hugepages-64kB/enabled=madvise",
             "P0: mmap 0 16 rw private anon fixed", "P0: madvise 0 16 hugepage",
             f"P0: write {rng.randint(0, 15)}"]
    procs, nxt = ["P0"], 1
    for _ in range(rng.randint(3, 5)):
        kind = rng.choice(["fork", "write", "write", "munmap", "exit"])
        proc = rng.choice(procs)
        if kind == "fork" and len(procs) < 3:
            lines.append(f"{proc}: fork P{nxt}")
            procs.append(f"P{nxt}")
            nxt += 1
        elif kind == "exit" and proc != "P0":
            lines.append(f"{proc}: exit")
            procs.remove(proc)
        elif kind == "munmap":
            lines.append(f"{proc}: munmap {rng.randint(0, 15)} 1")
        else:
            lines.append(f"{proc}: write {rng.randint(0, 15)}")
    sc = parse("\n".join(lines) + "\n", name="exercise")
    res = run_model(sc, strict=False)
    first = res.steps[2][1]
    head = next(f for f in first.folios if f.order == 4)

    def count(snap):
        f = next((f for f in snap.folios if f.label == head.label), None)
        return 0 if f is None else f.mapcount

    how = [f"The write fault allocated {head.label}, order 4 (16 pages), mapped by 16 PTEs: "
           "_large_mapcount 16 (each PTE mapping counts one)."]
    prev = count(first)
    for (text, snap), outcome in zip(res.steps[3:], res.outcomes[3:]):
        now = count(snap)
        why = {"fork": "the child maps every page the parent maps (copy_present_ptes())",
               "write": "a write to a shared page copies it into a new order-0 folio "
                        "(wp_page_copy()), one mapping fewer; a write to an exclusive page "
                        "reuses it, no change",
               "munmap": "the unmapped page's PTE goes, if it mapped this folio",
               "exit": "every mapping of the exiting process goes"}[text.split()[1]]
        if outcome is not None and now == prev:
            # a failed op (a write to a page unmapped above) changes nothing: say that,
            # not what the op would have done
            why = "the op fails and nothing changes" + (
                f": page {text.split()[2]} is no longer mapped" if outcome == "SIGSEGV" else "")
        how.append(f"{text}: {prev} -> {now}" + ("" if outcome is None else f" ({outcome})")
                   + f" ({why})")
        prev = now
    answer = prev
    return Case(kind="", seed=0,
                prompt=(f"What is {head.label}'s _large_mapcount (all its PTE mappings, in "
                        "every process) after the last op?"),
                scenario_text=sc.text(), answer=answer, answer_text=str(answer),
                derivation=how, read=lambda raw: parse_int(raw, "a mapcount"),
                how_to_answer="a number",
                hint=("Every PTE mapping of every page counts one: fork adds the child's, "
                      "a CoW copy or an unmap removes one, an exit removes all of that "
                      "process's."))
