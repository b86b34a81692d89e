"""Exercise kinds about fork(): ``cow`` and ``chain`` (chapter 5).

A written VMA, a few forks (a chain or a fan, ``procs`` processes at most), writes by any
process, maybe an exit.  ``cow``: which anon_vma does the folio at a page belong to
(folio->mapping)?  A copy-on-write copy goes into the writer's own anon_vma
(wp_page_copy() -> folio_add_new_anon_rmap()); a folio the writer may reuse is re-homed
there too (folio_move_anon_rmap()); a page nobody wrote since the fork stays where it was.
``chain``: how many avcs are on a process's VMA's anon_vma_chain (one per anon_vma it is
linked into: anon_vma_fork() clones the parent's chain and adds the child's own, unless an
idle ancestor is reused)?  Answers come from the model's snapshot.
"""

from __future__ import annotations

from rmapkit.exercises.core import (AnswerError, Builder, Case, page_of, parse_int,
                                    pick_target, register)
from rmapkit.scenarios.format import BASE
from rmapkit.uapi import PAGE_SIZE

__all__ = ["cow", "chain"]

FORK_OPS = ("fork", "write", "exit")


def _family(rng, b, ops, procs, allow):
    """Fork and write at random: P0 writes everything, then ``ops`` random ops."""
    a, n = 0, rng.randint(2, 4)
    b.try_op(f"P0: mmap {a} {n} rw private anon")
    b.try_op(f"P0: write {a} {n}")

    def one():
        live = [p.name for p in b.result.snapshot.processes]
        who = rng.choice(live)
        what = rng.choice([w for w in ("fork", "fork", "write", "write", "exit")
                           if w in allow])
        if what == "fork":
            total = len([ln for ln in b.lines if " fork " in ln]) + 1
            if total >= procs or f"P{total}" in live:
                return None
            return f"{who}: fork P{total}"
        if what == "write":
            return f"{who}: write {rng.randint(a, a + n - 1)}"
        if len(live) < 2 or who == live[-1]:
            return None
        return f"{who}: exit"

    b.grow(ops, one)
    return a, n


def _chains(snap):
    lines = []
    for p in snap.processes:
        for v in p.vmas:
            lines.append(f"  {p.name} {v.id}: anon_vma {v.anon_vma}, anon_vma_chain (newest "
                         f"first) {', '.join(v.anon_vma_chain)}")
    for av in snap.anon_vmas:
        lines.append(f"  {av.label}: root {av.root}, parent {av.parent}, num_children "
                     f"{av.num_children}, num_active_vmas {av.num_active_vmas}")
    return lines


def _ops_lines(res):
    return [f"{i}. {op}" for i, (op, _) in enumerate(res.steps, 1)]


@register("cow", "Which anon_vma does the folio at this page belong to?", chapter=5,
          ops=(3, 5), procs=4, allow=FORK_OPS)
def cow(rng, ops, procs, allow):
    want = pick_target(rng, [f"av{i}" for i in range(min(procs, 4))])
    for attempt in range(80):
        b = Builder(rng, 6)
        _family(rng, b, ops, procs, allow)
        snap = b.result.snapshot
        choices = [(p.name, pg) for p in snap.processes for pg in p.pages
                   if pg.present and pg.anon and pg.folio]
        fits = [c for c in choices if c[1].mapping == want]
        if fits or (choices and attempt >= 70):
            break
    proc, pv = rng.choice(fits or choices)
    page = page_of(pv.addr)
    sc, res = b.run()
    snap = res.snapshot
    pv = next(pg for pg in snap.process(proc).pages if pg.addr == BASE + page * PAGE_SIZE)
    answer = pv.mapping
    lines = ["The ops:"] + _ops_lines(res) + ["", "At the end:"] + _chains(snap)
    # who last wrote the page in this process, and what that did
    writes = [(i, op) for i, (op, _) in enumerate(res.steps, 1)
              if op.startswith(f"{proc}: write {page}")]
    born = next(i for i, (op, s) in enumerate(res.steps, 1)
                if any(pg.folio == pv.folio for p in s.processes for pg in p.pages))
    lines.append("")
    lines.append(f"The folio at page {page} of {proc} is {pv.folio}; it first appears after "
                 f"step {born} ({res.steps[born - 1][0]}).")
    if born == 2:
        lines.append("It is the folio P0's first write created: folio->mapping = P0's "
                     "anon_vma, and fork() does not change it (the children's avcs into it "
                     "are what let rmap find them).")
    else:
        lines.append("A write fault in a process created it: a copy-on-write copy (or a first "
                     "write) goes into the faulting VMA's own anon_vma "
                     "(folio_add_new_anon_rmap()).")
    if writes and writes[-1][0] > born:
        lines.append(f"Step {writes[-1][0]} wrote it again without a copy: the folio was "
                     "exclusive to that process, so do_wp_page() reused it; if it was not "
                     "PageAnonExclusive, folio_move_anon_rmap() moved it into the writer's "
                     "own anon_vma.")
    lines.append(f"folio->mapping = {answer}.")
    labels = [av.label for av in snap.anon_vmas]

    def read(raw):
        s = str(raw).strip().lower().replace("anon_vma", "").strip()
        if s.isdigit():
            s = "av" + s
        if s not in labels:
            raise AnswerError(f"{raw!r} is not an anon_vma of this question (they are "
                              f"{', '.join(labels)})")
        return s

    return Case(kind="", seed=0,
                prompt=(f"Which anon_vma is folio->mapping of the folio at page {page} of "
                        f"{proc} after the last op?  (Each process's first anon_vma is "
                        "labelled in creation order: av0, av1, ...)"),
                scenario_text=sc.text(), answer=answer, answer_text=answer, derivation=lines,
                read=read, how_to_answer=f"an anon_vma label: {', '.join(labels)}",
                hint=("Find the write that created the folio now at this page.  A "
                      "copy-on-write copy is born in the faulting VMA's own anon_vma "
                      "(vma->anon_vma, the child's after fork()); a page nobody wrote since "
                      "fork() is still the parent's folio in the parent's anon_vma; a folio "
                      "the writer could reuse moves into the writer's anon_vma."),
                figure=(snap, "graph", pv.folio))


@register("chain", "How long is this VMA's anon_vma_chain after these forks?", chapter=5,
          ops=(3, 6), procs=5, allow=FORK_OPS)
def chain(rng, ops, procs, allow):
    want = pick_target(rng, [1, 2, 3, 4])
    for attempt in range(80):
        b = Builder(rng, 6)
        _family(rng, b, ops, procs, allow)
        snap = b.result.snapshot
        choices = [(p.name, v) for p in snap.processes for v in p.vmas if v.anon_vma]
        fits = [c for c in choices if len(c[1].anon_vma_chain) == want]
        if fits or (choices and attempt >= 70):
            break
    proc, v = rng.choice(fits or choices)
    sc, res = b.run()
    snap = res.snapshot
    v = next(x for x in snap.process(proc).vmas if x.vm_start == v.vm_start)
    answer = len(v.anon_vma_chain)
    lines = ["The ops:"] + _ops_lines(res) + ["", "At the end:"] + _chains(snap)
    lines.append("")
    lines.append(f"{proc}'s VMA has {answer} avc{'s' if answer != 1 else ''}: one for its own "
                 f"anon_vma {v.anon_vma} and one for each anon_vma the parent's VMA was "
                 "linked into at fork time (anon_vma_clone()).  An ancestor anon_vma reused "
                 "by anon_vma_fork() (no VMA left, fewer than two children) adds no new "
                 "one, and writes never add or drop avcs.")
    return Case(kind="", seed=0,
                prompt=(f"How many anon_vma_chains (avcs) are on the anon_vma_chain list of "
                        f"{proc}'s VMA after the last op?"),
                scenario_text=sc.text(), answer=answer, answer_text=str(answer),
                derivation=lines, read=lambda raw: parse_int(raw, "a number of avcs"),
                how_to_answer="a number, e.g. 2",
                hint=("anon_vma_fork() gives the child one avc for every anon_vma on the "
                      "parent VMA's chain (anon_vma_clone()), plus one for its own new "
                      "anon_vma, unless it reuses an idle ancestor.  Trace the fork "
                      "generations that led to this process; writes change nothing here."),
                figure=(snap, "graph", proc))
